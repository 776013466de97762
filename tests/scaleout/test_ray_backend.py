"""Prompts on Ray workers: events as the local executor sends them, concurrency, cancel, faults,
routing by loaded model, /free and /system_stats (docs/scale-out.md). Each waits on events or
futures with timeouts; none sleeps and hopes."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from toucan_nb.runtime import events as ev

pytestmark = pytest.mark.timeout(300)


def sleep_prompt(seconds: float, tag: str = "") -> dict[str, Any]:
    return {"1": {"class_type": "ScaleoutSleep", "inputs": {"seconds": seconds, "tag": tag}},
            "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}


def model_prompt(model: str, seconds: float = 0.2) -> dict[str, Any]:
    return {"1": {"class_type": "ScaleoutLoadFakeModel", "inputs": {"model_name": model}},
            "2": {"class_type": "ScaleoutSleep", "inputs": {"seconds": seconds, "tag": ["1", 0]}},
            "3": {"class_type": "ScaleoutReport", "inputs": {"text": ["2", 0]}}}


class Recorder:
    """Events of the runtime's bus, by prompt; `wait_for` blocks until a predicate holds."""

    def __init__(self, rt: Any) -> None:
        self.events: list[ev.Event] = []
        self.cond = threading.Condition()
        self.unsubscribe = rt.events.subscribe(self.add)

    def add(self, event: ev.Event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of(self, prompt_id: str) -> list[ev.Event]:
        with self.cond:
            return [e for e in self.events if getattr(e, "prompt_id", None) == prompt_id]

    def wait_for(self, predicate: Any, timeout: float = 60) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self), timeout), "timed out waiting for events"


@pytest.fixture
def recorder(rt: Any) -> Any:
    r = Recorder(rt)
    yield r
    r.unsubscribe()


def shape(events: list[ev.Event]) -> list[tuple[Any, ...]]:
    """What a client sees of a prompt's events, without times and process ids."""
    out = []
    for e in events:
        data = e.data()
        node = data.get("node") or data.get("node_id") or ""
        if e.name == "progress_state":
            node = tuple(sorted((k, v["state"]) for k, v in data["nodes"].items()))
        out.append((e.name, node, data.get("value"), data.get("max")))
    return out


def test_prompt_events_are_the_local_executors(rt: Any, recorder: Any) -> None:
    prompt = sleep_prompt(0.05, "order")
    remote = rt.submit(prompt, client_id="c1")
    rt.future(remote.prompt_id).result(60)
    # The same prompt on this process's own executor (the driver's, unused otherwise).
    local_id = "local-order"
    result = rt.executor.execute(prompt, local_id, {"client_id": "c1"}, ["2"])
    assert result.success
    remote_events = [e for e in recorder.of(remote.prompt_id) if not (e.name == "executing" and e.data()["node"] is None)]
    assert shape(remote_events) == shape(recorder.of(local_id))
    assert [e.client_id for e in remote_events] == ["c1"] * len(remote_events)
    # The bus numbers events in publishing order; a prompt's events keep the worker's order.
    seqs = [e.seq for e in recorder.of(remote.prompt_id)]
    assert seqs == sorted(seqs)
    assert recorder.of(remote.prompt_id)[-1].data() == {"node": None, "prompt_id": remote.prompt_id}


def test_two_prompts_run_at_the_same_time_on_two_workers(rt: Any) -> None:
    start = time.monotonic()
    ids = [rt.submit(sleep_prompt(1.0, f"p{i}")).prompt_id for i in range(2)]
    entries = [rt.future(i).result(60) for i in ids]
    elapsed = time.monotonic() - start
    pids = {e.outputs["2"]["text"][0].split("@")[1] for e in entries}
    assert all(e.status_str == "success" for e in entries)
    assert len(pids) == 2, "both prompts ran in one worker"
    assert elapsed < 1.8, f"two 1 s prompts took {elapsed:.2f} s on two workers"
    assert all("toucan_worker" not in e.prompt.extra_data for e in entries)  # history stays ComfyUI's


def test_cancel_queued_and_running_prompts(rt: Any, recorder: Any) -> None:
    a, b, c = (rt.submit(sleep_prompt(30, f"long{i}")).prompt_id for i in range(3))
    recorder.wait_for(lambda r: all(any(e.name == "progress" for e in r.of(p)) for p in (a, b)))
    running, pending = rt.queue_listing()
    assert {i.prompt_id for i in running} == {a, b} and [i.prompt_id for i in pending] == [c]
    assert {i.extra_data["toucan_worker"] for i in running} == {s.name for s in rt.backend.slots}
    # Deleting a queued prompt: gone, its future cancelled.
    future_c = rt.future(c)
    assert rt.delete_pending([c]) == 1
    assert future_c.cancelled()
    # Interrupting a running prompt, and deleting the other one while it runs.
    for prompt_id, cancel in ((a, lambda: rt.interrupt(a)), (b, lambda: rt.delete_pending([b]))):
        future = rt.future(prompt_id)
        t0 = time.monotonic()
        cancel()
        recorder.wait_for(lambda r, p=prompt_id: any(e.name == "execution_interrupted" for e in r.of(p)), timeout=30)
        took = time.monotonic() - t0
        assert took < 2.0, f"interrupt took {took:.3f} s"
        assert future.result(30).status_str == "error"
    assert rt.queue.remaining() == 0


def test_a_worker_killed_mid_prompt_fails_the_attempt_then_the_retry_succeeds(rt: Any, recorder: Any,
                                                                              tmp_path: Path) -> None:
    marker = str(tmp_path / "crashed-once")
    prompt = {"1": {"class_type": "ScaleoutCrashOnce", "inputs": {"marker": marker}},
              "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}
    crash = rt.submit(prompt, client_id="c2").prompt_id
    later = rt.submit(sleep_prompt(0.05, "after")).prompt_id
    entry = rt.future(crash).result(180)
    assert os.path.exists(marker)
    errors = [e for e in recorder.of(crash) if e.name == "execution_error"]
    assert len(errors) == 1 and "lost Ray worker" in errors[0].data()["exception_message"]
    assert errors[0].data()["exception_type"] == "WorkerLostError"
    assert entry.status_str == "success" and entry.outputs["2"]["text"][0].startswith("survived@")
    assert [m[0] for m in entry.messages][:2] == ["execution_error", "execution_start"]
    assert rt.future(later).result(120).status_str == "success"
    assert rt.history.entry(crash) is not None and rt.queue.remaining() == 0
    assert rt.backend.wait_until_ready(120), "the lost worker did not come back"


def loads(rt: Any) -> Counter[str]:
    path = Path(rt.folders.output_dir) / "model_loads.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return Counter(line for line in lines if line)


def test_an_idle_worker_takes_the_prompt_whose_model_it_holds(rt: Any, recorder: Any, tmp_path: Path) -> None:
    rt.free(unload_models=True)
    before = loads(rt)
    # Both workers held by a gate, a mixed list queued behind them, then both let go at once: each
    # worker takes one model first and then the prompts of the model it holds. (With timed
    # blockers, a worker that started late under load left the other free long enough to run out
    # of its own model's prompts and load the second model too.)
    go = tmp_path / "go"
    blockers = [rt.submit({"1": {"class_type": "ScaleoutGate", "inputs": {"path": str(go), "tag": f"gate{n}"}},
                           "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}).prompt_id
                for n in range(2)]
    recorder.wait_for(lambda r: all(any(e.name == "executing" and e.data()["node"] == "1" for e in r.of(p))
                                    for p in blockers))  # both workers run a gate
    # Each prompt differs (its sleep), so each runs; the loader of a held model is a cache hit.
    models = ("route-a.safetensors", "route-b.safetensors") * 4
    ids = [rt.submit(model_prompt(m, 0.2 + i / 1000)).prompt_id for i, m in enumerate(models)]
    go.touch()
    for prompt_id in [*blockers, *ids]:
        assert rt.future(prompt_id).result(120).status_str == "success"
    new = loads(rt) - before
    assert sum(new.values()) == 2, f"model loads: {dict(new)}"
    # Each model stayed on one worker (the Report text ends with the worker's pid).
    by_model: dict[str, set[str]] = {}
    for prompt_id in ids:
        entry = rt.history.entry(prompt_id)
        model = entry.prompt.prompt["1"]["inputs"]["model_name"]
        by_model.setdefault(model, set()).add(entry.outputs["3"]["text"][0].rsplit("@", 1)[1])
    assert all(len(workers) == 1 for workers in by_model.values()), by_model


def test_free_reaches_every_worker_and_system_stats_lists_them(rt: Any) -> None:
    assert rt.backend.wait_until_ready(120)  # a worker lost by an earlier test is back
    devices = rt.devices()
    assert [d["name"].split(":")[0] for d in devices] == [s.name for s in rt.backend.slots]
    rt.free(unload_models=True, free_memory=True)
    assert all(slot.models == frozenset() for slot in rt.backend.slots)
    import ray

    infos = ray.get([slot.actor.info.remote() for slot in rt.backend.slots])
    assert [info["models"] for info in infos] == [[], []]
