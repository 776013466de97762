"""`ProgressWidget`: an anywidget showing one prompt's per-node progress, live previews and an
interrupt button; its front end is `static/widget.js` (built from `js/src/widget.js`).

Threads. Events arrive on the executor thread (`EventBus` subscribers run on the publisher). The
subscriber only folds the event into a `ProgressFold` / `FrameThrottle` under a lock and wakes the
widget's pump thread; it never encodes, sends or waits. The pump thread ("toucan-progress") sends
coalesced trait updates and preview frames (binary `Bytes` traits, newest wins, at most `max_fps`
a second: ipywidgets messages may be sent from a background thread, and the rate limit keeps the
kernel's iopub channel free), and at the end the final images. Frames are traits, not custom
messages, because a view the browser renders late (a busy page) reads the model's current state,
whereas a custom message that arrives before the view listens is lost. It exits when the
prompt ends. The interrupt button's message arrives on the shell thread; it cancels through the
prompt's handle (delete when pending, interrupt when running).

Note: while a cell blocks in `Workflow.run()`, the kernel does not read widget messages, so the
button is hidden then (`can_interrupt=False`); the kernel's stop button interrupts the prompt.
`Workflow.queue()` returns at once and its widget's button works.
"""

from __future__ import annotations

import math
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from toucan_nb.notebook.progress import FrameThrottle, ProgressFold
from toucan_nb.runtime import events as ev

_STATIC = pathlib.Path(__file__).parent / "static"
MAX_FINAL_IMAGES = 8
FINAL_IMAGE_SIZE = 512


