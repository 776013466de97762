"""The official frontend, as the extension serves it (docs/frontend.md §2, §3.1).

The extension serves the bundle itself so that the UI loads before any kernel attaches (its index
page is `index_page`'s: with Jupyter's XSRF token handed to the UI, and a notice while no kernel is
attached). Serving
reuses the route set's own `toucan_nb.api.frontend.FrontendFiles` (ETag, Range, cached gzip,
``templates/`` and ``docs/`` from their packages); this module only decides which GET/HEAD paths
are frontend files. Every other path goes to the kernel: API routes, ``user.css``, custom-node
``extensions/<pack>/…``, and templates or docs that the server's environment lacks.

Any thread may call `Frontend.locate`; `Frontend.serve` runs on the server's IO loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from tornado.web import RequestHandler

from toucan_nb.api.frontend import FrontendFiles, default_frontend_root
from toucan_nb.api.static import safe_join

# QUIRK(docs/protocol.md §2): ComfyUI mirrors "/" at "/api/" too; index.html by name is the same page.
INDEX_PATHS = ("", "api/", "index.html")


@dataclass(frozen=True, slots=True)
class FrontendFile:
    """One file the extension answers itself: a `FrontendFiles.serve` kind and its path."""

    kind: str  # "index" | "static" | "templates" | "docs"
    relpath: str


class Frontend:
    """The bundle (or none, when comfyui_frontend_package is missing) and its lookups."""

    def __init__(self, root: str | None = None) -> None:
        root = root or default_frontend_root()
        self.root = root if root and os.path.isfile(os.path.join(root, "index.html")) else None
        self.files = FrontendFiles(self.root) if self.root else None

    def locate(self, raw_path: str) -> FrontendFile | None:
        """The frontend file a GET of ``{prefix}<raw_path>`` names, or None when it goes to the kernel.

        `raw_path` is still percent-encoded. A path with an encoded slash never names a frontend
        file (``%2F`` belongs to the kernel's userdata routes, docs/frontend.md §6.2).
        """
        if self.files is None or self.root is None:
            return None
        if raw_path in INDEX_PATHS:
            return FrontendFile("index", "")
        lowered = raw_path.lower()
        if "%2f" in lowered or "%5c" in lowered:
            return None
        path = unquote(raw_path)
        if path.startswith("templates/"):
            name = path[len("templates/") :]
            return FrontendFile("templates", name) if self.files.template_path(name) else None
        if path.startswith("docs/"):
            rel = path[len("docs/") :]
            docs = self.files.docs_root
            found = safe_join(docs, rel) if docs else None
            return FrontendFile("docs", rel) if found and os.path.isfile(found) else None
        found = safe_join(self.root, path)
        return FrontendFile("static", path) if found and os.path.isfile(found) else None

    @property
    def index_path(self) -> str | None:
        """The bundle's index.html, or None without a bundle."""
        return None if self.root is None else os.path.join(self.root, "index.html")

    async def serve(self, handler: RequestHandler, file: FrontendFile) -> None:
        """Answer `handler` with `file` (located just before). Raises HTTPError(404) if it vanished."""
        assert self.files is not None
        for name, value in cache_headers(file).items():
            handler.set_header(name, value)
        await self.files.serve(handler, file.kind, file.relpath)


def cache_headers(file: FrontendFile) -> dict[str, str]:
    """QUIRK(docs/protocol.md §3.1): ComfyUI marks ``.js``/``.css`` no-cache so upgrades show on reload.

    (index.html gets its no-cache headers from `FrontendFiles` itself, docs/protocol.md §2.)
    """
    if file.kind == "static" and file.relpath.endswith((".js", ".css")):
        return {"Cache-Control": "no-cache"}
    return {}
