"""Client JSON (json_input.py): syntax and nesting errors are a 400 on every route that reads JSON."""

from __future__ import annotations

import json
import os

import pytest

from toucan_nb.api.json_input import MAX_NESTING, ClientJsonError, parse_client_json

from .support import multipart, png_bytes


def nested(depth: int, leaf: str = "1") -> str:
    """`depth` levels of alternating lists and objects around `leaf`."""
    text = leaf
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}}}'
    return text


@pytest.mark.parametrize("raw", [nested(MAX_NESTING), nested(MAX_NESTING).encode(), '"' + "[" * 5000 + '"',
                                 json.dumps({"s": "{[" * 400, "l": [[1]] * 400})])
def test_values_within_the_limit_parse(raw):
    assert parse_client_json(raw) == json.loads(raw)


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 900, 5000, 100_000])
def test_deeper_values_are_refused_with_a_clear_message(depth):
    # Python's decoder raises RecursionError from about 1000 levels; both sides of it are refused.
    for raw in (nested(depth), "[" * depth + "]" * depth):
        with pytest.raises(ClientJsonError, match=f"nested more than {MAX_NESTING} levels deep"):
            parse_client_json(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe\x00", "[1,]", b"nan1"])
def test_syntax_errors_are_client_json_errors(raw):
    with pytest.raises(ClientJsonError):
        parse_client_json(raw)


DEEP = "[" * 5000 + "]" * 5000
JSON_ROUTES = [("POST", "/prompt"), ("POST", "/queue"), ("POST", "/history"), ("POST", "/free"),
               ("POST", "/settings"), ("POST", "/settings/Comfy.X"), ("POST", "/users"),
               ("PATCH", "/internal/logs/subscribe")]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES + [(m, "/api" + p) for m, p in JSON_ROUTES
                                                           if not p.startswith("/internal")])
@pytest.mark.parametrize("body", [DEEP, nested(MAX_NESTING + 1)], ids=["5000", "257"])
def test_deep_bodies_are_400_on_every_json_route(server, runtime, method, path, body):
    resp = server.request(method, path, body=body)
    assert resp.status == 400, resp.body
    assert resp.content_type == "application/json; charset=utf-8"
    text = json.dumps(resp.json())
    assert f"nested more than {MAX_NESTING} levels deep" in text
    assert runtime.calls == []


def test_a_deep_body_is_a_global_interrupt(server, runtime):
    # /interrupt reads an unusable body as "no prompt_id" (docs/protocol.md §7).
    assert server.post("/interrupt", raw=DEEP).status == 200
    assert runtime.calls == [("interrupt", None)]


def test_a_deep_original_ref_is_no_original(server, runtime):
    # QUIRK(docs/protocol.md §9.2): with no usable original the mask upload answers 200 and writes nothing.
    body, ctype = multipart({"original_ref": DEEP}, {"image": ("m.png", png_bytes())})
    resp = server.request("POST", "/upload/mask", body=body, headers={"Content-Type": ctype})
    assert resp.status == 200 and resp.json() == {"name": "m.png", "subfolder": "", "type": "input"}
    assert not os.path.exists(os.path.join(runtime.folders.input_dir, "m.png"))
