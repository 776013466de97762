"""Every recorded POST /prompt case (vectors/validation_errors.json) against `toucan-nb serve`.

400 answers must match byte for byte (modulo tracebacks); 200 answers match modulo the prompt id
and the counter. Where ComfyUI answers a plain-text 500 (malformed JSON, a non-object prompt) we
answer 400 with a JSON body on purpose (docs/protocol.md §1 deviation)."""

from __future__ import annotations

import json

import pytest

from tests.support.vectors import load

from .support import normalize, wait_idle

CASES = load("validation_errors.json")["cases"]


def _post(server, case):
    if "request_body_raw" in case:
        return server.post("/prompt", raw=case["request_body_raw"])
    return server.post("/prompt", case["request_body"])


def _comparable(body):
    body = normalize(body, {})
    for node in body.get("node_errors", {}).values():
        for error in node["errors"]:
            info = error.get("extra_info", {})
            if "traceback" in info:
                info["traceback"] = "<traceback>"
            if error["type"] in ("exception_during_inner_validation", "exception_during_validation"):
                # The text of the inner exception comes from our validator, not ComfyUI's.
                error.pop("details")
                info.pop("exception_message", None)
    return body


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_case(server, case):
    want = case["response"]
    resp = _post(server, case)
    if want["status"] == 500:
        assert resp.status == 400 and resp.content_type == "application/json; charset=utf-8"
        assert resp.json()["error"]["type"] == "invalid_prompt" and resp.json()["node_errors"] == {}
        return
    assert (resp.status, resp.content_type) == (want["status"], want["content_type"])
    if want["status"] == 400:
        if all(e["type"] not in ("exception_during_inner_validation", "exception_during_validation")
               for n in want["body"]["node_errors"].values() for e in n["errors"]):
            assert resp.body.decode() == want["body_raw"]
        assert _comparable(resp.json()) == _comparable(want["body"])
    else:
        got = resp.json()
        assert list(got) == ["prompt_id", "number", "node_errors"]
        assert got["node_errors"] == want["body"]["node_errors"]
        if "prompt_id" in case["request_body"]:
            assert got["prompt_id"] == case["request_body"]["prompt_id"]
            assert json.dumps(got["number"]) == json.dumps(want["body"]["number"])  # 7.0, a float
        wait_idle(server)


MISSING_CLASS_TYPE = next(c for c in CASES if c["case"] == "missing_class_type")["response"]["body_raw"]


@pytest.mark.parametrize("node", ["0", "null", "true", "1.5", '"class_type"', '["class_type"]', "[]", '"x"'])
def test_a_node_that_is_not_an_object_is_invalid_prompt(server, node):
    # ComfyUI answers a list or a string with the recorded missing_class_type body (for its node id)
    # and crashes (500) on the others; every one of them lacks the class_type property.
    resp = server.post("/prompt", raw='{"prompt": {"2": ' + node + "}}")
    assert (resp.status, resp.content_type) == (400, "application/json; charset=utf-8")
    assert resp.body.decode() == MISSING_CLASS_TYPE


def test_nothing_was_queued_by_failures(server):
    wait_idle(server)
    assert server.get("/queue").json() == {"queue_running": [], "queue_pending": []}
