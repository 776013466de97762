"""toucan_nb.runtime.jobs: ComfyUI's job normalisation (docs/execution.md §6.1 "test_jobs.py") and the
/api/jobs rules of docs/protocol.md §8, checked against the responses recorded from ComfyUI 0.8.0."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.errors import BadRequestError, NotFoundError
from toucan_nb.runtime.history import History, HistoryEntry, runtime_stopped_entry
from toucan_nb.runtime.jobs import (
    JobStatus,
    apply_sorting,
    get_job,
    get_outputs_summary,
    is_previewable,
    list_jobs,
    normalize_history_item,
    normalize_queue_item,
)
from toucan_nb.runtime.queue import PromptQueue, QueueItem


def _dumps(value: Any) -> str:
    # Key order matters on the wire, so compare serialisations, not dicts.
    return json.dumps(value)


def _recorded_history() -> dict[str, dict[str, Any]]:
    """Every history entry ComfyUI returned verbatim, by prompt_id."""
    data = load("history_and_jobs.json")
    entries: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key.startswith("history_") or key == "GET /history?max_items=2 (end)":
            entries.update(value["body"])
    return entries


def _reconstructed(scenario: str, final_jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A history entry for a run whose /history was not recorded (d, d2, h2).

    Prompt, number, client and messages come from its websocket transcript; `create_time` (and,
    for h2, whose socket saw no execution events, the start/end times and output) from the
    recorded job itself.
    """
    transcript = load(f"ws_transcripts/{scenario}.json")
    response = transcript["post_prompt_response"]["body"]
    prompt_id = response["prompt_id"]
    job = final_jobs[prompt_id]
    extra_data = {"client_id": transcript["prompt_posted"]["client_id"], "create_time": job["create_time"]}
    recorded = [(m["type"], m["data"]) for m in transcript["messages"]
                if m["type"] in ("execution_start", "execution_cached", "execution_success", "executed")]
    if recorded:
        outputs = {d["node"]: d["output"] for t, d in recorded if t == "executed"}
        messages = [[t, d] for t, d in recorded if t != "executed"]
    else:
        preview = {k: v for k, v in job["preview_output"].items() if k not in ("nodeId", "mediaType")}
        outputs = {job["preview_output"]["nodeId"]: {"images": [preview]}}
        messages = [["execution_start", {"prompt_id": prompt_id, "timestamp": job["execution_start_time"]}],
                    ["execution_cached", {"nodes": [], "prompt_id": prompt_id,
                                          "timestamp": job["execution_start_time"]}],
                    ["execution_success", {"prompt_id": prompt_id, "timestamp": job["execution_end_time"]}]]
    meta = {node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
            for node in outputs}
    return {"prompt": [response["number"], prompt_id, transcript["prompt_posted"]["prompt"], extra_data,
                       list(outputs)],
            "outputs": outputs,
            "status": {"status_str": "success", "completed": True, "messages": messages},
            "meta": meta}


def _all_history() -> dict[str, dict[str, Any]]:
    """The 13 entries of the recording session in insertion (= number) order."""
    final = {job["id"]: job for job in load("history_and_jobs.json")["GET /api/jobs"]["body"]["jobs"]}
    entries = _recorded_history()
    for scenario in ("d_partially_cached", "d2_upstream_change", "h2_empty_client_id"):
        entry = _reconstructed(scenario, final)
        entries[entry["prompt"][1]] = entry
    assert set(entries) == set(final)
    return dict(sorted(entries.items(), key=lambda kv: kv[1]["prompt"][0]))


def _query(request: str) -> dict[str, str]:
    """The raw query values of a recorded request line, as the HTTP layer would pass them."""
    query = urllib.parse.urlsplit(request.split(" ", 1)[1]).query
    return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))


# -- ComfyUI's unit tests of comfy_execution/jobs.py (docs/execution.md §6.1) ------------------------


