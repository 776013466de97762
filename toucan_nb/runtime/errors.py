"""The runtime's exception tree; translated to wire bodies once, in `toucan_nb.api.errors`.

    ToucanError
    ├── PromptValidationError   error + node_errors, protocol.md §6 shape
    ├── NodeExecutionError      a node raised while running (execution.md §3.12)
    ├── ExecutionInterruptedError  interrupt flag seen (execution.md §3.11)
    ├── DependencyCycleError    no ready node and nothing external to wait for (§3.9)
    ├── NodeNotFoundError       DynamicPrompt.get_node on an unknown id
    ├── NodeInputError          check_lazy_status named an input the node does not have
    ├── NotFoundError           an unknown prompt, job, file, user ...
    ├── BadRequestError         malformed client input (carries the HTTP status it maps to)
    └── RuntimeUnavailableError no runtime attached (server extension, 503)
"""

from __future__ import annotations

from typing import Any


class ToucanError(Exception):
    """Base of every error the runtime raises on purpose."""


class PromptValidationError(ToucanError):
    """A prompt failed validation; `error` and `node_errors` are the protocol.md §6 dicts."""

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any] | None = None) -> None:
        super().__init__(error.get("message", "invalid prompt"))
        self.error = error
        self.node_errors = node_errors or {}


class NodeExecutionError(ToucanError):
    """A node raised; the fields are those of the `execution_error` event."""

    def __init__(
        self,
        node_id: str,
        exception_message: str,
        exception_type: str,
        traceback: list[str],
        current_inputs: dict[str, Any] | list[Any],
    ) -> None:
        super().__init__(exception_message)
        self.node_id = node_id
        self.exception_message = exception_message
        self.exception_type = exception_type
        self.traceback = traceback
        self.current_inputs = current_inputs


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
