"""frontend.py: the bundle under a base path, redirects, no-cache index, gzip, templates, docs
(docs/frontend.md §1-§2)."""

from __future__ import annotations

import gzip
import os
import sys

import pytest

from toucan_nb.api import frontend

from .support import write


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "static"
    write(str(root / "index.html"), "<html><script src='./assets/app.js'></script></html>")
    write(str(root / "assets" / "app.js"), "console.log('x');\n" * 200)
    write(str(root / "assets" / "logo.png"), b"\x89PNG fake")
    write(str(root / "extensions" / "core" / "widget.js"), "export {}")
    write(str(tmp_path / "secret.txt"), "secret")
    return str(root)


def test_installed_package_is_found():
    root = frontend.default_frontend_root()
    assert root is not None and os.path.isfile(os.path.join(root, "index.html"))


def test_index_redirect_and_static(make_server, site):
    srv = make_server(frontend_root=site, base_path="/toucan")
    redirect = srv.get("/toucan?token=abc")
    assert redirect.status == 302 and redirect.headers["Location"] == "/toucan/?token=abc"
    index = srv.get("/toucan/")
    assert index.status == 200 and b"<script" in index.body and index.content_type.startswith("text/html")
    assert (index.headers["Cache-Control"], index.headers["Pragma"], index.headers["Expires"]) == \
        ("no-cache", "no-cache", "0")
    assert srv.get("/toucan/api/").body == index.body
    js = srv.get("/toucan/assets/app.js")
    assert js.status == 200 and js.content_type == "application/javascript"
    assert js.headers["Cache-Control"] == "no-cache"
    assert srv.get("/toucan/assets/logo.png").headers["Cache-Control"] == "public, max-age=86400"
    assert srv.get("/toucan/assets/missing.png").headers["Cache-Control"] == "public, max-age=3600"
    assert srv.get("/toucan/extensions/core/widget.js").body == b"export {}"
    assert srv.get("/toucan/features").status == 200  # the API still wins over static files


def test_gzip_and_etag(make_server, site):
    srv = make_server(frontend_root=site)
    plain = srv.get("/assets/app.js")
    zipped = srv.get("/assets/app.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.body) == plain.body
    assert len(zipped.body) < len(plain.body) and zipped.headers["Vary"] == "Accept-Encoding"
    assert srv.get("/assets/logo.png", headers={"Accept-Encoding": "gzip"}).headers.get("Content-Encoding") is None
    again = srv.get("/assets/app.js", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status == 304 and again.body == b""


@pytest.mark.parametrize("path", ["/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/%2e%2e/secret.txt",
                                  "/assets/%00.js", "/nope.js", "/docs/x.md", "/templates/no-such-template.json"])
def test_static_misses_are_404_json(make_server, site, path):
    resp = make_server(frontend_root=site).get(path)
    assert resp.status in (400, 404) and resp.content_type == "application/json; charset=utf-8"
    assert b"secret" not in resp.body


def test_guard_applies_to_the_frontend(make_server, site):
    srv = make_server(frontend_root=site, secret="0123456789abcdef-x")
    assert srv.get("/").status == 403
    assert srv.get("/", headers={"X-Toucan-Secret": "0123456789abcdef-x"}).status == 200


def test_templates_and_docs_from_packages(make_server, site, tmp_path, monkeypatch):
    pkgs = tmp_path / "pkgs"
    write(str(pkgs / "comfyui_embedded_docs" / "__init__.py"), "")
    write(str(pkgs / "comfyui_embedded_docs" / "docs" / "KSampler" / "en.md"), "# KSampler")
    write(str(pkgs / "fake_templates_json" / "templates" / "index.json"), '[{"x": 1}]')
    write(str(pkgs / "fake_templates_json" / "__init__.py"), "")
    write(str(pkgs / "comfyui_workflow_templates_core" / "__init__.py"), "")
    write(str(pkgs / "comfyui_workflow_templates_core" / "loader.py"), '''
import os
from dataclasses import dataclass

import fake_templates_json

ROOT = os.path.join(os.path.dirname(fake_templates_json.__file__), "templates")


@dataclass
class Asset:
    filename: str


@dataclass
class Entry:
    template_id: str
    assets: list


def iter_templates():
    return [Entry("t1", [Asset("index.json"), Asset("thumb.webp")])]


def get_asset_path(template_id, filename):
    path = os.path.join(ROOT, filename)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path
''')
    monkeypatch.syspath_prepend(str(pkgs))
    for name in ("comfyui_embedded_docs", "comfyui_workflow_templates_core", "fake_templates_json"):
        sys.modules.pop(name, None)
    sys.modules.pop("comfyui_workflow_templates_core.loader", None)
    srv = make_server(frontend_root=site)
    index = srv.get("/templates/index.json")
    assert index.status == 200 and index.json() == [{"x": 1}] and index.content_type == "application/json"
    assert index.headers["Cache-Control"] == "no-cache"  # index*.json rule of §3.1
    assert srv.get("/templates/thumb.webp").status == 404  # its media package is missing
    assert srv.get("/docs/KSampler/en.md").body == b"# KSampler"
    for name in ("comfyui_embedded_docs", "comfyui_workflow_templates_core", "fake_templates_json",
                 "comfyui_workflow_templates_core.loader"):
        sys.modules.pop(name, None)


def test_custom_version_root(tmp_path):
    base = tmp_path
    os.makedirs(base / "web_custom_versions" / "Comfy-Org_ComfyUI_frontend" / "1.2.3")
    os.makedirs(base / "web_custom_versions" / "Comfy-Org_ComfyUI_frontend" / "1.10.0")
    assert frontend.custom_version_root(str(base), "Comfy-Org/ComfyUI_frontend@1.2.3").endswith("1.2.3")
    assert frontend.custom_version_root(str(base), "Comfy-Org/ComfyUI_frontend@v1.2.3").endswith("1.2.3")
    assert frontend.custom_version_root(str(base), "Comfy-Org/ComfyUI_frontend@latest").endswith("1.10.0")
    with pytest.raises(frontend.FrontendNotFoundError, match="cannot download"):
        frontend.custom_version_root(str(base), "Comfy-Org/ComfyUI_frontend@9.9.9")
    with pytest.raises(frontend.FrontendNotFoundError, match="owner/repo@"):
        frontend.custom_version_root(str(base), "not a version")