def test_job_status_constants() -> None:
    assert (JobStatus.PENDING, JobStatus.IN_PROGRESS, JobStatus.COMPLETED, JobStatus.FAILED) == (
        "pending", "in_progress", "completed", "failed")
    assert JobStatus.ALL == ["pending", "in_progress", "completed", "failed"]


@pytest.mark.parametrize("media_type", ["images", "video", "audio"])
def test_previewable_media_types(media_type: str) -> None:
    assert is_previewable(media_type, {}) is True


@pytest.mark.parametrize("media_type", ["latents", "text", "metadata", "files"])
def test_non_previewable_media_types(media_type: str) -> None:
    assert is_previewable(media_type, {}) is False


@pytest.mark.parametrize("filename", ["model.obj", "model.fbx", "model.gltf", "model.glb", "MODEL.GLB"])
def test_3d_extensions_previewable_case_insensitive(filename: str) -> None:
    assert is_previewable("files", {"filename": filename}) is True


@pytest.mark.parametrize(("fmt", "expected"), [("video/mp4", True), ("audio/wav", True),
                                               ("application/json", False), ("", False)])
def test_format_mime_prefix(fmt: str, expected: bool) -> None:
    assert is_previewable("files", {"format": fmt}) is expected


def test_outputs_summary_empty() -> None:
    assert get_outputs_summary({}) == (0, None)


def test_outputs_summary_counts_across_nodes() -> None:
    outputs = {"n1": {"images": [{"filename": "a.png", "type": "output"}]},
               "n2": {"images": [{"filename": "b.png", "type": "output"},
                                 {"filename": "c.png", "type": "output"}]}}
    count, preview = get_outputs_summary(outputs)
    assert count == 3
    assert preview == {"filename": "a.png", "type": "output", "nodeId": "n1", "mediaType": "images"}


def test_outputs_summary_skips_animated_non_lists_and_non_dicts() -> None:
    outputs = {"n1": {"images": [{"filename": "t.png", "type": "output"}, "not-a-dict"],
                      "animated": [{"flag": True}], "metadata": "string", "count": 42,
                      "text": ["hello"]},
               "n2": "not a dict"}
    assert get_outputs_summary(outputs).count == 1


def test_outputs_summary_prefers_type_output() -> None:
    outputs = {"n1": {"images": [{"filename": "temp.png", "type": "temp"}]},
               "n2": {"images": [{"filename": "out.png", "type": "output"}]}}
    count, preview = get_outputs_summary(outputs)
    assert count == 2
    assert preview is not None and preview["filename"] == "out.png" and preview["nodeId"] == "n2"


def test_outputs_summary_falls_back_to_first_previewable() -> None:
    outputs = {"n1": {"latents": [{"filename": "l.latent", "type": "output"}],
                      "images": [{"filename": "t1.png", "type": "temp"}, {"filename": "t2.png", "type": "temp"}]}}
    count, preview = get_outputs_summary(outputs)
    assert count == 3
    assert preview == {"filename": "t1.png", "type": "temp", "nodeId": "n1", "mediaType": "images"}


def test_outputs_summary_non_previewable_counted_without_preview() -> None:
    assert get_outputs_summary({"n": {"latents": [{"filename": "a"}, {"filename": "b"}]}}) == (2, None)


def test_outputs_summary_3d_and_mime_items_previewable() -> None:
    glb = get_outputs_summary({"n": {"files": [{"filename": "m.glb", "type": "output"}]}}).preview
    vid = get_outputs_summary({"n": {"files": [{"filename": "x", "format": "video/x", "type": "output"}]}}).preview
    assert glb is not None and glb["mediaType"] == "files"
    assert vid is not None and vid["filename"] == "x"


def test_outputs_summary_does_not_mutate_items() -> None:
    item = {"filename": "a.png", "subfolder": "s", "type": "output"}
    get_outputs_summary({"n": {"images": [item]}})
    assert item == {"filename": "a.png", "subfolder": "s", "type": "output"}


