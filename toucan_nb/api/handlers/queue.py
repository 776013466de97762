"""Queueing routes (docs/protocol.md §6, §7): /prompt, /queue, /history[/{id}], /interrupt, /free.

Thin: parse, one runtime call, serialize. Prompt submission (validation) runs inline, so
prompts queue in request order. IO loop thread.
"""

from __future__ import annotations

import math
from typing import Any

from toucan_nb.api.errors import bad_request
from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.runtime.errors import BadRequestError, PromptValidationError
from toucan_nb.runtime.interface import RuntimeInterface, Submission


def _prompt_error(kind: str, message: str, details: str) -> PromptValidationError:
    return PromptValidationError({"type": kind, "message": message, "details": details, "extra_info": {}}, {})


def _ids(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{what} must be a list of strings")
    return value


class PromptHandler(ApiHandler):
    def get(self) -> None:
        self.write_json({"exec_info": {"queue_remaining": self.runtime.queue.remaining()}})

    def post(self) -> None:
        try:
            body = self.json_body()
        except BadRequestError as exc:
            if exc.status == 413:
                raise
            # Deviation: ComfyUI answers 500; the prompt error shape lets the UI show the reason.
            raise _prompt_error("invalid_prompt", "The request body is not valid JSON", str(exc)) from None
        # Inline on the IO loop: validating and queueing take microseconds, while handing the work to
        # a thread costs a GIL handover (up to the 5 ms switch interval while a prompt runs).
        submission = queue_prompt(self.runtime, body)
        self.write_json({"prompt_id": submission.prompt_id, "number": submission.number,
                         "node_errors": submission.node_errors})


def queue_prompt(runtime: RuntimeInterface, body: Any) -> Submission:
    """POST /prompt after JSON parsing: on-prompt hooks, numbering, checks, `runtime.submit`.

    Runs on the IO loop thread. Raises PromptValidationError / BadRequestError.
    """
    from toucan_nb.compat import trigger_on_prompt

    body = trigger_on_prompt(body)
    data: dict[str, Any] = body if isinstance(body, dict) else {}
    # QUIRK(docs/protocol.md §6): the priority counter advances on every POST without `number`,
    # even one that then fails (a JSON list body answers no_prompt, as ComfyUI's does).
    number = _float(data["number"]) if "number" in data else runtime.allocate_number(bool(data.get("front")))
    if "prompt" not in data:
        raise _prompt_error("no_prompt", "No prompt provided", "No prompt provided")
    prompt = data["prompt"]
    # Deviation: ComfyUI answers a non-object prompt with a plain-text 500.
    if not isinstance(prompt, dict):
        raise _prompt_error("invalid_prompt", "The prompt must be a JSON object", "")
    extra_data = data.get("extra_data", {})
    if not isinstance(extra_data, dict):
        raise _prompt_error("invalid_prompt", "extra_data must be a JSON object", "")
    client_id = data.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise _prompt_error("invalid_prompt", "client_id must be a string", "")
    targets = data.get("partial_execution_targets")
    if targets is not None:
        targets = _ids(targets, "partial_execution_targets")
    prompt_id = data.get("prompt_id")
    return runtime.submit(
        prompt,
        prompt_id=None if prompt_id is None else str(prompt_id),
        client_id=client_id,
        has_client_id="client_id" in data,
        extra_data=dict(extra_data),
        number=number,
        partial_execution_targets=targets,
    )


def _float(value: Any) -> float:
    # ComfyUI applies float(); a bool or junk is a client error here, not a 500.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad_request("number must be a number")
    try:
        number = float(value)
    except ValueError:
        raise bad_request("number must be a number") from None
    if not math.isfinite(number):
        raise bad_request("number must be finite")
    return number


class QueueHandler(ApiHandler):
    def get(self) -> None:
        # This runtime's queue, then those of the other kernels persisting into the same folder.
        running, pending = self.runtime.queue_listing()
        self.write_json({"queue_running": [item.to_wire() for item in running],
                         "queue_pending": [item.to_wire() for item in pending]})

    def post(self) -> None:
        data = self.json_object()
        if data.get("clear"):
            self.runtime.clear_pending()
        if "delete" in data:
            self.runtime.delete_pending(_ids(data["delete"], "delete"))
        self.write_empty()


class HistoryHandler(ApiHandler):
    def get(self) -> None:
        # Deviation: non-integer values are a 400 here (ComfyUI: 500).
        history = self.runtime.history
        self.write_json(history.get(max_items=self.query_int("max_items"), offset=self.query_int("offset")))

    def post(self) -> None:
        data = self.json_object()
        if data.get("clear"):
            self.runtime.history.clear()
        if "delete" in data:
            self.runtime.history.delete(_ids(data["delete"], "delete"))
        self.write_empty()


class HistoryEntryHandler(ApiHandler):
    """GET /history/{prompt_id}; other methods are a 405, as ComfyUI's route table gives."""

    def get(self, prompt_id: str) -> None:
        entry = self.runtime.history.get_one(prompt_id)
        self.write_json({} if entry is None else {prompt_id: entry})


class InterruptHandler(ApiHandler):
    def post(self) -> None:
        # Body optional; invalid JSON or no prompt_id means a global interrupt (docs/protocol.md §7).
        try:
            data = self.json_body(default=None)
        except BadRequestError as exc:
            if exc.status == 413:
                raise
            data = None
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        self.runtime.interrupt(prompt_id if isinstance(prompt_id, str) else None)
        self.write_empty()


class FreeHandler(ApiHandler):
    def post(self) -> None:
        data = self.json_object()
        self.runtime.free(unload_models=bool(data.get("unload_models")),
                          free_memory=bool(data.get("free_memory")))
        self.write_empty()
