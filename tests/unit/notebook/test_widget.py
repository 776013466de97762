"""ProgressWidget's Python side: hand-over from the executor thread, coalescing, preview throttle,
binary frames, the interrupt message, final images; and the built front end it ships."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from toucan_nb.notebook.widget import ProgressWidget
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.events import EventBus
from toucan_nb.runtime.preview import EncodedPreview

TIMEOUT = 10
PROMPT = {"1": {"class_type": "Sampler", "inputs": {}}, "2": {"class_type": "SaveImage", "inputs": {}}}


class Sent:
    """Replaces widget._deliver: records frames; can hold the pump inside a delivery."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list[bytes]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.got = threading.Condition()

    def __call__(self, content, buffers=None):
        self.entered.set()
        assert self.release.wait(TIMEOUT)
        with self.got:
            self.messages.append((content, [bytes(b) for b in buffers or []]))
            self.got.notify_all()

    def previews(self) -> list[bytes]:
        return [bufs[0] for content, bufs in self.messages if content["type"] == "preview"]

    def wait_for(self, count: int) -> None:
        with self.got:
            assert self.got.wait_for(lambda: len(self.messages) >= count, TIMEOUT)


@pytest.fixture
def fake_runtime(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    folders = SimpleNamespace(directory_by_type=lambda t: str(out) if t == "output" else None)
    return SimpleNamespace(events=EventBus(), folders=folders,
                           interrupt=lambda pid=None: True,
                           delete_pending=lambda ids: 0, out_dir=out)


def watch(rt, max_fps=15.0, **kwargs):
    widget = ProgressWidget.watch(rt, "p", PROMPT, max_fps=max_fps, **kwargs)
    sent = Sent()
    widget._deliver = sent
    return widget, sent


def preview(i: int) -> ev.PreviewImage:
    return ev.PreviewImage(image=EncodedPreview.from_bytes("JPEG", f"frame-{i}".encode()), prompt_id="p",
                           node_id="1", display_node_id="1", real_node_id="1")


def progress(i: int, n: int) -> ev.ProgressState:
    return ev.ProgressState(prompt_id="p", entry=ev.NodeProgress("1", "running", i, n, "p", "1", None, "1"))


def test_initial_state_comes_from_the_prompt():
    widget = ProgressWidget(None, "p", PROMPT, can_interrupt=False)
    assert widget.status == "pending" and widget.prompt_id == "p" and widget.can_interrupt is False
    assert [r["node_id"] for r in widget.nodes] == ["1", "2"]


def test_newest_preview_wins_while_the_pump_is_busy(fake_runtime):
    widget, sent = watch(fake_runtime)
    sent.release.clear()
    fake_runtime.events.publish(preview(0))
    assert sent.entered.wait(TIMEOUT)  # the pump is now inside send() with frame 0
    for i in range(1, 50):
        fake_runtime.events.publish(preview(i))
    sent.release.set()
    sent.wait_for(2)
    fake_runtime.events.publish(ev.ExecutionSuccess(prompt_id="p"))
    assert widget.finished.wait(TIMEOUT)
    assert sent.previews() == [b"frame-0", b"frame-49"]
    content = next(c for c, _ in sent.messages if c["type"] == "preview")
    assert content == {"type": "preview", "node_id": "1", "mime": "image/jpeg"}


def test_the_executor_thread_never_waits_for_the_widget(fake_runtime):
    widget, sent = watch(fake_runtime)
    sent.release.clear()
    fake_runtime.events.publish(preview(0))
    assert sent.entered.wait(TIMEOUT)
    started = time.perf_counter()
    for i in range(2000):  # the pump is stuck in send(): publishing must not care
        fake_runtime.events.publish(progress(i, 2000))
        fake_runtime.events.publish(preview(i))
    assert time.perf_counter() - started < 1.0
    sent.release.set()
    fake_runtime.events.publish(ev.ExecutionSuccess(prompt_id="p"))
    assert widget.finished.wait(TIMEOUT)


@pytest.mark.slow
def test_previews_and_state_are_limited_to_max_fps(fake_runtime):
    widget, sent = watch(fake_runtime, max_fps=15.0)
    updates = []
    widget.observe(lambda change: updates.append(change["new"]), names="nodes")
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < 1.0:  # an executor streaming ~1000 steps a second
        fake_runtime.events.publish(progress(i, 100000))
        fake_runtime.events.publish(preview(i))
        i += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    fake_runtime.events.publish(ev.ExecutionSuccess(prompt_id="p"))
    assert widget.finished.wait(TIMEOUT)
    allowed = elapsed * 15 + 2
    assert 5 <= len(sent.previews()) <= allowed, (len(sent.previews()), i)
    assert len(updates) <= allowed + 1, len(updates)
    assert widget.status == "success"
    assert widget.nodes[0]["value"] > 0


def test_terminal_state_is_flushed_at_once_and_the_pump_stops(fake_runtime):
    widget, sent = watch(fake_runtime, max_fps=0.5)  # one update per 2 s at most ...
    fake_runtime.events.publish(ev.ExecutionStart(prompt_id="p"))
    fake_runtime.events.publish(progress(1, 2))
    fake_runtime.events.publish(ev.ExecutionError(prompt_id="p", node_id="1", node_type="Sampler",
                                                  exception_message="boom"))
    assert widget.finished.wait(1.5)  # ... but the end is not held back
    assert widget.status == "error" and widget.message == "Sampler (node 1): boom"
    assert not fake_runtime.events.has_subscribers


def test_events_of_other_prompts_do_not_reach_the_widget(fake_runtime):
    widget, sent = watch(fake_runtime)
    fake_runtime.events.publish(ev.ExecutionSuccess(prompt_id="other"))
    fake_runtime.events.publish(ev.PreviewImage(image=EncodedPreview.from_bytes("PNG", b"x"), prompt_id="other"))
    assert not widget.finished.wait(0.2)
    assert widget.status == "pending" and sent.messages == []
    widget.close()
    assert widget.finished.wait(TIMEOUT)


def test_final_images_are_sent_as_png_thumbnails(fake_runtime):
    from PIL import Image

    Image.new("RGB", (1024, 512), (255, 0, 0)).save(fake_runtime.out_dir / "big.png")
    widget, sent = watch(fake_runtime)
    fake_runtime.events.publish(ev.Executed(node="2", display_node="2", prompt_id="p", output={"images": [
        {"filename": "big.png", "subfolder": "", "type": "output"},
        {"filename": "../escape.png", "subfolder": "", "type": "output"},
        {"filename": "missing.png", "subfolder": "", "type": "output"}]}))
    fake_runtime.events.publish(ev.ExecutionSuccess(prompt_id="p"))
    assert widget.finished.wait(TIMEOUT)
    finals = [(c, bufs) for c, bufs in sent.messages if c["type"] == "final"]
    assert len(finals) == 1
    content, buffers = finals[0]
    assert content == {"type": "final", "mime": "image/png", "count": 1}
    import io

    with Image.open(io.BytesIO(buffers[0])) as img:
        assert img.format == "PNG" and img.size == (512, 256)


def test_frames_are_synced_state_so_a_late_view_still_gets_them():
    widget = ProgressWidget(None, "p", PROMPT)
    widget._deliver({"type": "preview", "node_id": "7", "mime": "image/png"}, [b"png-bytes"])
    assert (widget.preview, widget.preview_mime, widget.preview_node) == (b"png-bytes", "image/png", "7")
    widget._deliver({"type": "final", "mime": "image/png", "count": 2}, [b"a", b"b"])
    assert widget.final_images == [b"a", b"b"]
    state = widget.get_state()
    assert state["preview"] == b"png-bytes" and state["final_images"] == [b"a", b"b"]


def test_interrupt_message_cancels_through_the_handle(fake_runtime):
    widget, _ = watch(fake_runtime)
    cancelled = []
    from concurrent.futures import Future

    handle = SimpleNamespace(cancel=lambda: cancelled.append(True) or True, future=Future())
    widget.set_handle(handle)
    widget._on_front_end_message(widget, {"type": "interrupt"}, [])
    widget._on_front_end_message(widget, {"type": "something else"}, [])
    assert cancelled == [True]
    handle.future.cancel()  # removed from the queue before it ran
    assert widget.finished.wait(TIMEOUT)
    assert widget.status == "cancelled"


def test_interrupt_without_a_handle_uses_the_runtime(fake_runtime):
    calls = []
    fake_runtime.delete_pending = lambda ids: calls.append(("delete", list(ids))) or 0
    fake_runtime.interrupt = lambda pid=None: calls.append(("interrupt", pid)) or True
    widget, _ = watch(fake_runtime)
    assert widget.interrupt() is True
    assert calls == [("delete", ["p"]), ("interrupt", "p")]
    widget.close()


def test_failed_submission_shows_the_error(fake_runtime):
    widget, _ = watch(fake_runtime)
    widget.fail(ValueError("Prompt outputs failed validation"))
    assert widget.finished.wait(TIMEOUT)
    assert widget.status == "error" and "failed validation" in widget.message


def test_the_shipped_front_end_is_the_built_esm():
    from toucan_nb.notebook import widget as widget_module

    static = widget_module._STATIC / "widget.js"
    text = static.read_text()
    assert ProgressWidget(None, "p")._esm == text  # what the front end receives
    assert text.startswith("// Generated from js/src/widget.js")
    assert "export {" in text and "render" in text and "widget_default as default" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from a CDN


def test_queue_with_progress_shows_a_widget_that_follows_the_real_runtime(runtime, capsys):
    from toucan_nb.notebook.namespace import NodeNamespace

    nodes = NodeNamespace(runtime.registry)
    total = nodes.Add(a=nodes.Number(value=1), b=1)
    handle = total.queue(runtime=runtime, progress=True, display_images=False)
    assert handle.widget is not None
    assert handle.wait(TIMEOUT)[total] == 2
    assert handle.widget.finished.wait(TIMEOUT)
    assert handle.widget.status == "success"
    states = {r["node_id"]: r["state"] for r in handle.widget.nodes}
    assert set(states) == {total.node.id, "1"} and set(states.values()) <= {"finished", "cached"}
    assert "ProgressWidget" in capsys.readouterr().out  # displayed (as text outside a kernel)