def test_apply_sorting_by_create_time() -> None:
    jobs = [{"id": "a", "create_time": 100}, {"id": "b", "create_time": 300}, {"id": "c", "create_time": 200}]
    assert [j["id"] for j in apply_sorting(jobs, "created_at", "desc")] == ["b", "c", "a"]
    assert [j["id"] for j in apply_sorting(jobs, "created_at", "asc")] == ["a", "c", "b"]


def test_apply_sorting_by_duration_missing_counts_as_zero() -> None:
    jobs = [{"id": "a", "execution_start_time": 100, "execution_end_time": 5100},
            {"id": "b", "execution_start_time": None, "execution_end_time": None},
            {"id": "c", "execution_start_time": 200, "execution_end_time": 3200},
            {"id": "d", "execution_start_time": 200},
            {"id": "e"}]
    assert [j["id"] for j in apply_sorting(jobs, "execution_duration", "desc")] == ["a", "c", "b", "d", "e"]
    assert [j["id"] for j in apply_sorting(jobs, "execution_duration", "asc")] == ["b", "d", "e", "c", "a"]


def test_apply_sorting_missing_create_time_is_zero_and_sort_is_stable() -> None:
    jobs = [{"id": "x"}, {"id": "y", "create_time": 5}, {"id": "z"}]
    assert [j["id"] for j in apply_sorting(jobs, "created_at", "desc")] == ["y", "x", "z"]


def test_normalize_queue_item() -> None:
    item = (10, "prompt-123", {"nodes": {}},
            {"create_time": 1234567890, "extra_pnginfo": {"workflow": {"id": "workflow-abc"}}}, ["node1"])
    job = normalize_queue_item(item, JobStatus.PENDING)
    assert _dumps(job) == _dumps({"id": "prompt-123", "status": "pending", "priority": 10,
                                  "create_time": 1234567890, "outputs_count": 0,
                                  "workflow_id": "workflow-abc"})


def test_normalize_queue_item_accepts_queue_item_and_omits_nulls() -> None:
    item = QueueItem(2.5, "p", {}, {"extra_pnginfo": {"workflow": {}}}, ["1"], {"api_key_comfy_org": "s"})
    assert normalize_queue_item(item, JobStatus.IN_PROGRESS) == {
        "id": "p", "status": "in_progress", "priority": 2.5, "outputs_count": 0}