class ProgressWidget(anywidget.AnyWidget):
    """Per-node progress, live previews and an interrupt button for one prompt."""

    _esm = _STATIC / "widget.js"
    prompt_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("pending").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    executing = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.List(traitlets.Dict()).tag(sync=True)
    can_interrupt = traitlets.Bool(True).tag(sync=True)
    preview = traitlets.Bytes(b"").tag(sync=True)
    preview_mime = traitlets.Unicode("image/jpeg").tag(sync=True)
    preview_node = traitlets.Unicode("").tag(sync=True)
    final_images = traitlets.List(traitlets.Bytes()).tag(sync=True)

    def __init__(self, runtime: Any = None, prompt_id: str = "", prompt: dict[str, Any] | None = None, *,
                 can_interrupt: bool = True, max_fps: float = 15.0, clock: Callable[[], float] = time.monotonic,
                 **kwargs: Any) -> None:
        super().__init__(prompt_id=prompt_id, can_interrupt=can_interrupt, **kwargs)
        self.runtime = runtime
        self.handle: Any = None
        self._fold = ProgressFold(prompt_id, prompt)
        self._frames = FrameThrottle(max_fps)
        self._clock = clock
        self._cond = threading.Condition()
        self._dirty = True
        self._last_state = -math.inf
        self._unsubscribe: Callable[[], None] | None = None
        self._pump: threading.Thread | None = None
        self.finished = threading.Event()  # set once the final state has been sent
        self.frames_sent = 0
        self._apply_state(self._fold.to_state())
        self.on_msg(self._on_front_end_message)

    @classmethod
    def watch(cls, runtime: Any, prompt_id: str, prompt: dict[str, Any] | None = None, **kwargs: Any) -> ProgressWidget:
        """A widget subscribed to `runtime.events` for `prompt_id`, its pump started. Call before submitting."""
        widget = cls(runtime, prompt_id, prompt, **kwargs)
        widget._unsubscribe = runtime.events.subscribe(widget.on_event)
        widget._pump = threading.Thread(target=widget._run_pump, name="toucan-progress", daemon=True)
        widget._pump.start()
        return widget

    def set_handle(self, handle: Any) -> None:
        """Cancel through `handle`, and learn when the prompt is removed before it runs."""
        self.handle = handle
        handle.future.add_done_callback(self._on_handle_done)

    # -- any thread -----------------------------------------------------------------------------
    def on_event(self, event: ev.Event) -> None:
        """EventBus subscriber (executor thread): fold and wake the pump; never blocks on I/O."""
        if getattr(event, "prompt_id", None) != self._fold.prompt_id:
            return
        with self._cond:
            if isinstance(event, ev.PreviewImage):
                if not self._fold.is_terminal:
                    self._frames.offer(event)
            elif self._fold.apply(event):
                self._dirty = True
            else:
                return
            self._cond.notify()

    def _on_handle_done(self, future: Any) -> None:
        if future.cancelled():
            with self._cond:
                if self._fold.cancel():
                    self._dirty = True
                    self._cond.notify()

    def fail(self, exc: BaseException) -> None:
        """The prompt was never queued (validation failed): show why and stop."""
        with self._cond:
            self._fold.fail(str(exc))
            self._dirty = True
            self._cond.notify()

    # -- the pump thread ------------------------------------------------------------------------
    def _run_pump(self) -> None:
        try:
            while True:
                with self._cond:
                    state, frame, terminal = self._next_batch()
                if frame is not None:
                    self._send_preview(frame)
                if state is not None:
                    self._apply_state(state)
                if terminal:
                    self._send_final_images()
                    return
        finally:
            self._stop_listening()
            self.finished.set()

    def _next_batch(self) -> tuple[dict[str, Any] | None, Any, bool]:
        """Wait (under the lock) until something may be sent: a state, a frame, or the end."""
        interval = self._frames.interval
        while True:
            now = self._clock()
            terminal = self._fold.is_terminal
            state = None
            if self._dirty and (terminal or now - self._last_state >= interval):
                state, self._dirty, self._last_state = self._fold.to_state(), False, now
            frame = None if terminal else self._frames.take(now)
            if terminal:
                self._frames.clear()
            if state is not None or frame is not None or (terminal and not self._dirty):
                return state, frame, terminal and not self._dirty
            waits = [w for w in (self._frames.wait_time(now),
                                 interval - (now - self._last_state) if self._dirty else None) if w is not None]
            self._cond.wait(min(waits) if waits else None)

    def _apply_state(self, state: dict[str, Any]) -> None:
        with self.hold_sync():
            self.status = state["status"]
            self.message = state["message"]
            self.executing = state["executing"]
            self.nodes = state["nodes"]

    def _send_preview(self, event: ev.PreviewImage) -> None:
        image = event.image
        if image is None:
            return
        data = image.encoded()  # encoded at most once, here, off the executor thread
        self._deliver({"type": "preview", "node_id": event.display_node_id or event.node_id,
                       "mime": image.mime_type}, [data])
        self.frames_sent += 1

    def _deliver(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """Put a frame (a preview, or the final images) into the synced state."""
        if content["type"] == "preview":
            with self.hold_sync():
                self.preview_mime = content["mime"]
                self.preview_node = content["node_id"]
                self.preview = buffers[0]
        elif content["type"] == "final":
            self.final_images = list(buffers)

    def _send_final_images(self) -> None:
        folders = getattr(self.runtime, "folders", None)
        if folders is None or not self._fold.images:
            return
        from PIL import Image

        from toucan_nb.notebook.images import history_image_paths, png_bytes

        paths = history_image_paths(folders, {"final": {"images": self._fold.images}})[:MAX_FINAL_IMAGES]
        buffers = []
        for path in paths:
            with Image.open(path) as img:
                img.thumbnail((FINAL_IMAGE_SIZE, FINAL_IMAGE_SIZE))
                buffers.append(png_bytes(img))
        if buffers:
            self._deliver({"type": "final", "mime": "image/png", "count": len(buffers)}, buffers)

    def _stop_listening(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- the shell thread -----------------------------------------------------------------------
    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "interrupt":
            self.interrupt()

    def interrupt(self) -> bool:
        """Cancel the prompt: delete it when pending, interrupt it when running."""
        if self.handle is not None:
            return bool(self.handle.cancel())
        if self.runtime is not None:
            if self.runtime.delete_pending([self.prompt_id]):
                return True
            return bool(self.runtime.interrupt(self.prompt_id))
        return False

    def __repr__(self) -> str:
        # Never serialize traits in a repr (anywidget does the same). This is also the text/plain
        # fallback saved with the notebook, so it names no status that would soon be stale.
        return f"<ProgressWidget prompt {self.prompt_id[:8]}>"

    def close(self) -> None:
        self._stop_listening()
        with self._cond:
            if not self._fold.is_terminal:
                self._fold.cancel()
            self._dirty = False
            self._cond.notify()
        super().close()
