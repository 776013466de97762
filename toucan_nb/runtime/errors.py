"""The runtime's exception tree; translated to wire bodies once, in `toucan_nb.api.errors`.

    ToucanError
    ├── PromptValidationError   error + node_errors, docs/protocol.md §6 shape
    ├── NodeExecutionError      a node raised while running (docs/execution.md §3.12)
    ├── ExecutionInterruptedError  interrupt flag seen (docs/execution.md §3.11)
    ├── DependencyCycleError    no ready node and nothing external to wait for (§3.9)
    ├── NodeNotFoundError       DynamicPrompt.get_node on an unknown id
    ├── NodeInputError          check_lazy_status named an input the node does not have
    ├── NotFoundError           an unknown prompt, job, file, user ...
    ├── BadRequestError         malformed client input (carries the HTTP status it maps to)
    └── RuntimeUnavailableError no runtime attached (server extension, 503)
        └── QueueStoreUnavailableError  the shared queue store cannot hand out numbers (503)
"""

from __future__ import annotations

import os
import re
from typing import Any

# Frames of this package (the executor, input resolution, async calls) lead every node traceback;
# what a reader wants is the node's own code after them.
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_FRAME_FILE = re.compile(r'\s*File "([^"]+)"')
_NODE_FRAMES = 6


class ToucanError(Exception):
    """Base of every error the runtime raises on purpose."""


class PromptValidationError(ToucanError):
    """A prompt failed validation; `error` and `node_errors` are the docs/protocol.md §6 dicts.

    `str()` is the summary, then one line per failing input, e.g.
    `EmptyImage (node 1): width: Value -5 smaller than min of 1`.
    """

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any] | None = None) -> None:
        super().__init__(error.get("message", "invalid prompt"))
        self.error = error
        self.node_errors = node_errors or {}

    def __str__(self) -> str:
        message = str(self.error.get("message") or "invalid prompt")
        details = str(self.error.get("details") or "")
        # With node errors, `details` repeats (some of) the lines below.
        lines = [f"{message.rstrip('.')}: {details}" if details and details != message and not self.node_errors
                 else message]
        for node_id, entry in self.node_errors.items():
            where = f"{entry.get('class_type', '?')} (node {node_id})"
            lines += [f"{where}: {_reason(error)}" for error in entry.get("errors", [])]
        return "\n".join(lines)


def _reason(error: dict[str, Any]) -> str:
    """`input: message: details` of one node error, without the input name `details` repeats."""
    extra = error.get("extra_info") or {}
    name = extra.get("input_name")
    message = str(error.get("message", ""))
    details = str(error.get("details", ""))
    if name:
        name = str(name)
        if details == name:
            details = ""
        for separator in (", ", ": ", " - "):
            if details.startswith(name + separator):
                details = details[len(name) + len(separator):]
                break
        message = f"{name}: {message}"
    exception_type = extra.get("exception_type")
    if exception_type and not details.startswith(str(exception_type)):
        details = f"{exception_type}: {details}" if details else str(exception_type)
    return f"{message}: {details}" if details else message


class NodeExecutionError(ToucanError):
    """A node raised; the fields are those of the `execution_error` event.

    `str()` names the node (class and id), the exception and its message, then the last frames of
    the node's own code from `traceback` (the runtime's frames before them are left out).
    """

    def __init__(
        self,
        node_id: str,
        exception_message: str,
        exception_type: str,
        traceback: list[str],
        current_inputs: dict[str, Any] | list[Any],
        node_type: str = "",
    ) -> None:
        super().__init__(exception_message)
        self.node_id = node_id
        self.exception_message = exception_message
        self.exception_type = exception_type
        self.traceback = traceback
        self.current_inputs = current_inputs
        self.node_type = node_type

    def __str__(self) -> str:
        message = self.exception_message.rstrip("\n")
        if self.exception_type:
            message = f"{self.exception_type}: {message}" if message else self.exception_type
        if self.node_id:
            where = f"{self.node_type} (node {self.node_id})" if self.node_type else f"Node {self.node_id}"
            message = f"{where}: {message}"
        frames = node_frames(self.traceback)
        if not frames:
            return message
        return message + "\nTraceback of the node (most recent call last):\n" + "".join(frames).rstrip("\n")


def node_frames(traceback: list[str], limit: int = _NODE_FRAMES) -> list[str]:
    """The last `limit` formatted frames after the runtime's own leading frames."""
    start = 0
    while start < len(traceback) and _in_runtime(traceback[start]):
        start += 1
    frames = traceback[start:] or traceback  # all runtime: the failure is in the runtime itself
    return frames[-limit:]


def _in_runtime(frame: str) -> bool:
    match = _FRAME_FILE.match(frame)
    return match is not None and os.path.abspath(match.group(1)).startswith(_RUNTIME_DIR)


class ExecutionInterruptedError(ToucanError):
    """Raised inside node code (ProgressBar, before a call) when the prompt was interrupted.

    (The event that reports it is `events.ExecutionInterrupted`; custom nodes catch it under
    ComfyUI's name, `comfy.model_management.InterruptProcessingException`.)
    """


class DependencyCycleError(ToucanError):
    """The graph (after expansion or lazy requests) contains a cycle."""


class NodeNotFoundError(ToucanError, KeyError):
    """A node id is not in the (dynamic) prompt."""


class NodeInputError(ToucanError):
    """A node asked for an input it does not have."""


class NotFoundError(ToucanError):
    """The named prompt, job, file or user does not exist."""


class BadRequestError(ToucanError):
    """Malformed client input. `status` is the HTTP status; `body` an optional wire body."""

    def __init__(self, message: str, status: int = 400, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RuntimeUnavailableError(ToucanError):
    """No runtime is attached (the server extension before `%load_ext toucan_nb`)."""


class QueueStoreUnavailableError(RuntimeUnavailableError):
    """The queue store shared with this user's other kernels could not reserve priority numbers
    (held locked too long, or failing): the prompt is not queued, rather than queued with a number
    another kernel hands out too."""
