"""Scale-out over Ray workers, on this machine (`--ray local` with declared GPUs; no CUDA needed).

Not a test: run `python bench/bench_scaleout.py [--prompts 8] [--events 20000] [--latency-reps 30]`
and read the table. Each part starts its own local Ray with the test node pack
(tests/scaleout/packs) and stops it:

1. throughput: N prompts of a node that sleeps 1 s, on 1 worker and on 2 workers (ratio, target 1.9);
2. event throughput: one prompt whose node reports `--events` progress updates as fast as it can;
   events per second reaching the driver's bus (each update is a `progress` and a
   `progress_state` event; target 20,000/s);
3. extra latency per prompt: a one-node prompt submitted and awaited one at a time, on one Ray
   worker and on the local executor (median; target at most 5 ms more);
4. model loads: a queue of prompts over three models, alternating, on 2 workers, with routing by
   loaded model and with first come, first served (fake loads counted by the node pack);
5. interrupt: a running prompt whose node reports progress every 10 ms is interrupted; time from
   `Runtime.interrupt` to its `execution_interrupted` event on the driver's bus (target < 100 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKS = str(REPO / "tests" / "scaleout" / "packs")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@contextmanager
def runtime(ray: str | None, workers: int = 1, **config: Any) -> Iterator[Any]:
    from toucan_nb.host.assembly import start_runtime
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    base = tempfile.mkdtemp(prefix="bench_scaleout_")
    rt = start_runtime(Runtime(RuntimeConfig(base_dir=base, cpu=True, persist=False, ray=ray, ray_workers=workers,
                                             ray_num_gpus=2 if ray else None, custom_node_dirs=[PACKS],
                                             ray_worker_prefix=f"bench-{os.getpid()}-{workers}", **config)))
    try:
        yield rt
    finally:
        rt.stop()


def sleep_prompt(seconds: float, tag: str) -> dict[str, Any]:
    return {"1": {"class_type": "ScaleoutSleep", "inputs": {"seconds": seconds, "tag": tag}},
            "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}


def model_prompt(model: str, index: int, log: str) -> dict[str, Any]:
    """Load `model` (logged to `log` on a real load), then sleep 0.3 s (a little more per index, so
    every prompt runs)."""
    return {"1": {"class_type": "ScaleoutLoadFakeModel", "inputs": {"model_name": model, "log": log}},
            "2": {"class_type": "ScaleoutSleep", "inputs": {"seconds": 0.3 + index / 1000, "tag": ["1", 0]}},
            "3": {"class_type": "ScaleoutReport", "inputs": {"text": ["2", 0]}}}


def run_all(rt: Any, prompts: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    ids = [rt.submit(p).prompt_id for p in prompts]
    for prompt_id in ids:
        assert rt.future(prompt_id).result(600).status_str == "success"
    return time.perf_counter() - start


def throughput(n: int) -> dict[int, float]:
    out = {}
    for workers in (1, 2):
        with runtime("local", workers) as rt:
            run_all(rt, [sleep_prompt(0.01, "warm")] * workers)
            out[workers] = run_all(rt, [sleep_prompt(1.0, f"t{i}") for i in range(n)])
    return out


def event_rate(count: int) -> float:
    with runtime("local", 1) as rt:
        seen = [0]
        first: list[float] = []
        last = [0.0]
        lock = threading.Lock()

        def on_event(event: Any) -> None:
            if event.name in ("progress", "progress_state"):
                with lock:
                    if not first:
                        first.append(time.perf_counter())
                    seen[0] += 1
                    last[0] = time.perf_counter()

        rt.events.subscribe(on_event)
        prompt = {"1": {"class_type": "ScaleoutChatter", "inputs": {"count": count}},
                  "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}
        run_all(rt, [prompt])
        return seen[0] / max(1e-9, last[0] - first[0])


def latency(reps: int) -> dict[str, float]:
    out = {}
    for label, ray in (("local executor", None), ("1 Ray worker", "local")):
        with runtime(ray, 1) as rt:
            times = []
            for i in range(reps + 3):
                prompt = sleep_prompt(0.0, f"l{i}")  # a new tag: never a cache hit
                start = time.perf_counter()
                assert rt.run(prompt, timeout=60).status_str == "success"
                times.append(time.perf_counter() - start)
            out[label] = statistics.median(times[3:])
    return out


def model_loads(n: int) -> dict[str, int]:
    out = {}
    models = ["m1.safetensors", "m2.safetensors", "m3.safetensors"]
    for label, lookahead in (("routing", None), ("first come", 0)):
        with runtime("local", 2) as rt:
            if lookahead is not None:
                rt.backend.lookahead = lookahead
            log = Path(tempfile.mkdtemp(prefix="bench_loads_")) / "model_loads.txt"
            run_all(rt, [model_prompt(models[i % 3], i, str(log)) for i in range(n)])
            out[label] = len([line for line in log.read_text().splitlines() if line])
    return out


def interrupt_once(rt: Any, tag: str) -> float:
    running, interrupted = threading.Event(), threading.Event()
    target: dict[str, str] = {}

    def on_event(event: Any) -> None:
        if getattr(event, "prompt_id", None) != target.get("id"):
            return
        if event.name == "progress":
            running.set()
        elif event.name == "execution_interrupted":
            interrupted.set()

    unsubscribe = rt.events.subscribe(on_event)
    try:
        target["id"] = rt.submit(sleep_prompt(30.0, tag)).prompt_id
        assert running.wait(60)
        start = time.perf_counter()
        rt.interrupt(target["id"])
        assert interrupted.wait(30)
        took = time.perf_counter() - start
        rt.future(target["id"]).result(30)
        return took
    finally:
        unsubscribe()


def interrupt_latency(reps: int = 5) -> list[float]:
    with runtime("local", 1) as rt:
        return [interrupt_once(rt, f"i{i}") for i in range(reps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--latency-reps", type=int, default=30)
    parser.add_argument("--mixed", type=int, default=12)
    parser.add_argument("--only-interrupt", action="store_true", help="run part 5 alone")
    args = parser.parse_args()
    if args.only_interrupt:
        stops = interrupt_latency()
        print(f"5. interrupt -> execution_interrupted: median {statistics.median(stops) * 1000:.1f} ms, "
              f"max {max(stops) * 1000:.1f} ms (target < 100)")
        return
    sys.path.insert(0, str(REPO))
    t = throughput(args.prompts)
    print(f"1. {args.prompts} x 1 s prompts: 1 worker {t[1]:.2f} s, 2 workers {t[2]:.2f} s, "
          f"ratio {t[1] / t[2]:.2f} (target >= 1.9)")
    rate = event_rate(args.events)
    print(f"2. events from one worker: {rate:,.0f} events/s (target >= 20,000)")
    lat = latency(args.latency_reps)
    extra = (lat["1 Ray worker"] - lat["local executor"]) * 1000
    print(f"3. one-node prompt, submit -> history: local {lat['local executor'] * 1000:.2f} ms, "
          f"Ray {lat['1 Ray worker'] * 1000:.2f} ms, extra {extra:.2f} ms (target <= 5)")
    loads = model_loads(args.mixed)
    print(f"4. {args.mixed} prompts over 3 models on 2 workers: model loads with routing {loads['routing']}, "
          f"first come {loads['first come']}")
    stops = interrupt_latency()
    print(f"5. interrupt -> execution_interrupted: median {statistics.median(stops) * 1000:.1f} ms, "
          f"max {max(stops) * 1000:.1f} ms (target < 100)")


if __name__ == "__main__":
    main()
