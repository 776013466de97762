"""Guards and headers of docs/protocol.md §3: secret, origin check, CORS, Cache-Control."""

from __future__ import annotations

import pytest

from toucan_nb.api.middleware import cache_control_for, is_loopback, origin_allowed, secret_ok


@pytest.mark.parametrize(("host", "origin", "allowed"), [
    ("127.0.0.1:8188", "http://localhost:8188", False),   # §3.3 example
    ("127.0.0.1:8188", "http://127.0.0.1:8188", True),
    ("localhost:8188", "http://localhost:8188", True),
    ("localhost:8188", "http://evil.example", False),
    ("localhost:8188", "http://localhost", True),          # origin without port: compare hostnames
    ("localhost", "http://localhost:3000", True),          # host without port: compare hostnames
    ("127.0.0.1:8188", "http://127.0.0.1:3000", False),
    ("[::1]:8188", "http://[::1]:8188", True),
    ("[::1]:8188", "http://localhost:8188", False),
    ("192.168.1.5:8188", "http://evil.example", True),     # not loopback: not enforced
    ("127.0.0.1:8188", "null", True),                      # empty netloc
    (None, "http://evil.example", True),
    ("127.0.0.1:8188", None, True),
    ("127.0.0.1:8188", "http://localhost:notaport", False),
])
def test_origin_rule(host, origin, allowed):
    assert origin_allowed(host, origin) is allowed


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.168.1.5") and not is_loopback(None) and not is_loopback("")
    assert not is_loopback("name-that-does-not-resolve.invalid")


def test_secret_compare():
    assert secret_ok(None, None) and secret_ok("anything", None)
    assert secret_ok("s3cret-value-1234", "s3cret-value-1234")
    assert not secret_ok(None, "s3cret") and not secret_ok("wrong", "s3cret") and not secret_ok("", "s3cret")


@pytest.mark.parametrize(("path", "status", "value"), [
    ("/scripts/app.js", 200, "no-cache"),
    ("/assets/index-abc.css", 404, "no-cache"),
    ("/templates/index.zh.json", 200, "no-cache"),
    ("/api/index.json", 200, "no-cache"),
    ("/templates/other.json", 200, None),
    ("/x/thumb.WEBP", 200, "public, max-age=86400"),
    ("/x/a.png", 404, "public, max-age=3600"),
    ("/x/a.jpg", 302, "no-cache"),
    ("/x/a.jpg", 304, None),
    ("/view", 200, None),
    ("/index.html", 200, None),
])
def test_cache_control_rules(path, status, value):
    assert cache_control_for(path, status) == value
