"""Helpers shared by the Jupyter-side tests (imported by name; conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from toucan_nb.host import connection_file

WAIT = 30.0  # seconds any single wait in these tests may take before it fails


async def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `predicate` on the running loop until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def read_attached(runtime_dir: Path, kernel_id: str) -> connection_file.ConnectionInfo | None:
    return connection_file.read(connection_file.path_for(kernel_id, runtime_dir))


def kernel_pid(serverapp: Any, kernel_id: str) -> int:
    pid = serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    assert isinstance(pid, int)
    return pid


def pid_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def body_json(response: Any) -> Any:
    return json.loads(response.body)


async def eventually(
    fetch: Callable[[], Any], check: Callable[[Any], bool], what: str, timeout: float = WAIT
) -> Any:
    """Await `fetch()` repeatedly until `check(result)` holds; returns that result."""
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if check(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {result!r}")
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class BrowserSession:
    """The cookies a browser holds after opening the UI with ``?token=``: Jupyter's login cookie
    and the ``_xsrf`` cookie the UI page sets (its value is the XSRF token the page's script sends)."""

    login: str  # "name=value"
    xsrf: str  # the _xsrf cookie's value

    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": f"{self.login}; _xsrf={self.xsrf}"}

    def fetch_headers(self) -> dict[str, str]:
        """What the UI's patched fetch sends: both cookies and the X-XSRFToken header."""
        return {**self.cookie_header(), "X-XSRFToken": self.xsrf}

    @property
    def xsrf_arg(self) -> str:
        return urllib.parse.quote(self.xsrf, safe="")


def set_cookies(response: Any) -> dict[str, str]:
    cookies = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, _, value = header.split(";", 1)[0].partition("=")
        cookies[name.strip()] = value.strip()
    return cookies


async def log_in(toucan: Callable[..., Any], token: str) -> BrowserSession:
    """Open the UI with ?token= as a user's link does; return the cookies the browser then holds."""
    page = await toucan(f"?token={token}", auth=False, headers={"Sec-Fetch-Mode": "navigate"})
    assert page.code == 200, page.code
    cookies = set_cookies(page)
    login = next((f"{name}={value}" for name, value in cookies.items() if name.startswith("username-")), None)
    assert login is not None and "_xsrf" in cookies, f"cookies set: {sorted(cookies)}"
    return BrowserSession(login, cookies["_xsrf"])


async def execute(kernel_client: Any, code: str, timeout: float = 180.0) -> list[str]:
    """Run `code` in a kernel (jupyter_client); return its stream/result texts; fail on an error reply."""
    texts: list[str] = []

    def collect(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["header"]["msg_type"] == "stream":
            texts.append(content["text"])
        elif message["header"]["msg_type"] in ("execute_result", "display_data"):
            texts.append(content["data"].get("text/plain", ""))
        elif message["header"]["msg_type"] == "error":
            texts.append("\n".join(content["traceback"]))

    reply = await kernel_client.execute_interactive(code, timeout=timeout, output_hook=collect)
    assert reply["content"]["status"] == "ok", "".join(texts)
    return texts


# -- a JupyterHub-like setup: identity from the proxy, per-action authorization ------------------

from jupyter_server.auth import Authorizer, IdentityProvider, User  # noqa: E402

HUB_USER_HEADER = "X-Test-Hub-User"
AUTHORIZER_CALLS: list[tuple[str, str, str]] = []


class HubLikeIdentityProvider(IdentityProvider):
    """Identifies users asynchronously from a header, as JupyterHub's OAuth cookie check does."""

    async def get_user(self, handler: Any) -> User | None:
        await asyncio.sleep(0)
        name = handler.request.headers.get(HUB_USER_HEADER)
        if not name:
            return None
        # A header that a page cannot make the browser add: a credential like a token (no XSRF).
        handler._token_authenticated = True
        return User(username=name)


class ReadOnlyBobAuthorizer(Authorizer):
    """alice may do anything; bob may only read. Records every decision it is asked for."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        AUTHORIZER_CALLS.append((user.username, action, resource))
        return user.username == "alice" or action == "read"
