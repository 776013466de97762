"""Security probes over HTTP: the kernel secret, cross-site requests, CORS mode, malformed input.
No request may produce a 500 or reach outside its folder."""

from __future__ import annotations

import json

import pytest
import websocket

JSON = "application/json; charset=utf-8"
SECRET = "0123456789abcdef-secret"


def test_secret_guards_every_route_and_the_websocket(make_server):
    srv = make_server(secret=SECRET)
    for path in ("/features", "/api/prompt", "/internal/logs", "/no/such/path", "/userdata/x.json"):
        resp = srv.get(path)
        assert resp.status == 403 and resp.content_type == JSON, path
        assert srv.get(path, headers={"X-Toucan-Secret": "wrong"}).status == 403
    assert srv.post("/prompt", {"prompt": {}}).status == 403
    assert srv.request("OPTIONS", "/prompt").status == 403
    assert srv.get("/features", headers={"X-Toucan-Secret": SECRET}).status == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        srv.ws()
    assert err.value.status_code == 403
    ws = srv.ws(headers=[f"X-Toucan-Secret: {SECRET}"])
    assert json.loads(ws.recv())["type"] == "status"
    ws.close()


def test_cross_site_requests_to_a_loopback_host_are_refused(server, runtime):
    evil = {"Host": f"127.0.0.1:{server.port}", "Origin": "http://evil.example"}
    resp = server.post("/prompt", {"prompt": {}}, headers=evil)
    assert resp.status == 403 and runtime.calls == []
    assert server.post("/settings/x", 1, headers={**evil, "Content-Type": "text/plain"}).status == 403
    assert server.request("OPTIONS", "/prompt", headers=evil).status == 403
    # §3.3 example: 127.0.0.1 vs localhost differ too
    assert server.get("/features", headers={"Host": "127.0.0.1:8188", "Origin": "http://localhost:8188"}).status == 403
    same = {"Host": f"127.0.0.1:{server.port}", "Origin": f"http://127.0.0.1:{server.port}"}
    assert server.get("/features", headers=same).status == 200
    with pytest.raises(websocket.WebSocketBadStatusException):
        server.ws(origin="http://evil.example")
    ws = server.ws(origin=f"http://127.0.0.1:{server.port}")
    ws.close()


def test_origin_mode_options_has_no_cors_headers(server):
    resp = server.request("OPTIONS", "/prompt")
    assert resp.status == 200 and resp.body == b"" and "Access-Control-Allow-Origin" not in resp.headers


def test_cors_mode(make_server):
    srv = make_server(cors_origin="http://localhost:3000")
    evil = {"Host": f"127.0.0.1:{srv.port}", "Origin": "http://elsewhere.example"}
    for resp in (srv.request("OPTIONS", "/anything/at/all", headers=evil), srv.get("/features", headers=evil),
                 srv.get("/no/such/path"), srv.post("/prompt", raw="{bad")):
        assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert resp.headers["Access-Control-Allow-Methods"] == "POST, GET, DELETE, PUT, OPTIONS, PATCH"
        assert resp.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert srv.request("OPTIONS", "/anything/at/all").status == 200
    assert srv.get("/features", headers=evil).status == 200  # no origin check in CORS mode
    ws = srv.ws(origin="http://elsewhere.example")
    ws.close()
    assert make_server(cors_origin="*").get("/features").headers["Access-Control-Allow-Origin"] == "*"


PROBES = [
    ("GET", "/view?filename=%00", None), ("GET", "/view?filename=..%5c..%5cx", None),
    ("GET", "/userdata/%00", None), ("GET", "/userdata/%ff%fe", None), ("GET", "/models/%00", None),
    ("GET", "/object_info/%00", None), ("GET", "/history?offset=1e3", None), ("GET", "/api/jobs?limit=-1", None),
    ("GET", "/internal/files/..%2F..", None),
    ("GET", "/experiment/models/preview/loras/0/%00", None), ("GET", "/extensions/%2e%2e/%2e%2e/x.js", None),
    ("POST", "/prompt", b"\xff\xfe\x00"), ("POST", "/prompt", b'{"prompt": {"1": 5}}'),
    ("POST", "/prompt", b'{"prompt": {"1": {"class_type": 5, "inputs": []}}}'),
    ("POST", "/queue", b"[]"), ("POST", "/history", b"null"), ("POST", "/free", b'"x"'),
    ("POST", "/settings", b"[1]"), ("POST", "/settings/x", b"{nope"), ("POST", "/users", b"{}"),
    ("POST", "/users", b'{"username": 5}'), ("POST", "/upload/image", b"garbage"),
    ("POST", "/upload/mask", b"garbage"), ("PATCH", "/internal/logs/subscribe", b"[]"),
    ("POST", "/userdata/%2e%2e", b"x"), ("POST", "/userdata/a/move/%00", None),
    ("DELETE", "/userdata/..%2F..%2Fuser", None), ("GET", "/view?filename=a&type=input&subfolder=%00", None),
    ("POST", "/history/x", b"{}"), ("POST", "/api/history/%2e%2e", b"{}"),
]


@pytest.mark.parametrize(("method", "path", "body"), PROBES)
def test_probe_never_crashes(server, method, path, body):
    resp = server.request(method, path, body=body)
    assert 400 <= resp.status < 500, (method, path, resp.status, resp.body)
    assert resp.content_type in (JSON, "text/plain; charset=utf-8"), (method, path)
    assert server.get("/features").status == 200


@pytest.mark.parametrize("path", ["/upload/image", "/upload/mask"])
def test_malformed_multipart_upload_is_a_400(server, path):
    resp = server.request("POST", path, body=b'--b\r\nContent-Disposition: form-data; name="image"',
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status == 400 and resp.content_type == JSON
    assert "multipart" in resp.json()["error"]
