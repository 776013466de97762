"""Runtime: submission, the executor thread, futures, status events, persistence (docs/execution.md §3.1)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from toucan_nb.runtime import events as ev
from toucan_nb.runtime.errors import NotFoundError, PromptValidationError
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

from .executor_nodes import NODES


def graph(value: float = 1.0) -> dict:
    return {"1": {"class_type": "Const", "inputs": {"value": value}},
            "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}


def make_runtime(tmp_path, **kwargs) -> Runtime:
    rt = Runtime(RuntimeConfig(base_dir=str(tmp_path), **kwargs))
    for name, cls in NODES.items():
        rt.registry.register(name, cls)
    return rt


@pytest.fixture
def runtime(tmp_path):
    rt = make_runtime(tmp_path).start()
    yield rt
    rt.stop()


def test_run_returns_history_entry(runtime):
    entry = runtime.run(graph(2.0), timeout=30, client_id="c")
    wire = entry.to_wire()
    assert list(wire) == ["prompt", "outputs", "status", "meta"]
    assert wire["outputs"] == {"2": {"value": [2.0]}}
    assert wire["status"]["status_str"] == "success" and wire["status"]["completed"] is True
    number, prompt_id, prompt, extra, outputs = wire["prompt"]
    assert number == 0 and outputs == ["2"] and extra["client_id"] == "c" and "create_time" in extra
    assert runtime.history.get_one(prompt_id) == wire


def test_numbers_follow_comfyui_counter(runtime):
    a = runtime.submit(graph())
    with pytest.raises(PromptValidationError):
        runtime.submit({"1": {"class_type": "Nope", "inputs": {}}})
    b = runtime.submit(graph(), front=True)
    c = runtime.submit(graph(), number=7)
    assert (a.number, b.number, c.number) == (0, -2, 7)  # the failed submit advanced the counter
    for s in (a, b, c):
        runtime.future(s.prompt_id).result(30)


def test_sensitive_keys_are_kept_out_of_history(runtime):
    s = runtime.submit(graph(), extra_data={"api_key_comfy_org": "secret", "extra_pnginfo": {"workflow": {}}})
    entry = runtime.future(s.prompt_id).result(30)
    assert "api_key_comfy_org" not in entry.to_wire()["prompt"][3]
    assert entry.to_wire()["prompt"][3]["extra_pnginfo"] == {"workflow": {}}


def test_status_and_final_executing_order(runtime):
    seen: list[ev.Event] = []
    done = threading.Event()

    def on_event(e: ev.Event) -> None:
        seen.append(e)
        if isinstance(e, ev.Executing) and e.node is None:
            done.set()

    runtime.events.subscribe(on_event)
    runtime.submit(graph(3.0), client_id="c")
    assert done.wait(30)
    names = [e.name for e in seen]
    # docs/protocol.md §16 A: queued status, taken status, ..., success, final status, executing null.
    assert names[0] == "status" and names[1] == "status"
    assert names[-3:] == ["execution_success", "status", "executing"]
    assert [e.queue_remaining for e in seen if isinstance(e, ev.Status)] == [1, 1, 0]


def test_future_of_unknown_prompt_raises(runtime):
    with pytest.raises(NotFoundError):
        runtime.future("nope")


def test_delete_pending_cancels_future(tmp_path):
    rt = make_runtime(tmp_path)  # not started: everything stays pending
    s = rt.submit(graph())
    fut = rt.future(s.prompt_id)
    assert rt.delete_pending([s.prompt_id]) == 1
    assert fut.cancelled() and rt.queue.pending() == []


def test_pending_prompts_survive_a_restart(tmp_path):
    rt = make_runtime(tmp_path)
    s = rt.submit(graph(5.0))  # submitted before start: kept when the store opens
    rt.start()
    rt.future(s.prompt_id).result(30)
    rt.stop()
    # A second runtime over the same user dir sees the history and continues the counter.
    rt2 = make_runtime(tmp_path).start()
    try:
        assert rt2.history.get_one(s.prompt_id) is not None
        assert rt2.submit(graph()).number == 1
    finally:
        rt2.stop()


def test_queued_before_restart_runs_after(tmp_path):
    first = make_runtime(tmp_path)
    first._open_store()
    s = first.submit(graph(6.0))
    first.store.close()
    rt = make_runtime(tmp_path).start()
    try:
        entry = rt.future(s.prompt_id).result(30)
        assert entry.outputs == {"2": {"value": [6.0]}}
    finally:
        rt.stop()


def test_free_memory_drops_caches(runtime):
    runtime.run(graph(), timeout=30)
    runtime.free(free_memory=True)
    seen: list[ev.ExecutionCached] = []
    runtime.events.subscribe(lambda e: seen.append(e) if isinstance(e, ev.ExecutionCached) else None)
    runtime.run(graph(), timeout=30)
    assert seen[-1].nodes == []


def test_temp_dir_emptied_at_start_but_never_one_holding_other_folders(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    (temp / "old_preview.png").write_bytes(b"x")
    rt = make_runtime(tmp_path, persist=False).start()
    rt.stop()
    assert not (temp / "old_preview.png").exists()
    # A temp dir that contains the output dir is left alone.
    (tmp_path / "keep.txt").write_text("data")
    rt = Runtime(RuntimeConfig(base_dir=str(tmp_path), temp_dir=str(tmp_path), persist=False,
                               load_builtin_nodes=False)).start()
    rt.stop()
    assert (tmp_path / "keep.txt").read_text() == "data"


def test_a_started_runtimes_executor_is_driven_only_by_its_worker(runtime):
    runtime.run(graph(), timeout=30)  # the worker's loop is up
    with pytest.raises(RuntimeError, match="submit prompts through the runtime"):
        runtime.executor.execute(graph(), "direct", {}, ["2"])
    assert runtime.run(graph(3.0), timeout=30).outputs == {"2": {"value": [3.0]}}  # still serving


def test_back_to_back_prompts_give_the_loop_a_turn_for_what_prompts_left_on_it(runtime):
    import asyncio

    ran = threading.Event()

    class LeavesACallback:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("FLOAT", {})}}

        RETURN_TYPES = ("FLOAT",)
        FUNCTION = "run"
        OUTPUT_NODE = True

        def run(self, value):
            asyncio.get_running_loop().call_soon(ran.set)  # needs a loop turn to run
            return (value,)

    runtime.registry.register("LeavesACallback", LeavesACallback)
    first = runtime.submit({"1": {"class_type": "LeavesACallback", "inputs": {"value": 1.0}}})
    rest = [runtime.submit(graph(float(i))) for i in range(50)]  # keep the worker busy
    for s in (first, *rest):
        runtime.future(s.prompt_id).result(30)
    assert ran.wait(5)


def test_prompt_ids_are_unique_uuid4_also_after_fork():
    from toucan_nb.runtime.runtime import new_prompt_id

    ids = {new_prompt_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(uuid.UUID(i).version == 4 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its next id; the generator must not repeat the parent's
        os.write(write, new_prompt_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    assert child_id != new_prompt_id() and uuid.UUID(child_id).version == 4


_CRASHING_PROCESS = """
import os, sys, time
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

class Crash:
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        os._exit(3)  # the node takes the whole process down, as a segfault or the OOM killer would

rt = Runtime(RuntimeConfig(base_dir=sys.argv[1]))
rt.registry.register("Crash", Crash)
rt.start()
# The id comes from the test: the node may end the process before a print of it would run.
rt.submit({"1": {"class_type": "Crash", "inputs": {}}}, prompt_id=sys.argv[2])
time.sleep(30)
"""


def test_a_prompt_that_kills_the_process_is_an_error_after_restart_not_run_again(tmp_path):
    for _ in range(3):  # the running mark must be on disk before node code runs, every time
        base = tmp_path / uuid.uuid4().hex
        prompt_id = uuid.uuid4().hex
        child = subprocess.run([sys.executable, "-c", _CRASHING_PROCESS, str(base), prompt_id], capture_output=True,
                               text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                   os.path.dirname(os.path.abspath(__file__))))))
        assert child.returncode == 3, child.stderr
        rt = make_runtime(base).start()
        try:
            assert rt.queue.pending() == [] and rt.queue.running() == []
            assert rt.history.get_one(prompt_id)["status"]["status_str"] == "error"
        finally:
            rt.stop()
