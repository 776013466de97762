"""The route table (docs/protocol.md §2): every route and its /api twin, the quirky exceptions, HEAD,
405/404 as JSON, the base-path mount."""

from __future__ import annotations

import inspect
import re

import pytest
from tornado.web import RequestHandler

from toucan_nb.api.routes import ROUTES

JSON = "application/json; charset=utf-8"

# GET routes that answer 200 on an empty runtime, with their /api twin.
MIRRORED_GETS = ["/features", "/system_stats", "/embeddings", "/extensions", "/models", "/models/checkpoints",
                 "/object_info", "/object_info/ImageSource", "/prompt", "/queue", "/history", "/history/x",
                 "/users", "/settings", "/settings/x", "/v2/userdata", "/workflow_templates", "/i18n",
                 "/global_subgraphs", "/global_subgraphs/x", "/experiment/models",
                 "/experiment/models/checkpoints"]


@pytest.mark.parametrize("path", MIRRORED_GETS)
def test_route_and_api_twin_answer_the_same(server, path):
    plain, twin = server.get(path), server.get("/api" + path)
    assert plain.status == twin.status == 200
    assert plain.content_type == twin.content_type == JSON
    if path != "/system_stats":  # ram_free moves
        assert plain.json() == twin.json()


def test_jobs_live_at_api_and_api_api_only(server):
    # QUIRK(docs/protocol.md §2): declared as /api/jobs.
    assert server.get("/api/jobs").status == 200
    assert server.get("/api/api/jobs").json() == server.get("/api/jobs").json()
    assert server.get("/jobs").status == 404


def test_internal_routes_have_no_twin(server):
    assert server.get("/internal/logs").status == 200
    assert server.get("/internal/folder_paths").status == 200
    assert server.get("/api/internal/logs").status == 404
    assert server.get("/api/internal/folder_paths").status == 404


def test_every_mirrored_route_is_mounted_twice(server):
    rules = [rule.matcher.regex.pattern for rule in server.app.default_router.rules[0].target.rules
             if hasattr(rule.matcher, "regex")]
    for route in ROUTES:
        assert route.path + "$" in rules
        assert (("/api" + route.path + "$") in rules) == route.mirror


def test_every_handler_method_takes_its_routes_path_arguments():
    """A method that cannot take a route's captured path segments fails with a TypeError (a 500) on
    every request to that path; each must answer or be missing (405)."""
    for route in ROUTES:
        captured = re.compile(route.path).groups
        for name in ("get", "post", "put", "delete", "patch", "head", "options"):
            method = getattr(route.handler, name, None)
            if method is None or method is getattr(RequestHandler, name, None):
                continue
            params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
            if any(p.kind == p.VAR_POSITIONAL for p in params):
                continue
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            assert len(positional) >= captured, (route.path, route.handler.__name__, name)


def test_unknown_path_and_method_are_json(server):
    missing = server.get("/no/such/route")
    assert missing.status == 404 and missing.content_type == JSON and missing.json() == {"error": "Not Found"}
    wrong = server.request("DELETE", "/prompt")
    assert wrong.status == 405 and wrong.content_type == JSON


def test_head_answers_every_get(server):
    head = server.request("HEAD", "/features")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) == len(server.get("/features").body)


def test_base_path_mounts_everything_under_it(make_server):
    srv = make_server(base_path="/toucan/")
    assert srv.get("/toucan/features").status == 200
    assert srv.get("/toucan/api/features").status == 200
    assert srv.get("/toucan/internal/logs").status == 200
    assert srv.get("/features").status == 404
    ws = srv.ws()
    assert '"sid"' in ws.recv()
    ws.close()


@pytest.mark.parametrize(("path", "body"), [
    ("/prompt", {"prompt": {"1": {"class_type": "ImageSink", "inputs": {}}}}), ("/queue", {"clear": True}),
    ("/history", {"clear": True}), ("/interrupt", {}), ("/free", {"free_memory": True}),
    ("/settings", {"a": 1}), ("/settings/b", 2), ("/userdata/x.json", {}),
])
def test_post_routes_have_api_twins(server, path, body):
    import json

    plain, twin = server.post(path, body), server.post("/api" + path, body)
    assert plain.status == twin.status == 200
    assert server.request("PATCH", "/api" + path, body=json.dumps(body)).status == 405
