"""`ApiSettings`: how one instance of the route set is served (who may call it, where, limits)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Options of `make_app`.

    cors_origin: None = origin-check mode (docs/protocol.md §3.3); a string = CORS mode (§3.2), the
        value sent as Access-Control-Allow-Origin (`--enable-cors-header`, bare flag = "*").
    frontend_root: the static directory of the web frontend to serve at `<base>/`, or None to
        serve no frontend (the Jupyter extension serves it itself).
    max_upload_size_mb: the request body limit (every body, not only uploads). An int reports an
        int `max_upload_size` feature flag, a float a float, as ComfyUI does (vectors README §1).
    multi_user: per-user storage keyed by the `Comfy-User` header (`--multi-user`).
    secret: None, or the value every request and the /ws upgrade must carry in `X-Toucan-Secret`
        (the kernel's private loopback endpoint); anything else gets 403.
    base_path: URL prefix every route is mounted under ("/" = root, "/toucan/" ...).
    argv: reported as `system_stats.system.argv`; None = this process's `sys.argv`.
    serve_templates / serve_docs: serve `/templates` and `/docs` from the
        comfyui-workflow-templates and comfyui-embedded-docs packages when they are installed
        (only together with a frontend).
    """

    cors_origin: str | None = None
    frontend_root: str | None = None
    max_upload_size_mb: int | float = 100
    multi_user: bool = False
    secret: str | None = None
    base_path: str = "/"
    argv: tuple[str, ...] | None = None
    serve_templates: bool = True
    serve_docs: bool = True

    @property
    def prefix(self) -> str:
        """`base_path` without its trailing slash ("" for the root)."""
        path = "/" + self.base_path.strip("/")
        return "" if path == "/" else path

    @property
    def max_body_bytes(self) -> int:
        """docs/protocol.md §3.4: `round(MB * 1024 * 1024)`."""
        return round(self.max_upload_size_mb * 1024 * 1024)

    @property
    def max_upload_size_flag(self) -> int | float:
        """The `max_upload_size` feature flag (bytes; float iff the MB value is a float)."""
        return self.max_upload_size_mb * 1048576
