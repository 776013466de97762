"""The notebook cell API on Ray workers (docs/scale-out.md §2): captured outputs come back to the
cell from the worker that ran the prompt, and node classes defined in a cell (which no worker can
import) run on every worker, in their latest definition."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from toucan_nb.notebook import Workflow, node

pytestmark = pytest.mark.timeout(300)

WAIT = 120


def test_a_captured_output_comes_back_from_the_worker(rt: Any) -> None:
    wf = Workflow.from_api({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4, "batch_size": 2, "color": 0x336699}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    }, registry=rt.registry)
    result = wf.run(wf["2"].out(0), runtime=rt, timeout=WAIT, progress=False, display_images=False)
    image = result[wf["2"].out(0)]
    assert tuple(image.shape) == (2, 4, 8, 3)
    expected = [1 - 0x33 / 255, 1 - 0x66 / 255, 1 - 0x99 / 255]
    assert [round(float(v), 5) for v in image[1, 3, 7]] == [round(v, 5) for v in expected]


def define_cell_class(rt: Any, factor: int) -> type:
    """A node class as a notebook cell defines it: local, so no worker can import it by name."""

    class CellScale:
        CATEGORY = "testing"
        RETURN_TYPES = ("INT", "INT")
        RETURN_NAMES = ("value", "pid")
        FUNCTION = "scale"

        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"value": ("INT", {"default": 1}), "hold": ("FLOAT", {"default": 0.0})}}

        def scale(self, value: int, hold: float) -> tuple[int, int]:
            # Holds so that two prompts at once occupy both workers.
            deadline = time.monotonic() + hold
            while time.monotonic() < deadline:
                time.sleep(0.01)
            return (value * factor, os.getpid())

    return node(runtime=rt)(CellScale)


def run_on_both_workers(rt: Any, values: tuple[int, int]) -> list[tuple[int, int]]:
    """Queue one CellScale prompt per value at once and return each prompt's (value, pid)."""
    handles = []
    for value in values:
        wf = Workflow.from_api({"1": {"class_type": "CellScale", "inputs": {"value": value, "hold": 1.0}}},
                               registry=rt.registry)
        handles.append((wf, wf.queue(wf["1"], runtime=rt, progress=False, display_images=False)))
    results = [handle.wait(WAIT) for _, handle in handles]
    return [result[wf["1"]] for (wf, _), result in zip(handles, results, strict=True)]


def test_a_cell_defined_class_runs_on_every_worker_in_its_latest_version(rt: Any) -> None:
    define_cell_class(rt, 10)
    first = run_on_both_workers(rt, (1, 2))
    assert [value for value, _ in first] == [10, 20]
    pids = {pid for _, pid in first}
    assert len(pids) == 2 and os.getpid() not in pids  # ran on the two workers, not here

    define_cell_class(rt, 100)  # the cell is edited and run again: same name, same inputs
    second = run_on_both_workers(rt, (1, 2))
    assert [value for value, _ in second] == [100, 200]  # no worker served the old class's cache
    assert {pid for _, pid in second} == pids


class DriverOnly:
    """Registered on the driver as a pack would be, without `process_local`: no worker has it."""

    CATEGORY = "testing"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 1})}}

    def run(self, value: int) -> dict[str, Any]:
        return {"ui": {"text": [str(value)]}}


def test_a_class_no_worker_has_fails_the_prompt_once_with_the_cause(rt: Any) -> None:
    rt.registry.register("ScaleoutDriverOnly", DriverOnly)
    try:
        submission = rt.submit({"1": {"class_type": "ScaleoutDriverOnly", "inputs": {"value": 3}}})
        entry = rt.future(submission.prompt_id).result(WAIT)
    finally:
        rt.registry.unregister("ScaleoutDriverOnly")
    assert entry.status_str == "error"
    errors = [data for name, data in entry.messages if name == "execution_error"]
    assert len(errors) == 1, entry.messages  # failed on a live worker: not retried as a lost one
    assert errors[0]["exception_type"] == "NotFoundError"
    assert errors[0]["exception_message"].startswith("internal error on Ray worker ")
    assert "'ScaleoutDriverOnly' is not registered" in errors[0]["exception_message"]
    # Both workers still take prompts.
    wf = Workflow.from_api({"1": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "batch_size": 1,
                                                                          "color": 0}}},
                           registry=rt.registry)
    assert tuple(wf.run(wf["1"].out(0), runtime=rt, timeout=WAIT, progress=False, display_images=False)
                 [wf["1"].out(0)].shape) == (1, 2, 2, 3)
