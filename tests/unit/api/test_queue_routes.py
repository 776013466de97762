"""/prompt, /queue, /history, /interrupt, /free and /api/jobs against a FakeRuntime
(docs/protocol.md §6-§8; execution of prompts is tested in tests/protocol)."""

from __future__ import annotations

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.history import HistoryEntry
from toucan_nb.runtime.queue import QueueItem

VALIDATION = {c["case"]: c for c in load("validation_errors.json")["cases"]}
GRAPH = {"1": {"class_type": "ImageSource", "inputs": {"mode": "a", "size": 8}},
         "2": {"class_type": "ImageSink", "inputs": {"images": ["1", 0]}}}


def submits(runtime):
    return [args for name, args in runtime.calls if name == "submit"]


def test_get_prompt_counts_pending_and_running(server, runtime):
    assert server.get("/prompt").json() == load("history_and_jobs.json")["prompt_get_idle"]["body"]
    runtime.queue.put(QueueItem(0, "a", GRAPH, {}, ["2"]))
    runtime.queue.put(QueueItem(1, "b", GRAPH, {}, ["2"]))
    runtime.queue.get()
    assert server.get("/prompt").json() == {"exec_info": {"queue_remaining": 2}}


def test_post_prompt_passes_everything_to_submit(server, runtime):
    resp = server.post("/prompt", {"prompt": GRAPH, "client_id": "abc", "extra_data": {"extra_pnginfo": {"x": 1}},
                                   "partial_execution_targets": ["2"], "prompt_id": 42})
    assert resp.status == 200 and resp.json() == {"prompt_id": "42", "number": 0, "node_errors": {}}
    call = submits(runtime)[0]
    assert call["client_id"] == "abc" and call["has_client_id"] is True and call["prompt_id"] == "42"
    assert call["extra_data"] == {"extra_pnginfo": {"x": 1}} and call["partial_execution_targets"] == ["2"]
    assert call["number"] == 0
    # no client_id key: "without client" (None), not ""
    server.post("/prompt", {"prompt": GRAPH})
    assert submits(runtime)[1]["has_client_id"] is False and submits(runtime)[1]["client_id"] is None


def test_number_and_front(server, runtime):
    # QUIRK(docs/protocol.md §6): explicit number is a float and does not advance the counter.
    explicit = server.post("/prompt", {"prompt": GRAPH, "number": 7, "prompt_id": "explicit-number-7"})
    assert explicit.body == VALIDATION["number_given"]["response"]["body_raw"].encode()
    assert server.post("/prompt", {"prompt": GRAPH}).json()["number"] == 0
    assert server.post("/prompt", {"prompt": GRAPH, "front": True}).json()["number"] == -1