def _history_item(status_str: str, messages: list[Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"prompt": [5, "prompt-456", {"1": {}},
                       {"create_time": 1234567890000, "extra_pnginfo": {"workflow": {"id": "workflow-xyz"}}},
                       ["node1"]],
            "outputs": outputs or {},
            "status": {"status_str": status_str, "completed": status_str == "success", "messages": messages},
            "meta": {}}


def test_normalize_history_item_completed_times_from_messages() -> None:
    item = _history_item("success", [("execution_start", {"prompt_id": "prompt-456", "timestamp": 1234567890500}),
                                     ("execution_success", {"prompt_id": "prompt-456", "timestamp": 1234567893000})])
    job = normalize_history_item("prompt-456", item)
    assert _dumps(job) == _dumps({"id": "prompt-456", "status": "completed", "priority": 5,
                                  "create_time": 1234567890000, "execution_start_time": 1234567890500,
                                  "execution_end_time": 1234567893000, "outputs_count": 0,
                                  "workflow_id": "workflow-xyz"})


def test_normalize_history_item_error_carries_execution_error() -> None:
    error = {"prompt_id": "prompt-456", "node_id": "5", "exception_message": "OOM", "timestamp": 1234567891000}
    item = _history_item("error", [["execution_start", {"prompt_id": "prompt-456", "timestamp": 1234567890500}],
                                   ["execution_error", error]])
    job = normalize_history_item("prompt-456", item)
    assert job["status"] == "failed"
    assert job["execution_error"] == error
    assert job["execution_end_time"] == 1234567891000


def test_normalize_history_item_interrupted_is_failed_without_error() -> None:
    item = _history_item("error", [["execution_interrupted", {"prompt_id": "prompt-456", "timestamp": 9}]])
    job = normalize_history_item("prompt-456", item)
    assert job["status"] == "failed" and job["execution_end_time"] == 9
    assert "execution_error" not in job and "execution_start_time" not in job


def test_normalize_history_item_unknown_status_counts_as_completed() -> None:
    item = _history_item("weird", [])
    assert normalize_history_item("prompt-456", item)["status"] == "completed"
    del item["status"]
    job = normalize_history_item("prompt-456", item, include_outputs=True)
    assert job["status"] == "completed" and job["execution_status"] == {}


def test_normalize_history_item_include_outputs() -> None:
    outputs = {"node1": {"images": [{"filename": "test.png"}]}}
    item = _history_item("success", [], outputs)
    job = normalize_history_item("prompt-456", item, include_outputs=True)
    assert list(job)[-3:] == ["outputs", "execution_status", "workflow"]
    assert job["outputs"] == outputs
    assert job["execution_status"] == item["status"]
    assert job["workflow"] == {"prompt": {"1": {}}, "extra_data": item["prompt"][3]}


def test_normalize_history_item_accepts_history_entry() -> None:
    wire = _history_item("success", [["execution_start", {"prompt_id": "prompt-456", "timestamp": 1}]])
    entry = HistoryEntry.from_wire(wire)
    assert normalize_history_item("prompt-456", entry, True) == normalize_history_item("prompt-456", wire, True)


def test_runtime_stopped_entry_reads_as_failed_job() -> None:
    item = QueueItem(3, "p", {}, {"create_time": 10}, ["1"])
    job = normalize_history_item("p", runtime_stopped_entry(item, started_at=20, stopped_at=30))
    assert job["status"] == "failed"
    assert (job["execution_start_time"], job["execution_end_time"]) == (20, 30)
    assert "runtime stopped" in job["execution_error"]["exception_message"]


# -- list_jobs / get_job: parameters (docs/protocol.md §8) --------------------------------------------


def _small_state() -> tuple[list[QueueItem], list[QueueItem], dict[str, Any]]:
    running = [QueueItem(3, "run", {}, {"create_time": 300}, ["1"])]
    pending = [QueueItem(-4, "front", {}, {"create_time": 400}, ["1"]),
               QueueItem(5, "pend", {}, {"create_time": 350,
                                         "extra_pnginfo": {"workflow": {"id": "wf"}}}, ["1"])]
    history = {"ok": {**_history_item("success", []), "prompt": [1, "ok", {}, {"create_time": 100}, ["1"]]},
               "bad": {**_history_item("error", []), "prompt": [2, "bad", {}, {"create_time": 200}, ["1"]]}}
    return running, pending, history


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "bogus"}, "Invalid status value(s): bogus. Valid values: pending, in_progress, completed, failed"),
    ({"status": "pending, Nope,x"}, "Invalid status value(s): nope, x. Valid values: pending, in_progress, "
                                     "completed, failed"),
    ({"sort_by": "name"}, "sort_by must be 'created_at' or 'execution_duration'"),
    ({"sort_by": ""}, "sort_by must be 'created_at' or 'execution_duration'"),
    ({"sort_order": "up"}, "sort_order must be 'asc' or 'desc'"),
    ({"limit": "0"}, "limit must be a positive integer"),
    ({"limit": "-3"}, "limit must be a positive integer"),
    ({"limit": "x"}, "limit must be an integer"),
    ({"limit": ""}, "limit must be an integer"),
    ({"limit": "1.5"}, "limit must be an integer"),
    ({"offset": "x"}, "offset must be an integer"),
    ({"offset": ""}, "offset must be an integer"),
    # Checked in ComfyUI's order: status before sort_by before limit before offset.
    ({"status": "bogus", "sort_by": "name"}, "Invalid status value(s): bogus. Valid values: pending, "
                                            "in_progress, completed, failed"),
    ({"sort_by": "name", "sort_order": "up"}, "sort_by must be 'created_at' or 'execution_duration'"),
    ({"limit": "x", "offset": "y"}, "limit must be an integer"),
])
def test_list_jobs_rejects_bad_parameters(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        list_jobs([], [], {}, **params)
    assert str(info.value) == message
    assert info.value.status == 400
    assert info.value.body == {"error": message}


def test_list_jobs_candidates_and_default_sort() -> None:
    running, pending, history = _small_state()
    body = list_jobs(running, pending, history)
    assert [j["id"] for j in body["jobs"]] == ["front", "pend", "run", "bad", "ok"]
    assert [j["status"] for j in body["jobs"]] == ["pending", "pending", "in_progress", "failed", "completed"]
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 5, "has_more": False}


