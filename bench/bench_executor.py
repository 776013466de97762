"""Executor overhead: EmptyImage(8x8) -> ImageInvert x N -> PreviewImage, in-process.

Not a test: run `python bench/bench_executor.py [--sizes 10,100,500] [--reps 7]` and read the table.
"Uncached" changes EmptyImage's colour every repetition so every node runs; "cached" re-submits
the identical prompt so every node is a cache hit. Each figure is the median over repetitions of
submit -> history entry through `Runtime.run` (validation, queue, executor thread, history), and,
for comparison, of `PromptExecutor.execute` alone on an already validated prompt.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from typing import Any

from toucan_nb.host.assembly import start_runtime
from toucan_nb.runtime.events import EventBus
from toucan_nb.runtime.executor import PromptExecutor
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig
from toucan_nb.runtime.validation import validate_prompt


def chain(n: int, color: int) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "0": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}}
    }
    for i in range(1, n + 1):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt["out"] = {"class_type": "PreviewImage", "inputs": {"images": [str(n), 0]}}
    return prompt


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(rt: Runtime, n: int, reps: int, color_base: int) -> dict[str, float]:
    end_to_end_cold, end_to_end_warm, exec_cold, exec_warm = [], [], [], []
    for rep in range(reps):
        color = color_base + rep
        cold, warm = chain(n, color), chain(n, color)  # built outside the timed part
        gc.collect()
        end_to_end_cold.append(timed(lambda p=cold: rt.run(p, timeout=600)))
        end_to_end_warm.append(timed(lambda p=warm: rt.run(p, timeout=600)))
    # The executor alone, from a validated prompt: a PromptExecutor of its own on this thread (the
    # runtime's serves its queue on the runtime's thread), with the same registry.
    ex = PromptExecutor(rt.registry, EventBus())
    for rep in range(reps):
        prompt = chain(n, color_base + 10_000 + rep)
        outputs = validate_prompt(prompt, rt.registry).outputs
        exec_cold.append(timed(lambda p=prompt, o=outputs: ex.execute(p, "bench", {}, o)))
        prompt = chain(n, color_base + 10_000 + rep)
        validate_prompt(prompt, rt.registry)
        exec_warm.append(timed(lambda p=prompt, o=outputs: ex.execute(p, "bench", {}, o)))
    med = statistics.median
    return {"e2e_cold": med(end_to_end_cold), "e2e_warm": med(end_to_end_warm),
            "exec_cold": med(exec_cold), "exec_warm": med(exec_warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100,500,1000,2000,5000")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--persist", action="store_true", help="keep the SQLite store on (default off)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as base:
        rt = start_runtime(Runtime(RuntimeConfig(base_dir=base, persist=args.persist)))
        try:
            rt.run(chain(20, 1), timeout=60)  # warm torch and the node classes
            from toucan_nb.runtime.device import get_torch_device

            print(f"nodes run on {get_torch_device()}")
            print(f"{'N':>6} {'e2e uncached':>13} {'e2e cached':>11} {'exec uncached':>14} {'exec cached':>12}"
                  f" {'us/node unc':>12} {'us/node cached':>15}")
            for i, n in enumerate(sizes):
                gc.collect()
                r = measure(rt, n, args.reps, 1000 * (i + 1))
                print(f"{n:>6} {r['e2e_cold'] * 1e3:>10.2f} ms {r['e2e_warm'] * 1e3:>8.2f} ms"
                      f" {r['exec_cold'] * 1e3:>11.2f} ms {r['exec_warm'] * 1e3:>9.2f} ms"
                      f" {r['e2e_cold'] * 1e6 / n:>12.1f} {r['e2e_warm'] * 1e6 / n:>15.2f}")
        finally:
            rt.stop()


if __name__ == "__main__":
    main()
