"""The log ring buffer behind /internal/logs and the `logs` WebSocket event (docs/protocol.md §12, §14).

ComfyUI buffers raw stdout/stderr writes; we buffer formatted log records of this process (the
standalone server also prints them). `LogBuffer.emit` may run on any thread; listeners must only
hand entries over (the WebSocket fan-out uses `IOLoop.add_callback`).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

LogEntry = dict[str, str]


class LogBuffer(logging.Handler):
    """Keeps the last `capacity` records as `{"t": iso time, "m": text}` entries."""

    def __init__(self, capacity: int = 300) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._listeners: tuple[Callable[[LogEntry], None], ...] = ()
        self._listen_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": datetime.fromtimestamp(record.created).isoformat(), "m": self.format(record) + "\n"}
        except Exception:
            self.handleError(record)
            return
        self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)

    def entries(self) -> list[LogEntry]:
        return list(self._entries)

    def text(self) -> str:
        """GET /internal/logs: every entry as `"<time> - <text>"`, concatenated."""
        return "".join(f"{e['t']} - {e['m']}" for e in self.entries())

    def raw(self) -> dict[str, Any]:
        """GET /internal/logs/raw."""
        size = shutil.get_terminal_size((80, 24))
        return {"entries": self.entries(), "size": {"cols": size.columns, "rows": size.lines}}

    def add_listener(self, listener: Callable[[LogEntry], None]) -> Callable[[], None]:
        with self._listen_lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._listen_lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove
