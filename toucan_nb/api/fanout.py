"""Runtime events -> WebSocket frames to the right clients (docs/protocol.md §13.3, §14-§16).

`EventFanout.on_event` is the EventBus subscriber: it runs on the publishing (executor) thread
and only appends to a locked list, so the executor never waits on sockets. Everything else runs
on the IO loop thread, in publish order.

Events are flushed to the IO loop in bursts. Waking the loop costs a system call and a GIL
handover, and each flush a socket write per client; a prompt of small nodes publishes several
events per node within microseconds. So while a prompt runs, pending events are collected by a
timer every `FLUSH_INTERVAL` (backing off to `MAX_FLUSH_INTERVAL` while nothing happens), and
only a prompt's final `executing {node: null}` wakes the loop at once. With no prompt running,
every event wakes the loop at once (the first event of a prompt starts the timer).

Recipients follow each event class's `delivery` (events.py): "all" -> every socket; "client" ->
only the prompt's client, nothing when the prompt has no client_id (None); "client_or_all" ->
the client, or every socket when client_id is None. `client_id == ""` is a real sid that is
normally not connected, so those events go nowhere (QUIRK(docs/protocol.md §13.3)).

`progress_state` carries one changed node per event; here it is folded per prompt into ComfyUI's
full snapshot (`progress.ProgressSnapshot`), whose frame `wire.ProgressStateFrames` renders from
per-node fragments. Frames are built in `wire`. The running node of each prompt is tracked for
the reconnect replay of §13.1.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor

from tornado.ioloop import IOLoop

from toucan_nb.api import wire
from toucan_nb.api.clients import ClientConnection, ClientTable, PreviewRender
from toucan_nb.api.logs import LogEntry
from toucan_nb.runtime.events import (
    Event,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    PreviewImage,
    ProgressState,
)
from toucan_nb.runtime.progress import ProgressSnapshot

# While a prompt runs: how long an event may wait for the next flush, and the longest wait once
# nothing happens (a node busy for minutes wakes the loop about 60 times a second, not 500).
FLUSH_INTERVAL = 0.002
MAX_FLUSH_INTERVAL = 0.016


class EventFanout:
    """Delivers runtime events to connected clients; see the module docstring."""

    def __init__(self, clients: ClientTable, loop: IOLoop, executor: Executor | None) -> None:
        self.clients = clients
        self._loop = loop
        self._executor = executor
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        # Guarded by _lock: a wake-up (add_callback) or a timer is due to flush `_pending`.
        self._wake_scheduled = False
        self._timer: object | None = None
        self._interval = FLUSH_INTERVAL
        self._active: set[str] = set()  # prompts between execution_start and executing null
        self._progress: dict[str, wire.ProgressStateFrames] = {}
        # prompt_id -> (client_id, display node id) of the node running now.
        self._running: dict[str, tuple[str | None, str]] = {}
        self.log_subscribers: set[str] = set()

    # -- any thread ------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """EventBus subscriber: hand the event to the IO loop (never blocks)."""
        with self._lock:
            self._pending.append(event)
            if self._wake_scheduled:
                return
            if self._timer is not None and not (isinstance(event, Executing) and event.node is None):
                return  # the running timer collects it
            self._wake_scheduled = True
        self._loop.add_callback(self._flush)

    def on_log(self, entry: LogEntry) -> None:
        """LogBuffer listener: forward a log entry to subscribed clients."""
        if self.log_subscribers:
            self._loop.add_callback(self._send_log, entry)

    # -- IO loop thread --------------------------------------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._wake_scheduled = False
        for event in batch:
            self.dispatch(event)
        if self._timer is None:
            self._arm(FLUSH_INTERVAL)
        elif not self._active:
            with self._lock:
                self._loop.remove_timeout(self._timer)
                self._timer = None

    def _tick(self) -> None:
        with self._lock:
            idle = not self._pending
            self._timer = None
        if idle:
            self._arm(min(self._interval * 2, MAX_FLUSH_INTERVAL))
        else:
            self._flush()  # re-arms at FLUSH_INTERVAL

    def _arm(self, interval: float) -> None:
        """While a prompt runs, collect pending events `interval` seconds from now."""
        if self._active:
            self._interval = interval
            with self._lock:
                self._timer = self._loop.call_later(interval, self._tick)

    def dispatch(self, event: Event) -> None:
        """Track per-prompt state for `event` and send its frame to its recipients."""
        if isinstance(event, ProgressState):  # the commonest event: two per node
            frames = self._progress.get(event.prompt_id)
            if frames is None:
                frames = self._progress[event.prompt_id] = _progress_frames(event.prompt_id)
            frames.snapshot.apply(event)
            for conn in self._targets(event):
                conn.send_progress(frames)
            return
        prompt_id = getattr(event, "prompt_id", None)
        if isinstance(event, ExecutionStart):
            self._active.add(event.prompt_id)
            self._progress[event.prompt_id] = _progress_frames(event.prompt_id)
        elif isinstance(event, Executing):
            if event.node is None:
                self._active.discard(event.prompt_id)
                self._end_prompt(event.prompt_id)
            else:
                self._running[event.prompt_id] = (event.client_id, event.display_node or event.node)
        elif isinstance(event, ExecutionSuccess | ExecutionInterrupted) or (
                isinstance(event, ExecutionError) and not event.is_blocker_notice):
            self._end_prompt(str(prompt_id))

        targets = self._targets(event)
        if not targets:
            return
        if isinstance(event, PreviewImage):
            if event.image is None:
                return
            render = PreviewRender(event, self._executor)
            for conn in targets:
                conn.send_preview(render)
            return
        frame = wire.event_frame(event)
        for conn in targets:
            conn.send(frame)

    def _targets(self, event: Event) -> Sequence[ClientConnection]:
        if not self.clients:
            return ()
        delivery = type(event).delivery
        client_id: str | None = getattr(event, "client_id", None)
        if delivery == "all" or (client_id is None and delivery == "client_or_all"):
            return list(self.clients)
        if client_id is None:
            return ()
        conn = self.clients.get(client_id)
        return (conn,) if conn is not None else ()

    def _end_prompt(self, prompt_id: str) -> None:
        self._running.pop(prompt_id, None)
        self._progress.pop(prompt_id, None)

    def running_node_for(self, sid: str) -> str | None:
        """The display id of the node running now in a prompt of client `sid` (§13.1 replay)."""
        for client_id, node in self._running.values():
            if client_id == sid:
                return node
        return None

    def _send_log(self, entry: LogEntry) -> None:
        frame = wire.log_frame(entry)
        for sid in list(self.log_subscribers):
            conn = self.clients.get(sid)
            if conn is None:
                self.log_subscribers.discard(sid)
                continue
            conn.send(frame)


def _progress_frames(prompt_id: str) -> wire.ProgressStateFrames:
    return wire.ProgressStateFrames(ProgressSnapshot(prompt_id))
