"""Serving the official web frontend (docs/frontend.md §1-§2): the static bundle, `/templates`, `/docs`.

Kept apart from the route set so the Jupyter server extension can serve the UI itself with the
same code (before any kernel attaches): build a `FrontendFiles` and mount
`frontend_routes(prefix, files, handler_class)` with a `FrontendHandler` subclass that adds its
own authentication.

* the bundle comes from `comfyui_frontend_package` (`importlib.resources`), or a directory;
* `<base>/` answers index.html with no-cache headers; `<base>` redirects to `<base>/` (a page
  loaded without the slash stays blank, docs/frontend.md §2.1);
* compressible files go out gzip-encoded (compressed once, cached), others with ETag/Range;
* `/templates/<file>` maps template asset names to files of the comfyui-workflow-templates
  packages when installed (the core loader's manifest; legacy packages: their folder);
* `/docs/...` serves comfyui-embedded-docs when installed.

Handlers run on the IO loop thread; compression runs on a worker thread.
"""

from __future__ import annotations

import importlib
import importlib.resources
import logging
import os
import re
import threading
from concurrent.futures import Executor
from typing import Any

from tornado.web import HTTPError, RequestHandler

from toucan_nb.api.errors import error_response
from toucan_nb.api.static import GzipCache, safe_join, send_file

log = logging.getLogger(__name__)

NO_CACHE_HEADERS = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}
_VERSION_RE = re.compile(r"^([a-zA-Z0-9][a-zA-Z0-9-]{0,38})/([a-zA-Z0-9_.-]+)@(v?[\d.]+[\w.-]*|latest)$")


class FrontendNotFoundError(Exception):
    """The requested frontend is not available locally."""


def _package_dir(package: str, sub: str) -> str | None:
    try:
        path = importlib.resources.files(package) / sub
    except (ModuleNotFoundError, TypeError):
        return None
    path_str = str(path)
    return path_str if os.path.isdir(path_str) else None


def default_frontend_root() -> str | None:
    """The `static/` folder of the installed comfyui-frontend-package, or None."""
    return _package_dir("comfyui_frontend_package", "static")


def docs_root() -> str | None:
    """The `docs/` folder of comfyui-embedded-docs, or None when not installed."""
    return _package_dir("comfyui_embedded_docs", "docs")


def custom_version_root(base_dir: str, version: str) -> str:
    """The folder `--front-end-version owner/repo@version` names under `<base>/web_custom_versions`.

    Nothing is downloaded (no network): raises FrontendNotFoundError unless the folder exists.
    `latest` picks the highest version folder present.
    """
    m = _VERSION_RE.match(version)
    if not m:
        raise FrontendNotFoundError(f"--front-end-version must look like owner/repo@1.2.3, not {version!r}")
    owner, repo, wanted = m.groups()
    folder = os.path.join(base_dir, "web_custom_versions", f"{owner}_{repo}")
    if wanted == "latest":
        versions = sorted((d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))),
                          key=_version_key) if os.path.isdir(folder) else []
        if versions:
            return os.path.join(folder, versions[-1])
    else:
        path = os.path.join(folder, wanted.removeprefix("v"))
        if os.path.isdir(path):
            return path
    raise FrontendNotFoundError(
        f"frontend {version} is not installed at {folder}{os.sep}<version>; toucan-nb cannot download it. "
        f"Unpack its dist.zip there, or use --front-end-root DIR.")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))


def template_assets() -> dict[str, str]:
    """Template asset file name -> absolute path, from the installed template packages."""
    try:
        loader: Any = importlib.import_module("comfyui_workflow_templates_core.loader")
    except ImportError:
        legacy = _package_dir("comfyui_workflow_templates", "templates")
        if legacy is None:
            return {}
        return {name: os.path.join(legacy, name) for name in os.listdir(legacy)}
    assets: dict[str, str] = {}
    for entry in loader.iter_templates():
        for asset in entry.assets:
            if asset.filename in assets:
                continue
            try:
                assets[asset.filename] = loader.get_asset_path(entry.template_id, asset.filename)
            except (FileNotFoundError, KeyError):
                continue  # its media package is not installed: that file 404s
    return assets


