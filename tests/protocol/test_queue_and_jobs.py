"""Queue, jobs and history while a prompt runs and others wait (vectors/history_and_jobs.json
`running_and_pending_snapshot`), plus /history paging (docs/execution.md §6.1 `test_offset_*`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.vectors import load

from .support import new_client_id, normalize, recv, wait_idle

VEC = load("history_and_jobs.json")
SNAP = VEC["running_and_pending_snapshot"]


def _body(posted: dict[str, Any], client_id: str) -> dict[str, Any]:
    body = copy.deepcopy(posted)
    body["client_id"] = client_id
    return body


def _recorded_bodies() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The three POST bodies of the snapshot, rebuilt from what the vector recorded."""
    queue = SNAP["GET /queue"]["body"]
    running, (front, custom) = queue["queue_running"][0], queue["queue_pending"]
    long_body = {"prompt": running[2], "extra_data": {"extra_pnginfo": running[3]["extra_pnginfo"]}}
    return long_body, {"prompt": custom[2], "prompt_id": "my-custom-id-1"}, {"prompt": front[2], "front": True}


def _renumber(value: Any, numbers: dict[int, int]) -> Any:
    if isinstance(value, dict):
        return {k: (numbers.get(v, v) if k == "priority" else _renumber(v, numbers)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 5 and isinstance(value[0], int | float) and isinstance(value[1], str):
            return [numbers.get(value[0], value[0]), *[_renumber(v, numbers) for v in value[1:]]]
        return [_renumber(v, numbers) for v in value]
    return value


@pytest.mark.slow
def test_running_and_pending_snapshot(server):
    wait_idle(server)
    client_id = new_client_id()
    ws = server.ws(client_id)
    recv(ws)
    long_body, custom_body, front_body = _recorded_bodies()
    long = server.post("/prompt", _body(long_body, client_id)).json()
    while True:  # wait until node 2 (a slow blur) runs
        msg = recv(ws)
        if isinstance(msg, dict) and msg["type"] == "executing" and msg["data"]["node"] == "2":
            break
    custom = server.post("/prompt", _body(custom_body, client_id)).json()
    front = server.post("/prompt", _body(front_body, client_id)).json()
    assert custom["prompt_id"] == "my-custom-id-1"
    assert front["number"] == -(custom["number"] + 1)  # front negates the counter

    recorded = SNAP["posted"]
    ids_theirs = {recorded["long_running"]["response"]["body"]["prompt_id"]: "<long>",
                  recorded["pending_front_true"]["body"]["prompt_id"]: "<front>",
                  SNAP["ws_messages_of_this_client"][0]["data"]["sid"]: "<client>"}
    ids_ours = {long["prompt_id"]: "<long>", front["prompt_id"]: "<front>", client_id: "<client>"}
    numbers = {11: long["number"], 12: custom["number"], -13: front["number"]}

    def same(path: str, key: str) -> None:
        resp = server.get(path)
        want = normalize(_renumber(SNAP[key]["body"], numbers), ids_theirs)
        assert (resp.status, normalize(resp.json(), ids_ours)) == (200, want), path

    same("/queue", "GET /queue")
    same("/prompt", "GET /prompt")
    same("/api/jobs?status=pending", "GET /api/jobs?status=pending")
    same("/api/jobs?status=in_progress", "GET /api/jobs?status=in_progress")
    same(f"/api/jobs/{long['prompt_id']}", "GET /api/jobs/{running}")
    same("/api/jobs/my-custom-id-1", "GET /api/jobs/{pending}")
    same("/api/jobs?workflow_id=wf-long-0001", "GET /api/jobs?workflow_id=wf-long-0001")
    jobs = normalize(server.get("/api/jobs").json()["jobs"][:3], ids_ours)
    assert jobs == normalize(_renumber(SNAP["GET /api/jobs"]["body"]["jobs"][:3], numbers), ids_theirs)

    deleted = server.post("/queue", {"delete": [front["prompt_id"]]})
    assert (deleted.status, deleted.body) == (200, b"")
    stopped = server.post("/interrupt", {"prompt_id": long["prompt_id"]})
    assert (stopped.status, stopped.body) == (200, b"")
    wait_idle(server)
    history = server.get("/history?max_items=2").json()
    assert list(history) == [long["prompt_id"], "my-custom-id-1"]
    assert history[long["prompt_id"]]["status"]["messages"][-1][0] == "execution_interrupted"
    assert history["my-custom-id-1"]["status"]["status_str"] == "success"
    assert front["prompt_id"] not in server.get("/history").json()
    ws.close()


def test_targeted_interrupt_of_an_idle_prompt_is_a_no_op(server):
    wait_idle(server)
    assert server.post("/interrupt", {"prompt_id": "not-running"}).status == 200
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    pid = server.post("/prompt", {"prompt": prompt}).json()["prompt_id"]
    wait_idle(server)
    assert server.get(f"/history/{pid}").json()[pid]["status"]["status_str"] == "success"


def test_history_offsets(server):
    # docs/execution.md §6.1 test_offset_*: offset skips from the oldest; at/past the end gives {}.
    wait_idle(server)
    server.post("/history", {"clear": True})
    ids = []
    for value in range(4):
        prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 100 + value}},
                  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
        ids.append(server.post("/prompt", {"prompt": prompt}).json()["prompt_id"])
        wait_idle(server)
    assert list(server.get("/history").json()) == ids
    assert list(server.get("/history?offset=0").json()) == ids
    assert list(server.get("/history?offset=1").json()) == ids[1:]
    assert list(server.get("/history?max_items=2").json()) == ids[2:]
    assert list(server.get("/history?max_items=2&offset=1").json()) == ids[1:3]
    assert server.get("/history?offset=4").json() == {}
    assert server.get("/history?offset=10").json() == {}
    assert list(server.get("/history?offset=-1").json()) == ids
    assert list(server.get("/api/jobs?limit=2&offset=1&sort_order=asc").json()["jobs"][0].values())[0] == ids[1]
    server.post("/history", {"delete": [ids[0]]})
    assert list(server.get("/history").json()) == ids[1:]
