"""The one place ComfyUI's process globals live: the attached runtime, custom routes, on-prompt handlers.

ComfyUI custom nodes reach the server through module globals (`PromptServer.instance`,
`nodes.NODE_CLASS_MAPPINGS`, `folder_paths`). The alias modules are views onto whatever runtime
`toucan_nb.compat.install(runtime)` attached here; nothing outside `compat/` reads this module
except the route set, which mounts `custom_routes()` and calls `trigger_on_prompt()`.

Any thread may call these functions; each list is guarded by one lock that is never held while
custom-node code runs (handlers are copied out first).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

_lock = threading.Lock()
_runtime: Any = None
_routes: list[CustomRoute] = []
_on_prompt_handlers: list[Callable[[Any], Any]] = []


class CustomRoute(NamedTuple):
    """A route a custom node declared with `PromptServer.instance.routes.<method>(path)`.

    `method` is an upper-case HTTP verb (``"*"`` for `routes.view`), or ``"STATIC"`` for
    `routes.static(prefix, path)`, in which case `handler` is the directory to serve. The
    decorators' aiohttp keyword arguments (`name=` ...) are not kept.
    """

    method: str
    path: str
    handler: Any


def attach(runtime: Any) -> None:
    """Make `runtime` the one the alias modules are views of (replaces any earlier one)."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime is not runtime:
            log.info("compat: replacing the attached runtime")
        _runtime = runtime


def detach() -> None:
    """Forget the attached runtime; views answer as if none were running."""
    global _runtime
    with _lock:
        _runtime = None


def runtime() -> Any:
    """The attached runtime, or None."""
    return _runtime


def add_route(route: CustomRoute) -> None:
    with _lock:
        _routes.append(route)


def custom_routes() -> list[CustomRoute]:
    """Every route custom nodes declared so far, in declaration order."""
    with _lock:
        return list(_routes)


def add_on_prompt_handler(handler: Callable[[Any], Any]) -> None:
    with _lock:
        _on_prompt_handlers.append(handler)


def trigger_on_prompt(json_data: Any) -> Any:
    """Pass a POST /prompt body through every custom on-prompt handler, in order.

    A handler that raises is logged and skipped, as ComfyUI does; the body it was given goes on.
    """
    with _lock:
        handlers = list(_on_prompt_handlers)
    for handler in handlers:
        try:
            json_data = handler(json_data)
        except Exception:
            log.warning("custom on_prompt handler %r failed", handler, exc_info=True)
    return json_data
