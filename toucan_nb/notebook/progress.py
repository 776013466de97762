"""The progress widget's model, free of widgets and threads: `ProgressFold` and `FrameThrottle`.

`ProgressFold` folds the runtime events of one prompt (events.py; docs/execution.md §5.2 for the
node entries) into the state the widget shows: the prompt's status, one row per node with its
state (pending | running | finished | cached, and at the end error | interrupted | skipped), value,
max and display_node_id, the node
now executing, an error message, and the images output nodes reported (`Executed` ui "images").
Rows start from the prompt's nodes, so the whole graph shows from the first frame.

`FrameThrottle` keeps only the newest preview and releases at most `max_fps` a second.

Not thread-safe: the widget's pump (`widget.py`) owns one of each under its lock.
"""

from __future__ import annotations

import math
from typing import Any

from toucan_nb.notebook.capture import CAPTURE_CLASS_TYPE
from toucan_nb.runtime import events as ev

TERMINAL = frozenset({"success", "error", "interrupted", "cancelled"})


class ProgressFold:
    """What the widget shows for one prompt, updated event by event."""

    def __init__(self, prompt_id: str, prompt: dict[str, Any] | None = None) -> None:
        self.prompt_id = prompt_id
        self.status = "pending"
        self.message = ""
        self.executing: str | None = None
        self.images: list[dict[str, Any]] = []  # history-style items from Executed ui outputs
        self._hidden: set[str] = set()
        self._rows: dict[str, dict[str, Any]] = {}
        for node_id, entry in (prompt or {}).items():
            class_type = str(entry.get("class_type", ""))
            if class_type == CAPTURE_CLASS_TYPE:
                self._hidden.add(str(node_id))
                continue
            meta = entry.get("_meta") or {}
            self._rows[str(node_id)] = _row(str(node_id), str(node_id), meta.get("title") or class_type, class_type)
        self._titles = {k: v["title"] for k, v in self._rows.items()}

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def apply(self, event: ev.Event) -> bool:
        """Fold one event; True when the visible state changed. Other prompts' events are ignored."""
        if getattr(event, "prompt_id", None) != self.prompt_id or self.is_terminal:
            return False
        if isinstance(event, ev.ExecutionStart):
            self.status = "running"
        elif isinstance(event, ev.ExecutionCached):
            for node_id in event.nodes:
                row = self._row_for(str(node_id), str(node_id))
                if row is not None:
                    row.update(state="cached", value=1.0, max=1.0)
        elif isinstance(event, ev.Executing):
            self.executing = None if event.node is None or event.node in self._hidden else event.node
            if event.node is not None and self.status == "pending":
                self.status = "running"
        elif isinstance(event, ev.ProgressState):
            entry = event.entry
            if entry is None:
                return False
            row = self._row_for(entry.node_id, entry.display_node_id)
            if row is None:
                return False
            row.update(state=entry.state, value=_finite(entry.value), max=_finite(entry.max, 1.0),
                       display_node_id=entry.display_node_id)
        elif isinstance(event, ev.Executed):
            for item in (event.output or {}).get("images") or []:
                if isinstance(item, dict):
                    self.images.append(item)
        elif isinstance(event, ev.ExecutionSuccess):
            self.status, self.executing = "success", None
            self._relabel("pending", "skipped")  # not needed for the targets, or blocked
        elif isinstance(event, ev.ExecutionError):
            if event.is_blocker_notice:
                return False
            self.status, self.executing = "error", None
            self.message = f"{event.node_type} (node {event.node_id}): {event.exception_message}".rstrip()
            row = self._rows.get(event.node_id)
            if row is not None:
                row["state"] = "error"
        elif isinstance(event, ev.ExecutionInterrupted):
            self.status, self.executing = "interrupted", None
            # ComfyUI leaves an interrupted node "running" in progress_state; show what happened.
            self._relabel("running", "interrupted")
            self.message = "Interrupted" + (f" at node {event.node_id}" if event.node_id else "")
        else:
            return False
        return True

    def _relabel(self, old: str, new: str) -> None:
        for row in self._rows.values():
            if row["state"] == old:
                row["state"] = new

    def cancel(self) -> bool:
        """The prompt was removed from the queue before it ran."""
        if self.is_terminal:
            return False
        self.status, self.message, self.executing = "cancelled", "Removed from the queue", None
        return True

    def fail(self, message: str) -> None:
        """The prompt never ran (e.g. it failed validation)."""
        self.status, self.message, self.executing = "error", message, None

    def _row_for(self, node_id: str, display_node_id: str) -> dict[str, Any] | None:
        if node_id in self._hidden:
            return None
        row = self._rows.get(node_id)
        if row is None:  # an expanded (ephemeral) node: shown under its display node's title
            title = self._titles.get(display_node_id, display_node_id)
            row = self._rows[node_id] = _row(node_id, display_node_id, f"{title} [{node_id}]", "")
        return row

    def to_state(self) -> dict[str, Any]:
        """The widget traits: status, message, executing, nodes (a list of row dicts, copied)."""
        return {
            "status": self.status,
            "message": self.message,
            "executing": self.executing or "",
            "nodes": [dict(row) for row in self._rows.values()],
        }


def _row(node_id: str, display_node_id: str, title: str, class_type: str) -> dict[str, Any]:
    return {"node_id": node_id, "display_node_id": display_node_id, "title": title, "class_type": class_type,
            "state": "pending", "value": 0.0, "max": 1.0}


def _finite(value: float, default: float = 0.0) -> float:
    value = float(value)
    return value if math.isfinite(value) else default


class FrameThrottle:
    """Latest-wins preview buffer releasing at most `max_fps` frames a second (clock in seconds)."""

    def __init__(self, max_fps: float = 15.0) -> None:
        if max_fps <= 0:
            raise ValueError("max_fps must be positive")
        self.interval = 1.0 / max_fps
        self._last = -math.inf
        self._pending: Any = None
        self.dropped = 0  # frames replaced before they could be sent

    def offer(self, frame: Any) -> None:
        if self._pending is not None:
            self.dropped += 1
        self._pending = frame

    @property
    def has_pending(self) -> bool:
        return self._pending is not None

    def take(self, now: float) -> Any:
        """The pending frame if one may be sent at `now`, else None."""
        if self._pending is None or now - self._last < self.interval:
            return None
        frame, self._pending, self._last = self._pending, None, now
        return frame

    def wait_time(self, now: float) -> float | None:
        """Seconds until the pending frame may be sent (0 if now), None when nothing is pending."""
        if self._pending is None:
            return None
        return max(0.0, self.interval - (now - self._last))

    def clear(self) -> None:
        self._pending = None