def test_list_jobs_status_filter_is_trimmed_and_lowercased() -> None:
    running, pending, history = _small_state()
    body = list_jobs(running, pending, history, status=" FAILED , in_progress,")
    assert [j["id"] for j in body["jobs"]] == ["run", "bad"]


def test_list_jobs_status_of_only_commas_selects_nothing() -> None:
    # QUIRK(docs/protocol.md §8): a non-empty `status` that parses to no values is an empty filter.
    running, pending, history = _small_state()
    assert list_jobs(running, pending, history, status=",")["jobs"] == []
    assert len(list_jobs(running, pending, history, status="")["jobs"]) == 5


def test_list_jobs_workflow_id_filter() -> None:
    running, pending, history = _small_state()
    body = list_jobs(running, pending, history, workflow_id="wf")
    assert [j["id"] for j in body["jobs"]] == ["pend"]
    assert body["pagination"]["total"] == 1
    assert len(list_jobs(running, pending, history, workflow_id="")["jobs"]) == 5


def test_list_jobs_paging() -> None:
    running, pending, history = _small_state()
    body = list_jobs(running, pending, history, limit="2", offset="1", sort_order="ASC", sort_by="Created_At")
    assert [j["id"] for j in body["jobs"]] == ["bad", "run"]
    assert body["pagination"] == {"offset": 1, "limit": 2, "total": 5, "has_more": True}
    last = list_jobs(running, pending, history, limit=2, offset=4)
    assert last["pagination"] == {"offset": 4, "limit": 2, "total": 5, "has_more": False}
    beyond = list_jobs(running, pending, history, offset="9")
    assert beyond["jobs"] == [] and beyond["pagination"]["has_more"] is False


def test_list_jobs_negative_offset_clamps_to_zero() -> None:
    running, pending, history = _small_state()
    body = list_jobs(running, pending, history, offset="-5", limit="1")
    assert body["pagination"]["offset"] == 0
    assert [j["id"] for j in body["jobs"]] == ["front"]


def test_list_jobs_accepts_history_object() -> None:
    running, pending, history = _small_state()
    store = History()
    for wire in history.values():
        store.add(HistoryEntry.from_wire(wire))
    assert list_jobs(running, pending, store) == list_jobs(running, pending, history)


def test_get_job_lookup_order_and_not_found() -> None:
    running, pending, history = _small_state()
    assert get_job("run", running, pending, history)["status"] == "in_progress"
    assert get_job("pend", running, pending, history)["status"] == "pending"
    assert "outputs" in get_job("ok", running, pending, history)
    # A history entry wins over a queue item with the same id.
    dup = [QueueItem(9, "ok", {}, {}, [])]
    assert get_job("ok", dup, dup, history)["status"] == "completed"
    with pytest.raises(NotFoundError):
        get_job("nope", running, pending, history)
    store = History()
    store.add(HistoryEntry.from_wire(history["bad"]))
    assert get_job("bad", [], [], store) == get_job("bad", [], [], history)
    with pytest.raises(NotFoundError):
        get_job("ok", [], [], store)