def test_counter_advances_on_failures(server, runtime):
    assert server.post("/prompt", {"client_id": "x"}).status == 400
    assert server.post("/prompt", raw="[1, 2]").status == 400
    assert server.post("/prompt", {"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}).status == 400
    assert server.post("/prompt", {"prompt": GRAPH}).json()["number"] == 3


@pytest.mark.parametrize("case", ["no_prompt_key", "body_is_json_list"])
def test_no_prompt_matches_the_vector(server, case):
    vec = VALIDATION[case]
    body = vec.get("request_body_raw")
    resp = server.post("/prompt", raw=body) if body is not None else server.post("/prompt", vec["request_body"])
    assert resp.status == vec["response"]["status"]
    assert resp.body == vec["response"]["body_raw"].encode()
    assert resp.content_type == vec["response"]["content_type"]


@pytest.mark.parametrize("case", ["bad_json_body", "empty_body", "prompt_is_list", "prompt_is_string",
                                  "prompt_is_null"])
def test_malformed_bodies_are_400_json_not_500(server, case):
    # Deviation (docs/protocol.md §1, vectors): ComfyUI answers these with a plain-text 500.
    vec = VALIDATION[case]
    assert vec["response"]["status"] == 500
    raw = vec.get("request_body_raw")
    resp = server.post("/prompt", raw=raw) if raw is not None else server.post("/prompt", vec["request_body"])
    assert resp.status == 400 and resp.content_type == "application/json; charset=utf-8"
    assert "error" in resp.json()


@pytest.mark.parametrize("body", [{"prompt": GRAPH, "extra_data": []}, {"prompt": GRAPH, "client_id": 5},
                                  {"prompt": GRAPH, "partial_execution_targets": "2"},
                                  {"prompt": GRAPH, "number": "x"}, {"prompt": GRAPH, "number": [1]},
                                  {"prompt": GRAPH, "number": "nan"}])
def test_wrong_types_are_400(server, runtime, body):
    resp = server.post("/prompt", body)
    assert resp.status == 400 and "error" in resp.json()
    assert submits(runtime) == []


def test_prompt_accepts_any_content_type(server):
    import json

    resp = server.post("/prompt", raw=json.dumps({"prompt": GRAPH}), headers={"Content-Type": "text/plain"})
    assert resp.status == 200


def test_queue_listing_and_changes(server, runtime):
    assert server.get("/queue").json() == load("history_and_jobs.json")["queue_idle"]["body"]
    for n, pid in ((5, "p5"), (-3, "front"), (9, "p9")):
        runtime.queue.put(QueueItem(n, pid, GRAPH, {"client_id": "c"}, ["2"]))
    running = runtime.queue.get()
    body = server.get("/queue").json()
    assert body["queue_running"] == [running.to_wire()]
    assert body["queue_pending"] == [i.to_wire() for i in runtime.queue.pending()]  # heap order
    resp = server.post("/queue", {"delete": ["p9"]})
    assert resp.status == 200 and resp.body == b"" and resp.content_type is None
    assert [i.prompt_id for i in runtime.queue.pending()] == ["p5"]
    server.post("/queue", {"clear": True})
    assert runtime.queue.pending() == [] and runtime.queue.running() == [running]
    assert server.post("/queue", {"delete": "p5"}).status == 400
    assert server.post("/queue", raw="{oops").status == 400


def _entry(prompt_id: str, number: int) -> HistoryEntry:
    item = QueueItem(number, prompt_id, GRAPH, {"create_time": 1000 + number}, ["2"])
    return HistoryEntry(prompt=item, outputs={}, meta={}, status_str="success", completed=True,
                        messages=[["execution_start", {"prompt_id": prompt_id, "timestamp": 2000 + number}],
                                  ["execution_success", {"prompt_id": prompt_id, "timestamp": 3000 + number}]])


def test_history_routes(server, runtime):
    for n, pid in enumerate(["a", "b", "c"]):
        runtime.history.add(_entry(pid, n))
    assert list(server.get("/history").json()) == ["a", "b", "c"]
    assert list(server.get("/history?max_items=2").json()) == ["b", "c"]
    assert list(server.get("/history?max_items=1&offset=1").json()) == ["b"]
    assert server.get("/history/b").json() == {"b": runtime.history.get_one("b")}
    assert server.get("/history/does-not-exist").json() == {}
    assert server.get("/history?max_items=x").status == 400  # Deviation: ComfyUI 500
    assert server.post("/history", {"delete": ["a"]}).body == b""
    assert list(server.get("/history").json()) == ["b", "c"]
    server.post("/history", {"clear": True})
    assert server.get("/history").json() == {}


def test_interrupt_forms(server, runtime):
    for raw in (None, "", "{bad", "[]"):
        assert server.post("/interrupt", raw=raw).status == 200
    assert server.post("/interrupt", {"prompt_id": "X"}).body == b""
    assert [c for c in runtime.calls if c[0] == "interrupt"] == [("interrupt", None)] * 4 + [("interrupt", "X")]


def test_free(server, runtime):
    assert server.post("/free", {"unload_models": True}).status == 200
    assert server.post("/free", {"free_memory": True}).status == 200
    assert [c[1] for c in runtime.calls if c[0] == "free"] == [(True, False), (False, True)]
    assert server.post("/free", raw="nope").status == 400


def test_jobs_use_runtime_jobs(server, runtime):
    runtime.history.add(_entry("done", 1))
    runtime.queue.put(QueueItem(4, "waiting", GRAPH, {"create_time": 5000}, ["2"]))
    body = server.get("/api/jobs").json()
    assert [j["id"] for j in body["jobs"]] == ["waiting", "done"]
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 2, "has_more": False}
    assert server.get("/api/jobs?status=pending").json()["pagination"]["total"] == 1
    assert server.get("/api/jobs/done").json()["execution_status"]["status_str"] == "success"
    assert server.get("/api/jobs/waiting").json()["status"] == "pending"
    vectors = load("history_and_jobs.json")
    for key in ("GET /api/jobs?status=bogus", "GET /api/jobs?limit=0", "GET /api/jobs?limit=x",
                "GET /api/jobs?offset=x", "GET /api/jobs?sort_by=name", "GET /api/jobs/{unknown}"):
        vec = vectors[key]
        path = vec["request"].split(" ", 1)[1]
        resp = server.get(path)
        assert (resp.status, resp.json(), resp.content_type) == (vec["status"], vec["body"], vec["content_type"])
