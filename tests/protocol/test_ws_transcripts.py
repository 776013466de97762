"""Every recorded WebSocket scenario (vectors/ws_transcripts) replayed against `toucan-nb serve`:
the same prompt posted the same way must produce the same frames in the same order, modulo ids,
timestamps, file-name counters and tracebacks (docs/protocol.md §13-§16).

The scenarios run in the recorder's order on one server, so cache state carries over as it did
(c is a fully cached re-run of b, d and d2 edit it, e reuses d2's cached node 1).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.vectors import load

from .support import ServeProcess, new_client_id, normalize, recv, wait_idle

RECORDED_ORDER = ["b_success_cold", "c_fully_cached", "d_partially_cached", "d2_upstream_change", "e_runtime_error",
                  "g_preview_image", "g2_preview_any", "h_no_client_id", "h2_empty_client_id"]


def _post_body(vec: dict[str, Any], client_id: str) -> dict[str, Any]:
    body = json.loads(json.dumps(vec["prompt_posted"]))
    if body.get("client_id") == vec["ws_client_id_param"]:  # the recorder's socket -> ours
        body["client_id"] = client_id
    return body


def _is_end(msg: Any, has_client: bool, seen_busy: bool) -> bool:
    if not isinstance(msg, dict):
        return False
    if has_client:
        return msg["type"] == "executing" and msg["data"]["node"] is None
    return seen_busy and msg == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}}


def run_scenario(server: ServeProcess, vec: dict[str, Any], interrupt_when: Any = None) -> tuple[list[Any], str]:
    """Open a socket, post the scenario's prompt, collect frames until the prompt is over."""
    wait_idle(server)
    client_id = new_client_id()
    ws = server.ws(client_id)
    messages = [recv(ws)]
    body = _post_body(vec, client_id)
    has_client = bool(body.get("client_id"))
    resp = server.post("/prompt", body)
    assert resp.status == vec["post_prompt_response"]["status"], resp.body
    assert list(resp.json()) == list(vec["post_prompt_response"]["body"])
    prompt_id = resp.json()["prompt_id"]
    seen_busy = interrupted = False
    while True:
        msg = recv(ws)
        messages.append(msg)
        if isinstance(msg, dict) and msg["type"] == "status" and msg["data"]["status"]["exec_info"]["queue_remaining"]:
            seen_busy = True
        if interrupt_when is not None and not interrupted and interrupt_when(msg):
            # Land inside node 2's multi-second blur, not in the microseconds between its start
            # events and its call (where a busy machine could otherwise put it).
            time.sleep(0.3)
            assert server.post("/interrupt", raw=b"").status == 200
            interrupted = True
        if _is_end(msg, has_client, seen_busy):
            break
    ws.close()
    return messages, prompt_id


def _ids(vec: dict[str, Any], prompt_id: str, sid: str) -> tuple[dict[str, str], dict[str, str]]:
    recorded_prompt = vec["post_prompt_response"]["body"]["prompt_id"]
    recorded_sid = vec["messages"][0]["data"]["sid"]
    return {recorded_prompt: "<P>", recorded_sid: "<S>"}, {prompt_id: "<P>", sid: "<S>"}


def assert_same_frames(vec: dict[str, Any], got: list[Any], prompt_id: str) -> None:
    theirs, ours = _ids(vec, prompt_id, got[0]["data"]["sid"])
    expected = normalize(vec["messages"], theirs)
    actual = normalize(got, ours)
    assert [m["type"] for m in actual] == [m["type"] for m in expected], json.dumps(actual)[:4000]
    for want, have in zip(expected, actual, strict=True):
        if want["type"] == "execution_error":
            # The message text and traceback come from our node code, not ComfyUI's.
            for key in ("exception_message", "exception_type"):
                want["data"].pop(key)
                assert isinstance(have["data"].pop(key), str)
        assert have == want


@pytest.fixture(scope="module")
def runs(server) -> dict[str, tuple[list[Any], str]]:
    """Run the recorded scenarios once, in the recorder's order."""
    return {name: run_scenario(server, load(f"ws_transcripts/{name}.json")) for name in RECORDED_ORDER}


# QUIRK(vectors README §13): ComfyUI orders the output nodes of g2 by iterating a set of ids, which
# depends on the process's string hashing; either branch may run first.
ORDER_FREE = {"g2_preview_any"}


