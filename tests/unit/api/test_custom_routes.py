"""Routes custom nodes declare on PromptServer.instance.routes, mounted with /api twins
(docs/protocol.md §2), and on-prompt handlers run on POST /prompt."""

from __future__ import annotations

import json

import pytest

from toucan_nb.api.custom_routes import compile_path
from toucan_nb.compat import state
from toucan_nb.compat.state import CustomRoute

from .support import write


@pytest.fixture
def routes(monkeypatch):
    table: list[CustomRoute] = []
    monkeypatch.setattr(state, "_routes", table)
    return table


def test_path_syntax():
    assert compile_path("/a/{name}", False).match("/a/x").groupdict() == {"name": "x"}
    assert compile_path("/a/{name}", False).match("/a/x/y") is None
    assert compile_path("/f/{path:.*}", False).match("/f/x/y").groupdict() == {"path": "x/y"}
    assert compile_path("/n/{id:\\d{2}}", False).match("/n/42") and not compile_path("/n/{id:\\d{2}}", False).match("/n/4")
    assert compile_path("/pack/", True).match("/pack/js/x.js").group("filename") == "js/x.js"


def test_static_routes_and_late_registration(server, routes, tmp_path):
    write(str(tmp_path / "www" / "a.js"), "export {}")
    assert server.get("/mypack/a.js").status == 404
    routes.append(CustomRoute("STATIC", "/mypack", str(tmp_path / "www")))  # after the app was built
    assert server.get("/mypack/a.js").body == b"export {}"
    assert server.get("/api/mypack/a.js").body == b"export {}"
    assert server.get("/mypack/..%2F..%2Fx").status == 404
    assert server.post("/mypack/a.js", raw=b"").status == 404
    assert server.get("/features").status == 200  # core routes first


def test_aiohttp_handlers(server, routes, tmp_path):
    web = pytest.importorskip("aiohttp.web")

    async def hello(request):
        return web.json_response({"name": request.match_info["name"], "q": request.rel_url.query.get("q")})

    async def echo(request):
        data = await request.json()
        return web.Response(text=json.dumps({"got": data}), content_type="application/json", status=201)

    async def missing(request):
        raise web.HTTPNotFound(text="nope")

    async def file(request):
        return web.FileResponse(str(write(str(tmp_path / "f.txt"), "file body")))

    routes += [CustomRoute("GET", "/ext/hello/{name}", hello), CustomRoute("POST", "/ext/echo", echo),
               CustomRoute("GET", "/ext/missing", missing), CustomRoute("GET", "/ext/file", file)]
    assert server.get("/ext/hello/bob?q=1").json() == {"name": "bob", "q": "1"}
    assert server.get("/api/ext/hello/bob").json() == {"name": "bob", "q": None}
    resp = server.post("/ext/echo", {"a": [1]})
    assert resp.status == 201 and resp.json() == {"got": {"a": [1]}}
    assert resp.content_type.startswith("application/json")
    missing_resp = server.get("/ext/missing")
    assert (missing_resp.status, missing_resp.body) == (404, b"nope")
    assert server.get("/ext/file").body == b"file body"
    assert server.get("/ext/echo").status == 404  # method not declared


def test_custom_routes_stay_behind_the_guard(make_server, routes, tmp_path):
    write(str(tmp_path / "www" / "a.js"), "x")
    routes.append(CustomRoute("STATIC", "/mypack", str(tmp_path / "www")))
    srv = make_server(secret="0123456789abcdef-z")
    assert srv.get("/mypack/a.js").status == 403


def test_on_prompt_handlers_see_the_body_first(server, runtime, monkeypatch):
    def hook(body):
        body["extra_data"] = {"hooked": True}
        return body

    monkeypatch.setattr(state, "_on_prompt_handlers", [hook])
    prompt = {"1": {"class_type": "ImageSink", "inputs": {}}}
    assert server.post("/prompt", {"prompt": prompt}).status == 200
    assert runtime.calls[-1][1]["extra_data"] == {"hooked": True}
