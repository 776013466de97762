"""toucan_nb_server: the Jupyter server extension that serves toucan under ``{base_url}toucan/``.

Enabled by ``pip install`` alone (the package ships ``jupyter_server_config.d/toucan_nb.json``).
It serves the official ComfyUI frontend, applies Jupyter's authentication and authorization to
every route and WebSocket, and relays the route set to the kernel that ran ``%load_ext
toucan_nb``. It talks to kernels only over HTTP and WebSocket on their loopback endpoint.

Modules: `extension` (the ExtensionApp and its handler table), `auth` (the handler base: auth,
same-origin check, JSON errors), `kernels` (which attached kernels we accept), `relay` (HTTP and
WebSocket relays), `prompts_in_flight` (what the WebSocket relay reads from a kernel's events),
`frontend` (static files of the frontend bundle), `waiting_page` (the index page until a kernel
attaches).
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Entry point that jupyter_server reads from ``jpserver_extensions``."""
    from toucan_nb_server.extension import ToucanExtension

    return [{"module": "toucan_nb_server", "app": ToucanExtension}]
