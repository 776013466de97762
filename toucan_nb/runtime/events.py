"""Typed execution events and the thread-safe `EventBus` they travel on.

Each wire event of docs/protocol.md §14/§15 is one class here; its wire name appears once, as `name`.
`delivery` says who receives it when a prompt has a client (docs/protocol.md §13.3):

* ``"client"``: only the prompt's client; never sent when the prompt has no client_id;
* ``"client_or_all"``: the prompt's client, or every socket when the prompt has no client_id;
* ``"all"``: every socket.

`ProgressState` carries only the node entry that changed; consumers that need ComfyUI's full
snapshot fold the entries of one prompt in order (`progress.ProgressSnapshot`). This keeps the
executor's cost per event constant however large the graph is.

`EventBus.publish` may be called from any thread; subscribers run on the publishing thread and
must only hand the event over (to a loop, a queue), never block.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from toucan_nb.runtime.preview import EncodedPreview

log = logging.getLogger(__name__)


def now_ms() -> int:
    """Milliseconds since the epoch, as ComfyUI stamps its status messages."""
    return int(time.time() * 1000)


# Events are built with keywords only: the fields several events share are declared once, on the
# three base classes below (every event, a prompt's events, a prompt's recorded events).
@dataclass(slots=True, eq=False, kw_only=True)
class Event:
    """Base of all events. `client_id` is the prompt's client (or None); `seq` is set by the bus."""

    name: ClassVar[str] = ""
    delivery: ClassVar[str] = "client"
    recorded: ClassVar[bool] = False  # kept in history status messages (docs/execution.md §3.1)
    client_id: str | None = None
    seq: int = 0

    def data(self) -> dict[str, Any]:
        """The wire `data` dict of this event."""
        raise NotImplementedError


@dataclass(slots=True, eq=False, kw_only=True)
class PromptEvent(Event):
    """An event of one prompt."""

    prompt_id: str = ""


@dataclass(slots=True, eq=False, kw_only=True)
class RecordedEvent(PromptEvent):
    """A prompt event kept, with its time stamp, in the prompt's history status messages."""

    recorded: ClassVar[bool] = True
    timestamp: int = field(default_factory=now_ms)


@dataclass(slots=True, eq=False, kw_only=True)
class Status(Event):
    name: ClassVar[str] = "status"
    delivery: ClassVar[str] = "all"
    queue_remaining: int = 0
    prompt_id: str | None = None

    def data(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": self.queue_remaining}}}


@dataclass(slots=True, eq=False, kw_only=True)
class ExecutionStart(RecordedEvent):
    name: ClassVar[str] = "execution_start"

    def data(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True, eq=False, kw_only=True)
class ExecutionCached(RecordedEvent):
    name: ClassVar[str] = "execution_cached"
    nodes: list[str] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True, eq=False, kw_only=True)
class Executing(PromptEvent):
    """A node is about to run; `node=None` marks the end of the prompt."""

    name: ClassVar[str] = "executing"
    node: str | None = None
    display_node: str | None = None

    def data(self) -> dict[str, Any]:
        if self.node is None:
            return {"node": None, "prompt_id": self.prompt_id}
        return {"node": self.node, "display_node": self.display_node, "prompt_id": self.prompt_id}


@dataclass(slots=True, eq=False, kw_only=True)
class Progress(PromptEvent):
    name: ClassVar[str] = "progress"
    delivery: ClassVar[str] = "client_or_all"
    value: float = 0
    max: float = 0
    node: str | None = None

    def data(self) -> dict[str, Any]:
        return {"value": self.value, "max": self.max, "prompt_id": self.prompt_id, "node": self.node}


class NodeProgress:
    """One node's entry in `progress_state` (docs/protocol.md §14). Treat as immutable; a plain slotted
    class because one is made at every node start and finish."""

    __slots__ = ("node_id", "state", "value", "max", "prompt_id", "display_node_id", "parent_node_id",
                 "real_node_id")

    def __init__(self, node_id: str, state: str, value: float, max: float, prompt_id: str,
                 display_node_id: str, parent_node_id: str | None, real_node_id: str) -> None:
        self.node_id = node_id
        self.state = state  # pending | running | finished | error
        self.value = value
        self.max = max
        self.prompt_id = prompt_id
        self.display_node_id = display_node_id
        self.parent_node_id = parent_node_id
        self.real_node_id = real_node_id

    def __repr__(self) -> str:
        return f"NodeProgress({self.node_id!r}, {self.state!r}, {self.value}/{self.max})"

    def to_wire(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "max": self.max,
            "state": self.state,
            "node_id": self.node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": self.display_node_id,
            "parent_node_id": self.parent_node_id,
            "real_node_id": self.real_node_id,
        }


@dataclass(slots=True, eq=False, kw_only=True)
class ProgressState(PromptEvent):
    """One node's progress changed; fold with `progress.ProgressSnapshot` for the wire's full map."""

    name: ClassVar[str] = "progress_state"
    delivery: ClassVar[str] = "client_or_all"
    entry: NodeProgress | None = None

    def data(self) -> dict[str, Any]:
        # Only the changed node: callers that want ComfyUI's full snapshot use progress.ProgressSnapshot.
        nodes = {} if self.entry is None else {self.entry.node_id: self.entry.to_wire()}
        return {"prompt_id": self.prompt_id, "nodes": nodes}


