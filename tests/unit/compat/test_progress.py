"""comfy.utils.ProgressBar and comfy.model_management interrupts, routed to the running prompt's
hooks (docs/execution.md §3.11, §5.1)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from toucan_nb.runtime.errors import ExecutionInterruptedError

from .conftest import FakeHooks, running


def test_update_absolute_clamps_and_reports_legacy_progress(runtime, hooks):
    from comfy.utils import ProgressBar

    with running(hooks, "7"):
        bar = ProgressBar(10)
        bar.update_absolute(4)
        bar.update_absolute(25)  # clamped to the total
        bar.update_absolute(30, total=40)  # a new total first
    assert [u[:3] for u in hooks.updates] == [("7", 4, 10), ("7", 10, 10), ("7", 30, 40)]
    assert all(u[4] is True for u in hooks.updates)  # legacy progress + preview path
    assert bar.current == 30 and bar.total == 40
    assert hooks.checks == 3  # an interrupt check on every update


def test_update_adds_to_current_and_passes_node_id_and_preview(runtime, hooks):
    from comfy.utils import ProgressBar

    preview = ("JPEG", object(), 512)
    with running(hooks, "7"):
        bar = ProgressBar(3, node_id="12")
        bar.update(1)
        bar.update(1)
        bar.update(5)
        bar.update_absolute(3, preview=preview)
    assert [u[:3] for u in hooks.updates] == [("12", 1, 3), ("12", 2, 3), ("12", 3, 3), ("12", 3, 3)]
    assert hooks.updates[-1][3] is preview


def test_progress_outside_any_prompt_does_nothing(runtime):
    from comfy.utils import ProgressBar

    bar = ProgressBar(2)
    bar.update(1)
    assert bar.current == 1


def test_interrupt_raises_from_progress_bar_once(runtime, hooks):
    import comfy.model_management as mm
    from comfy.utils import ProgressBar

    assert mm.InterruptProcessingException is ExecutionInterruptedError
    hooks.interrupted = True
    with running(hooks):
        bar = ProgressBar(5)
        with pytest.raises(mm.InterruptProcessingException):
            bar.update(1)
        bar.update(1)  # one-shot: the flag was consumed
    assert [u[1] for u in hooks.updates] == [2]


def test_hook_is_captured_at_construction(runtime, hooks):
    import comfy.utils

    seen = []
    original = comfy.utils.PROGRESS_BAR_HOOK
    with running(hooks):
        before = comfy.utils.ProgressBar(5)
        comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append(value))
        try:
            after = comfy.utils.ProgressBar(5)
            before.update(1)
            after.update(2)
        finally:
            comfy.utils.set_progress_bar_global_hook(original)
    assert seen == [2]
    assert [u[1] for u in hooks.updates] == [1]


def test_progress_bar_inside_concurrent_asyncio_tasks(runtime):
    from comfy.utils import ProgressBar

    first, second = FakeHooks(prompt_id="p1"), FakeHooks(prompt_id="p2")

    async def node(hooks: FakeHooks, node_id: str) -> None:
        with running(hooks, node_id):
            bar = ProgressBar(2)
            for _ in range(2):
                await asyncio.sleep(0)
                bar.update(1)

    async def main() -> None:
        await asyncio.gather(asyncio.create_task(node(first, "a")), asyncio.create_task(node(second, "b")))

    asyncio.run(main())
    assert [u[:2] for u in first.updates] == [("a", 1), ("a", 2)]
    assert [u[:2] for u in second.updates] == [("b", 1), ("b", 2)]


def test_thread_started_by_node_reaches_its_prompt(runtime, hooks):
    from comfy.utils import ProgressBar

    def worker() -> None:  # no context of its own: falls back to the most recent node
        ProgressBar(4).update(3)

    with running(hooks, "9"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
    assert [u[:3] for u in hooks.updates] == [("9", 3, 4)]


def test_throw_exception_if_processing_interrupted(runtime, hooks):
    import comfy.model_management as mm

    with running(hooks):
        mm.throw_exception_if_processing_interrupted()
        hooks.interrupted = True
        with pytest.raises(ExecutionInterruptedError):
            mm.throw_exception_if_processing_interrupted()
        mm.throw_exception_if_processing_interrupted()
    mm.throw_exception_if_processing_interrupted()  # no prompt: nothing to check


def test_processing_interrupted_does_not_consume_the_interrupt(runtime, hooks):
    import comfy.model_management as mm

    runtime.running_hooks = hooks
    with running(hooks):
        assert mm.processing_interrupted() is False
        hooks.interrupted = True
        assert mm.processing_interrupted() is True
        assert mm.processing_interrupted() is True
        # Re-armed in the runtime, so the executor's own check before the next node still fires.
        assert hooks.interrupted is True and runtime.interrupts == ["prompt-1", "prompt-1"]
        with pytest.raises(ExecutionInterruptedError):
            mm.throw_exception_if_processing_interrupted()
        assert mm.processing_interrupted() is False
    assert mm.processing_interrupted() is False


def test_processing_interrupted_without_a_runtime_to_rearm(runtime, hooks):
    import comfy.model_management as mm

    hooks.interrupted = True
    with running(hooks):
        assert mm.processing_interrupted() is True  # runtime.interrupt() did not reach this prompt
        assert hooks.interrupted is False
        assert mm.processing_interrupted() is True
        with pytest.raises(ExecutionInterruptedError):
            mm.throw_exception_if_processing_interrupted()
        mm.throw_exception_if_processing_interrupted()


def test_processing_interrupted_prefers_a_peek(runtime, hooks):
    import comfy.model_management as mm

    hooks.is_interrupted = lambda: True
    with running(hooks):
        assert mm.processing_interrupted() is True
    assert hooks.checks == 0


def test_interrupt_functions_interrupt_the_runtime(runtime):
    import comfy.model_management as mm
    import nodes

    mm.interrupt_current_processing()
    nodes.interrupt_processing()
    mm.interrupt_current_processing(False)
    assert runtime.interrupts == [None, None]
