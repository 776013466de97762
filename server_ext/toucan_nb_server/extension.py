"""The jupyter_server extension app: settings, and the handler table under ``{base_url}toucan/``.

Routes (the server prepends its ``base_url``; docs/protocol.md §2 and §13 for what lives below them):

    toucan, toucan/kernels/<id>                  -> redirect to the same path with "/"
    toucan/[kernels/<id>/][api/]ws               -> WebSocket relay (relay.WebSocketRelayHandler)
    toucan/[kernels/<id>/]<anything else>        -> frontend file or HTTP relay (relay.ToucanHttpHandler)

Every handler authenticates and authorizes through `auth.ToucanBaseHandler`.

Threads: the Jupyter server's main thread and IO loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Integer, Unicode

from toucan_nb.host import connection_file
from toucan_nb_server.frontend import Frontend
from toucan_nb_server.kernels import KernelDirectory
from toucan_nb_server.relay import (
    MOUNT,
    RelayConfig,
    ToucanHttpHandler,
    TrailingSlashRedirect,
    UpstreamClient,
    WebSocketRelayHandler,
)

_KERNEL_PREFIX = r"kernels/[^/]+/"


class ToucanExtension(ExtensionApp):
    """Serves toucan under ``{base_url}toucan/`` and relays it to attached kernels."""

    name = "toucan_nb_server"
    load_other_extensions = True

    frontend_root = Unicode(
        "",
        help="Folder of the frontend bundle to serve (index.html and assets). "
        "Empty: the `static` folder of comfyui_frontend_package.",
    ).tag(config=True)
    relay_connect_timeout = Float(10.0, help="Seconds to wait for a kernel's loopback connection.").tag(
        config=True
    )
    relay_request_timeout = Float(
        300.0, help="Seconds a relayed HTTP request may take before it fails with 504."
    ).tag(config=True)
    relay_max_message_size = Integer(
        256 * 1024 * 1024, help="Largest WebSocket message (bytes) relayed from a kernel."
    ).tag(config=True)
    kernel_poll_interval = Float(
        1.0, help="Seconds between checks that the kernels behind open relays are still alive."
    ).tag(config=True)

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        directories = [Path(self.serverapp.runtime_dir), connection_file.default_directory()]
        self.kernels = KernelDirectory(
            self.serverapp.kernel_manager, directories, poll_interval=self.kernel_poll_interval
        )
        self.upstream_client = UpstreamClient()
        self.relay_config = RelayConfig(
            connect_timeout=self.relay_connect_timeout,
            request_timeout=self.relay_request_timeout,
            max_message_size=self.relay_max_message_size,
        )
        self.frontend = Frontend(self.frontend_root or None)
        if self.frontend.root is None:
            self.log.warning("toucan: no frontend bundle (comfyui_frontend_package); the UI will not load")

    def initialize_handlers(self) -> None:
        relay: dict[str, Any] = {"kernels": self.kernels, "relay_config": self.relay_config}
        http = {**relay, "http_client": self.upstream_client, "frontend": self.frontend}
        self.handlers.extend(
            [
                (rf"/{MOUNT}", TrailingSlashRedirect),
                (rf"/{MOUNT}/kernels/[^/]+", TrailingSlashRedirect),
                (rf"/{MOUNT}/(?:{_KERNEL_PREFIX})?(?:api/)?ws", WebSocketRelayHandler, relay),
                (rf"/{MOUNT}/.*", ToucanHttpHandler, http),
            ]
        )
        assert self.serverapp is not None
        self.log.info("toucan: UI at %s%s/", self.serverapp.base_url, MOUNT)

    async def stop_extension(self) -> None:
        self.kernels.close()
        self.upstream_client.close()
