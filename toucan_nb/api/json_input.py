"""Reading JSON that clients send: request bodies, WebSocket messages, form fields.

`parse_client_json` is the one parser for client JSON. Besides syntax it bounds nesting at
`MAX_NESTING` levels: Python's decoder raises RecursionError near its recursion limit (about a
thousand levels), and a value just under that limit would still break every later recursive step
(serialising it back for /queue or /history, repr, settings files). Nothing a ComfyUI client sends
comes close: workflows nest a few dozen levels. Deviation from ComfyUI, which answers such a body
with a 500.

Pure functions; any thread.
"""

from __future__ import annotations

import json
from typing import Any

MAX_NESTING = 256


class ClientJsonError(ValueError):
    """Client JSON that cannot be used: a syntax error, or nesting beyond `MAX_NESTING`."""


def parse_client_json(raw: str | bytes | bytearray) -> Any:
    """The value of `raw`; raises ClientJsonError with a message fit for the client."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ClientJsonError(str(exc)) from None
    if _nests_deeper_than(raw, value, MAX_NESTING):
        raise _too_deep()
    return value


def _too_deep() -> ClientJsonError:
    return ClientJsonError(f"JSON nested more than {MAX_NESTING} levels deep")


def _nests_deeper_than(raw: str | bytes | bytearray, value: Any, limit: int) -> bool:
    """Whether `value` has containers more than `limit` levels deep (iteratively, level by level)."""
    # Every level opens a bracket, so a text with few brackets cannot be deep: most bodies stop here.
    openers: tuple[Any, Any] = ("[", "{") if isinstance(raw, str) else (b"[", b"{")
    if raw.count(openers[0]) + raw.count(openers[1]) <= limit:
        return False
    level = [value]
    for _ in range(limit):
        inner: list[Any] = []
        for container in level:
            items = container.values() if type(container) is dict else container
            inner.extend([item for item in items if type(item) is dict or type(item) is list])
        if not inner:
            return False
        level = inner
    return True
