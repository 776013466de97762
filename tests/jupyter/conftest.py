"""Fixtures for the Jupyter-side tests: a real jupyter_server (pytest-jupyter) under /user/alice/
with the toucan extension enabled, and kernels started through its own kernel manager.

pytest-jupyter has no entry point; its fixtures are imported here so that they (and its autouse
server cleanup) apply to this folder only.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

_REPO = Path(__file__).resolve().parents[2]
# The wheel maps server_ext/toucan_nb_server to a top-level package; a source checkout that is
# not pip-installed gets the same layout from sys.path (inherited by kernels via PYTHONPATH).
for _name, _where in (("toucan_nb", _REPO), ("toucan_nb_server", _REPO / "server_ext")):
    if importlib.util.find_spec(_name) is None:
        sys.path.insert(0, str(_where))
# Our helper module, importable whatever pytest's import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from pytest_jupyter.jupyter_server import *  # noqa: E402,F403
from toucan_testing import WAIT, read_attached, wait_for  # noqa: E402

FAKE_KERNEL = Path(__file__).with_name("fake_kernel.py")


@pytest.fixture
def jp_base_url() -> str:
    return "/user/alice/"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"toucan_nb_server": True}},
        "ToucanExtension": {"kernel_poll_interval": 0.2},
        # The fake kernels never answer shutdown requests: do not wait 5 s for each.
        "KernelManager": {"shutdown_wait_time": 0.5},
    }


@pytest.fixture
def fake_kernel_specs(jp_kernel_dir: Path) -> None:
    """Kernel specs for tests/jupyter/fake_kernel.py: attaching; never attaching; and attaching
    from a child process of a shell wrapper (the kernel manager only knows the wrapper's pid)."""
    direct = [sys.executable, str(FAKE_KERNEL), "-f", "{connection_file}"]
    # "; exit" keeps the shell alive as the parent (no exec of the last command).
    wrapped = ["/bin/sh", "-c", f'"{sys.executable}" "{FAKE_KERNEL}" -f "$0"; exit $?', "{connection_file}"]
    specs = {
        "toucan_fake": (direct, {}),
        "toucan_fake_silent": (direct, {"TOUCAN_FAKE_NO_ATTACH": "1"}),
        "toucan_fake_wrapped": (wrapped, {}),
    }
    for name, (argv, env) in specs.items():
        spec_dir = Path(jp_kernel_dir) / name
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec = {"argv": argv, "display_name": name, "language": "python", "env": env}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


@pytest.fixture
def start_fake_kernel(
    jp_serverapp: Any, fake_kernel_specs: None, jp_runtime_dir: Path
) -> Callable[..., Awaitable[str]]:
    """Start a fake kernel through the server's kernel manager; wait until it has attached."""
    km = jp_serverapp.kernel_manager

    async def start(*, attach: bool = True, wrapped: bool = False) -> str:
        name = "toucan_fake_wrapped" if wrapped else "toucan_fake" if attach else "toucan_fake_silent"
        kernel_id = await km.start_kernel(kernel_name=name)
        if attach:
            await wait_for(lambda: read_attached(jp_runtime_dir, kernel_id), f"kernel {kernel_id} to attach")
        return kernel_id

    return start


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return str(jp_serverapp.identity_provider.token)


@pytest.fixture
def same_origin(jp_http_port: int) -> str:
    """The Origin a browser sends for pages of this server (Host is 127.0.0.1:<port>)."""
    return f"http://127.0.0.1:{jp_http_port}"


@pytest.fixture
def toucan(
    jp_serverapp: Any, http_server_client: Any, jp_base_url: str, jp_http_port: int, token: str
) -> Callable[..., Awaitable[Any]]:
    """fetch(path, method=..., headers=..., body=..., auth=True) for a path under {base}toucan/.

    The path is sent exactly as given (already percent-encoded); `raw=True` takes it from the
    server root instead. Redirects are not followed and error statuses are returned, not raised.
    `auth=True` adds the token header.
    """

    async def fetch(
        path: str = "",
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        raw: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = dict(headers or {})
        if auth:
            headers.setdefault("Authorization", f"token {token}")
        kwargs.setdefault("follow_redirects", False)
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("request_timeout", WAIT)
        if kwargs.get("body") is not None or kwargs.get("method", "GET") in ("POST", "PUT", "PATCH"):
            kwargs.setdefault("body", "")
            kwargs.setdefault("allow_nonstandard_methods", True)
        url = path if raw else f"{jp_base_url}toucan/{path}"
        return await http_server_client.fetch(url, headers=headers, **kwargs)

    return fetch


@pytest.fixture
def toucan_ws(
    jp_serverapp: Any, http_server: Any, jp_base_url: str, jp_http_port: int, token: str
) -> Callable[..., Awaitable[Any]]:
    """Open a WebSocket to a raw path under {base}toucan/ (token header unless auth=False)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    async def connect(path: str = "ws", *, auth: bool = True, headers: dict[str, str] | None = None) -> Any:
        headers = dict(headers or {})
        if auth:
            headers.setdefault("Authorization", f"token {token}")
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}toucan/{path}"
        return await websocket_connect(
            HTTPRequest(url, headers=headers, connect_timeout=WAIT, request_timeout=WAIT)
        )

    return connect