# -- the recorded ComfyUI responses --------------------------------------------------------------


def test_history_vectors_normalise_to_recorded_jobs() -> None:
    jobs = {job["id"]: job for job in load("history_and_jobs.json")["GET /api/jobs"]["body"]["jobs"]}
    for prompt_id, entry in _recorded_history().items():
        assert _dumps(normalize_history_item(prompt_id, entry)) == _dumps(jobs[prompt_id])


def test_snapshot_with_running_and_pending() -> None:
    """The moment with one running and two pending prompts (history_and_jobs.json running_and_pending_snapshot)."""
    snapshot = load("history_and_jobs.json")["running_and_pending_snapshot"]
    queue_body = snapshot["GET /queue"]["body"]
    history = _all_history()
    running_ids = [item[1] for item in queue_body["queue_running"]]
    pending_ids = [item[1] for item in queue_body["queue_pending"]]
    past = {pid: entry for pid, entry in history.items() if pid not in running_ids + pending_ids}

    # Rebuild the queue through PromptQueue: long is taken by the worker, then the two are posted.
    queue = PromptQueue()
    (long_wire,) = queue_body["queue_running"]
    queue.put(QueueItem.from_wire(long_wire))
    assert queue.get(timeout=1) is not None
    by_id = {item[1]: item for item in queue_body["queue_pending"]}
    queue.put(QueueItem.from_wire(by_id["my-custom-id-1"]))
    queue.put(QueueItem.from_wire(by_id[pending_ids[0]]))
    assert _dumps([i.to_wire() for i in queue.pending()]) == _dumps(queue_body["queue_pending"])

    for key in ("GET /api/jobs", "GET /api/jobs?status=pending", "GET /api/jobs?status=in_progress",
                "GET /api/jobs?workflow_id=wf-long-0001"):
        recorded = snapshot[key]
        body = list_jobs(queue.running(), queue.pending(), past, **_query(recorded["request"]))
        assert _dumps(body) == _dumps(recorded["body"]), key
    for key in ("GET /api/jobs/{running}", "GET /api/jobs/{pending}"):
        recorded = snapshot[key]
        job_id = recorded["request"].rsplit("/", 1)[1]
        assert _dumps(get_job(job_id, queue.running(), queue.pending(), past)) == _dumps(recorded["body"])


def test_recorded_job_listings_after_all_runs() -> None:
    data = load("history_and_jobs.json")
    history = _all_history()
    keys = [k for k in data if k.startswith(("GET /api/jobs?", "GET /api/api/jobs?")) or k == "GET /api/jobs"]
    assert len(keys) == 13
    for key in keys:
        recorded = data[key]
        params = _query(recorded["request"])
        if recorded["status"] == 400:
            with pytest.raises(BadRequestError) as info:
                list_jobs([], [], history, **params)
            assert info.value.body == recorded["body"], key
        else:
            assert _dumps(list_jobs([], [], history, **params)) == _dumps(recorded["body"]), key


def test_recorded_job_details() -> None:
    data = load("history_and_jobs.json")
    history = _all_history()
    keys = [k for k in data if k.startswith("GET /api/jobs/")]
    assert len(keys) == 5
    for key in keys:
        recorded = data[key]
        job_id = recorded["request"].rsplit("/", 1)[1]
        if recorded["status"] == 404:
            assert recorded["body"] == {"error": "Job not found"}
            with pytest.raises(NotFoundError, match="Job not found"):
                get_job(job_id, [], [], history)
        else:
            assert _dumps(get_job(job_id, [], [], history)) == _dumps(recorded["body"]), key


def test_cancelled_filter_from_the_frontend_is_accepted_and_matches_nothing():
    from toucan_nb.runtime.jobs import list_jobs

    body = list_jobs([], [], {}, status="completed,failed,cancelled", limit="64", offset="0")
    assert body["jobs"] == [] and body["pagination"]["total"] == 0