class FrontendFiles:
    """The files one frontend mount serves; shared by its handlers."""

    def __init__(self, root: str, *, templates: bool = True, docs: bool = True,
                 executor: Executor | None = None) -> None:
        self.root = os.path.abspath(root)
        self.docs_root = docs_root() if docs else None
        self._templates_enabled = templates
        self._templates: dict[str, str] | None = None
        self._templates_lock = threading.Lock()
        self.gzip = GzipCache()
        self.executor = executor

    def template_path(self, name: str) -> str | None:
        if not self._templates_enabled:
            return None
        with self._templates_lock:
            if self._templates is None:
                self._templates = template_assets()
        return self._templates.get(name)

    async def serve(self, handler: RequestHandler, kind: str, relpath: str = "") -> None:
        """Answer `handler` with the `kind` file at `relpath`; raises HTTPError(404)."""
        path: str | None
        headers: dict[str, str] = {}
        if kind == "index":
            path = os.path.join(self.root, "index.html")
            headers = NO_CACHE_HEADERS
        elif kind == "templates":
            path = self.template_path(relpath) if "/" not in relpath else None
        elif kind == "docs":
            path = None if self.docs_root is None else safe_join(self.docs_root, relpath)
        else:
            path = safe_join(self.root, relpath)
            if path is not None and os.path.isdir(path):
                path = os.path.join(path, "index.html")
        if path is None or not os.path.isfile(path):
            raise HTTPError(404)
        await send_file(handler, path, headers=headers, gzip_cache=self.gzip, executor=self.executor)


class FrontendHandler(RequestHandler):
    """Serves one kind of frontend file: index, redirect, static, templates or docs.

    Subclass and override `check_access` (or mix in a guard) to add authentication.
    """

    def initialize(self, files: FrontendFiles, kind: str, redirect_to: str | None = None) -> None:
        self.files = files
        self.kind = kind
        self.redirect_to = redirect_to

    def check_access(self) -> None:
        """Raise an HTTPError to refuse the request; the default allows everything."""

    def prepare(self) -> Any:
        self.check_access()

    async def get(self, relpath: str = "") -> None:
        if self.kind == "redirect":
            assert self.redirect_to is not None
            query = self.request.query
            self.redirect(self.redirect_to + ("?" + query if query else ""), permanent=False)
            return
        await self.files.serve(self, self.kind, relpath)

    async def head(self, relpath: str = "") -> None:
        await self.get(relpath)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        resp = error_response(exc, status_code)
        self.set_status(resp.status)
        for name in ("Content-Encoding", "Content-Range", "ETag", "Accept-Ranges"):
            self.clear_header(name)
        if resp.content_type:
            self.set_header("Content-Type", resp.content_type)
        self.finish(resp.body)


def frontend_routes(prefix: str, files: FrontendFiles, handler_class: type[FrontendHandler] = FrontendHandler,
                    **kwargs: Any) -> list[tuple[str, type[FrontendHandler], dict[str, Any]]]:
    """URL rules serving the frontend under `prefix` ("" or "/toucan"); mount them last.

    `kwargs` are passed to every handler's `initialize` along with `files` and `kind`.
    """
    def rule(pattern: str, kind: str, **extra: Any) -> tuple[str, type[FrontendHandler], dict[str, Any]]:
        return pattern, handler_class, {"files": files, "kind": kind, **kwargs, **extra}

    rules = []
    if prefix:
        rules.append(rule(re.escape(prefix), "redirect", redirect_to=prefix + "/"))
    rules += [
        rule(re.escape(prefix) + r"/", "index"),
        rule(re.escape(prefix) + r"/api/", "index"),
        rule(re.escape(prefix) + r"/templates/(.*)", "templates"),
        rule(re.escape(prefix) + r"/docs/(.*)", "docs"),
        rule(re.escape(prefix) + r"/(.*)", "static"),
    ]
    return rules