@dataclass(slots=True, eq=False, kw_only=True)
class Executed(PromptEvent):
    name: ClassVar[str] = "executed"
    node: str = ""
    display_node: str = ""
    output: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        return {"node": self.node, "display_node": self.display_node, "output": self.output,
                "prompt_id": self.prompt_id}


@dataclass(slots=True, eq=False, kw_only=True)
class ExecutionSuccess(RecordedEvent):
    name: ClassVar[str] = "execution_success"

    def data(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True, eq=False, kw_only=True)
class ExecutionError(PromptEvent):
    """A node failed (ends the prompt), or an ExecutionBlocker notice (`timestamp=None`, not recorded).

    Built by `execution_error()`, the one place its payload is assembled. Not a `RecordedEvent`:
    its time stamp may be None.
    """

    name: ClassVar[str] = "execution_error"
    recorded: ClassVar[bool] = True
    node_id: str = ""
    node_type: str = ""
    executed: list[str] = field(default_factory=list)
    exception_message: str = ""
    exception_type: str = ""
    traceback: list[str] = field(default_factory=list)
    current_inputs: Any = field(default_factory=dict)
    current_outputs: list[str] = field(default_factory=list)
    timestamp: int | None = field(default_factory=now_ms)

    @property
    def is_blocker_notice(self) -> bool:
        return self.timestamp is None

    def data(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "prompt_id": self.prompt_id,
            "node_id": self.node_id,
            "node_type": self.node_type,
            "executed": self.executed,
            "exception_message": self.exception_message,
            "exception_type": self.exception_type,
            "traceback": self.traceback,
            "current_inputs": self.current_inputs,
            "current_outputs": self.current_outputs,
        }
        if self.timestamp is not None:
            d["timestamp"] = self.timestamp
        return d


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """Why a prompt failed, as `execution_error` reports it (docs/execution.md §3.12).

    `node_id` is the failing node's real id ("" when no node is to blame). `current_inputs` is the
    node's inputs as ComfyUI formats them (a dict), or `[]` where ComfyUI sends a list (a
    dependency cycle, an ExecutionBlocker notice).
    """

    node_id: str
    exception_message: str
    exception_type: str
    traceback: list[str] = field(default_factory=list)
    current_inputs: Any = field(default_factory=dict)


def execution_error(prompt_id: str, failure: NodeFailure, *, node_type: str = "", executed: Iterable[str] = (),
                    current_outputs: Iterable[str] = (), client_id: str | None = None, notice: bool = False,
                    timestamp: int | None = None) -> ExecutionError:
    """The `execution_error` event for `failure`: the one place its payload is put together.

    `notice=True` makes an ExecutionBlocker notice (no time stamp, not recorded, the prompt goes
    on); otherwise it is stamped `timestamp`, by default now.
    """
    return ExecutionError(
        prompt_id=prompt_id, node_id=failure.node_id, node_type=node_type, executed=list(executed),
        exception_message=failure.exception_message, exception_type=failure.exception_type,
        traceback=failure.traceback, current_inputs=failure.current_inputs,
        current_outputs=list(current_outputs), client_id=client_id,
        timestamp=None if notice else now_ms() if timestamp is None else timestamp)


@dataclass(slots=True, eq=False, kw_only=True)
class ExecutionInterrupted(RecordedEvent):
    name: ClassVar[str] = "execution_interrupted"
    delivery: ClassVar[str] = "client_or_all"
    node_id: str = ""
    node_type: str = ""
    executed: list[str] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "node_id": self.node_id, "node_type": self.node_type,
                "executed": self.executed, "timestamp": self.timestamp}


@dataclass(slots=True, eq=False, kw_only=True)
class PreviewImage(PromptEvent):
    """A live preview from node code; binary frame type 1 or 4 on the wire (docs/protocol.md §15)."""

    name: ClassVar[str] = "preview_image"
    delivery: ClassVar[str] = "client_or_all"
    image: EncodedPreview | None = None
    node_id: str = ""
    display_node_id: str = ""
    parent_node_id: str | None = None
    real_node_id: str = ""

    def data(self) -> dict[str, Any]:
        assert self.image is not None
        return {"node_id": self.node_id, "prompt_id": self.prompt_id,
                "display_node_id": self.display_node_id, "parent_node_id": self.parent_node_id,
                "real_node_id": self.real_node_id, "image_type": self.image.mime_type}


@dataclass(slots=True, eq=False, kw_only=True)
class ProgressText(Event):
    """Text from node code (binary TEXT frame); broadcast unless a target sid is given."""

    name: ClassVar[str] = "progress_text"
    delivery: ClassVar[str] = "client_or_all"
    node_id: str = ""
    text: str = ""
    prompt_id: str | None = None

    def data(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "text": self.text, "prompt_id": self.prompt_id}


@dataclass(slots=True, eq=False, kw_only=True)
class CustomMessage(Event):
    """`PromptServer.instance.send_sync(event, data, sid)` from custom-node code."""

    name: ClassVar[str] = "custom"
    delivery: ClassVar[str] = "client_or_all"
    event: str = ""
    payload: Any = None
    prompt_id: str | None = None

    def data(self) -> Any:  # whatever the node sent: not necessarily a dict
        return self.payload


Subscriber = Callable[[Event], None]


class EventBus:
    """Thread-safe fan-out of events to subscribers, in publish order per publishing thread."""

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Stamp `event.seq` and hand it to every subscriber. Never raises."""
        event.seq = next(self._seq)
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, event.name)
