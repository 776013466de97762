"""A real JupyterHub for the tests: hub, configurable-http-proxy and one single-user server per user.

`Hub` writes a config into a temporary folder and runs ``jupyterhub`` from this venv on loopback
ports: DummyAuthenticator (one password, users alice and bob), SimpleLocalProcessSpawner (each
user's server is a process of the current OS user, with its home in the temporary folder, running
``jupyterhub-singleuser`` of this venv, so the toucan server extension is enabled), the proxy from
``tests/hub/node_modules`` (``npm ci`` in tests/hub, as scripts/test.sh does). A service token with
admin scopes starts servers and makes the users' API tokens.

`stop` stops the servers through the hub, then the hub (which stops its proxy), and then ends any
process it started that is still there, by pid: nothing outlives the tests.

Called from the pytest thread (module fixtures).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from typing import Any

import psutil

from tests.browser.servers import ServerProcess, free_port
from tests.browser.support import Response, fetch, kernel_execute, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "node_modules", ".bin", "configurable-http-proxy")
PASSWORD = "toucan-hub-test-password"
USERS = ("alice", "bob")
START_TIMEOUT = 90.0

CONFIG = """
c = get_config()  # noqa
c.JupyterHub.bind_url = {public_url!r}
c.JupyterHub.hub_bind_url = {hub_url!r}
c.ConfigurableHTTPProxy.api_url = {proxy_api_url!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.db_url = "sqlite:///" + {db!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root", "--ToucanExtension.kernel_poll_interval=0.25"]
c.Spawner.default_url = "/toucan/"
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
c.JupyterHub.services = [{{"name": "toucan-tests", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "toucan-tests",
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
    "services": ["toucan-tests"],
}}]
c.JupyterHub.cleanup_servers = True
"""


class Hub:
    """``jupyterhub`` in `workdir`; `url` is the public (proxy) URL, without a trailing slash."""

    def __init__(self, workdir: str) -> None:
        if not os.access(PROXY, os.X_OK):
            raise RuntimeError(f"{PROXY} is missing: run `npm ci` in tests/hub (scripts/test.sh does)")
        self.workdir = workdir
        self.homes = os.path.join(workdir, "home")
        os.makedirs(self.homes, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(16)
        self.tokens: dict[str, str] = {}
        bindir = os.path.dirname(sys.executable)
        config = CONFIG.format(
            public_url=self.url + "/", hub_url=f"http://127.0.0.1:{free_port()}",
            proxy_api_url=f"http://127.0.0.1:{free_port()}", proxy=PROXY, proxy_token=secrets.token_hex(16),
            db=os.path.join(workdir, "jupyterhub.sqlite"), cookie_secret=os.path.join(workdir, "cookie_secret"),
            password=PASSWORD, users=list(USERS), homes=self.homes,
            singleuser=os.path.join(bindir, "jupyterhub-singleuser"), admin_token=self.admin_token,
        )
        config_path = os.path.join(workdir, "jupyterhub_config.py")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(config)
        argv = [os.path.join(bindir, "jupyterhub"), "-f", config_path]
        # PATH: the single-user servers' kernels must find this venv's python first.
        env = {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        self.process = ServerProcess(argv, os.path.join(workdir, "jupyterhub.log"), env=env, cwd=workdir)
        self._started: dict[int, float] = {}  # pid -> start time (a recycled pid is not ours)
        try:
            self.process.wait_for_port(self.port, START_TIMEOUT)
            wait_until(lambda: self._answers("/hub/api/"), "the hub's API through the proxy", START_TIMEOUT)
            for user in USERS:
                self._start_server(user)
                self.tokens[user] = self.api("POST", f"users/{user}/tokens", {"note": "toucan tests"}).json()["token"]
        except BaseException:
            self.stop()
            raise

    def _answers(self, path: str) -> bool:
        try:
            return fetch("GET", self.url + path, timeout=5).status == 200
        except OSError:
            return False

    def api(self, method: str, path: str, body: Any = None) -> Response:
        """A request to the hub's REST API with the admin service token."""
        return fetch(method, f"{self.url}/hub/api/{path}", body=body,
                     headers={"Authorization": f"token {self.admin_token}"}, timeout=60)

    def _start_server(self, user: str) -> None:
        started = self.api("POST", f"users/{user}/server")
        assert started.status in (201, 202), (started.status, started.body)

        def ready() -> bool:
            server = self.api("GET", f"users/{user}").json().get("servers", {}).get("")
            return bool(server and server.get("ready"))

        wait_until(ready, f"{user}'s single-user server", START_TIMEOUT, 0.2)
        self._remember_processes()

    def _remember_processes(self) -> None:
        try:
            for child in psutil.Process(self.process.proc.pid).children(recursive=True):
                self._started[child.pid] = child.create_time()
        except psutil.Error:
            pass

    def _ours(self, pid: int) -> psutil.Process | None:
        try:
            process = psutil.Process(pid)
            if process.create_time() == self._started[pid] and process.status() != psutil.STATUS_ZOMBIE:
                return process
        except psutil.Error:
            pass
        return None

    def home(self, user: str) -> str:
        return os.path.join(self.homes, user)

    def user_url(self, user: str) -> str:
        """``{hub}/user/<user>/`` (the single-user server's base URL)."""
        return f"{self.url}/user/{user}/"

    def user_api(self, user: str, method: str, path: str, body: Any = None, *, as_user: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
        """A request to ``/user/<user>/<path>`` with the API token of `as_user` (default: `user`)."""
        token = self.tokens[as_user or user]
        return fetch(method, self.user_url(user) + path, body=body,
                     headers={"Authorization": f"token {token}", **(headers or {})}, timeout=60)

    def kernel_execute(self, user: str, kernel_id: str, code: str) -> str:
        """Run `code` in a kernel of `user`'s server (its channels WebSocket, the user's token)."""
        url = f"ws://127.0.0.1:{self.port}/user/{user}/api/kernels/{kernel_id}/channels"
        return kernel_execute(url, code, headers=[f"Authorization: token {self.tokens[user]}"])

    def log(self) -> str:
        return self.process.log()

    def stop(self) -> None:
        """Stop the users' servers, then the hub; end whatever it started that is left, by pid."""
        self._remember_processes()
        if self.process.proc.poll() is None:
            for user in USERS:
                try:
                    self.api("DELETE", f"users/{user}/server")
                except OSError:
                    pass
        self.process.stop()  # SIGTERM: the hub stops the remaining servers and its proxy
        deadline = time.monotonic() + 15
        for pid in sorted(self._started):
            process = self._ours(pid)
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except psutil.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        shutil.rmtree(self.homes, ignore_errors=True)

    def leftover_processes(self) -> list[int]:
        """Processes this hub started that are still running (none after `stop`)."""
        alive = [pid for pid in self._started if self._ours(pid) is not None]
        if self.process.proc.poll() is None:
            alive.append(self.process.proc.pid)
        return alive