def _branches(messages: list[Any]) -> list[str]:
    return [m["data"]["node"] for m in messages if m["type"] == "executing" and m["data"]["node"] is not None]


@pytest.mark.parametrize("name", RECORDED_ORDER)
def test_scenario_frames(runs, name):
    messages, prompt_id = runs[name]
    vec = load(f"ws_transcripts/{name}.json")
    if name not in ORDER_FREE:
        assert_same_frames(vec, messages, prompt_id)
        return
    theirs, ours = _ids(vec, prompt_id, messages[0]["data"]["sid"])
    expected, actual = normalize(vec["messages"], theirs), normalize(messages, ours)
    assert [m["type"] for m in actual] == [m["type"] for m in expected]
    executed = [m for m in actual if m["type"] == "executed"]
    assert sorted(map(str, executed)) == sorted(map(str, (m for m in expected if m["type"] == "executed")))
    order = _branches(actual)
    assert order in (["3", "4", "1", "2"], ["1", "2", "3", "4"])


def test_runtime_error_details(runs):
    messages, _ = runs["e_runtime_error"]
    error = next(m for m in messages if m["type"] == "execution_error")["data"]
    assert error["node_id"] == "2" and error["node_type"] == "ImageToMask" and error["executed"] == []
    assert error["exception_message"].endswith("\n") and isinstance(error["traceback"], list)
    assert sorted(error["current_outputs"]) == ["1", "2", "3", "4"]


def test_history_of_the_scenarios(server, runs):
    vectors = load("history_and_jobs.json")
    for name, key in (("b_success_cold", "history_success_b"), ("c_fully_cached", "history_cached_c"),
                      ("g_preview_image", "history_preview_g"), ("g2_preview_any", "history_preview_any_g2"),
                      ("h_no_client_id", "history_no_client_h"), ("e_runtime_error", "history_failed_e")):
        _, prompt_id = runs[name]
        vec = vectors[key]["body"]
        recorded_id = next(iter(vec))
        entry = server.get(f"/history/{prompt_id}").json()[prompt_id]
        want = normalize(vec[recorded_id], {recorded_id: "<P>"})
        have = normalize(entry, {prompt_id: "<P>"})
        # our number and client ids differ from the recorded session's
        for side in (want, have):
            side["prompt"][0] = "<n>"
            side["prompt"][3].pop("client_id", None)
            if name in ORDER_FREE:
                side["prompt"][4] = sorted(side["prompt"][4])
                side["outputs"] = dict(sorted(side["outputs"].items()))
                side["meta"] = dict(sorted(side["meta"].items()))
            for event, data in side["status"]["messages"]:
                if event == "execution_error":
                    data.pop("exception_message")
                    data.pop("exception_type")
        assert have == want, name


def test_feature_flags_transcripts(server):
    for name in ("i1_feature_flags", "i2_feature_flags_not_first"):
        vec = load(f"ws_transcripts/{name}.json")
        client_id = new_client_id()
        ws = server.ws(client_id)
        for sent in vec["client_sent_ws"]:
            ws.send(json.dumps(sent))
        expected = normalize(vec["messages"], {vec["ws_client_id_param"]: "<S>"})
        got = [recv(ws) for _ in expected]
        assert normalize(got, {client_id: "<S>"}) == expected
        # nothing else arrives: the next frame is a status broadcast we trigger ourselves
        server.post("/queue", {"clear": True})
        assert recv(ws) == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}}
        ws.close()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "when"), [
    ("f_interrupt", lambda m: isinstance(m, dict) and m["type"] == "executing" and m["data"].get("node") == "2"),
    ("h3_no_client_id_interrupt", lambda m: isinstance(m, dict) and m["type"] == "progress_state"
     and m["data"]["nodes"].get("2", {}).get("state") == "running"),
])
def test_interrupt_scenarios(server, name, when):
    vec = load(f"ws_transcripts/{name}.json")
    messages, prompt_id = run_scenario(server, vec, interrupt_when=when)
    assert_same_frames(vec, messages, prompt_id)
    entry = server.get(f"/history/{prompt_id}").json()[prompt_id]
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    job = server.get(f"/api/jobs/{prompt_id}").json()
    assert job["status"] == "failed" and "execution_error" not in job
