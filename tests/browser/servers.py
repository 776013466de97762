"""The servers the browser tests drive, as subprocesses: `toucan-nb serve`, the sub-path launcher
(`subpath_server.py`) and JupyterLab with the toucan server extension.

Each waits until its port accepts connections (polling, with a timeout) and is stopped with
SIGTERM (then SIGKILL). Called from the pytest thread (fixtures).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from .support import REPO, fetch, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def console_script(name: str, module_argv: Sequence[str]) -> list[str]:
    """The venv's console script `name` if it sits next to this interpreter, else `python -m ...`."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return [path] if os.access(path, os.X_OK) else [sys.executable, *module_argv]


class ServerProcess:
    """A server subprocess with its output in a log file."""

    def __init__(self, argv: Sequence[str], log_path: str, *, env: dict[str, str] | None = None,
                 cwd: str = REPO) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        # Its own session: stop() signals the server (and nothing else) by its pid.
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for_port(self, port: int, timeout: float = START_TIMEOUT) -> float:
        """Poll until 127.0.0.1:`port` accepts a connection; returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return time.monotonic() - start
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nothing accepted connections on port {port} within {timeout}s:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Standalone:
    """`toucan-nb serve --listen 127.0.0.1 --port <free> --base-directory <dir> --cpu`."""

    def __init__(self, base_dir: str) -> None:
        self.base_dir = base_dir
        self.port = free_port()
        argv = [*console_script("toucan-nb", ["-m", "toucan_nb"]), "serve", "--listen", "127.0.0.1",
                "--port", str(self.port), "--base-directory", base_dir, "--cpu"]
        self.process = ServerProcess(argv, os.path.join(base_dir, "serve.log"))
        self.listening_after = self.process.wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/"
        # Requests wait for the runtime to finish loading nodes; one answer means it is up.
        assert fetch("GET", self.url + "api/object_info/SaveImage", timeout=START_TIMEOUT).status == 200

    def stop(self) -> None:
        self.process.stop()


class SubPath:
    """`subpath_server.py`: the route set and frontend under `base_path` (serve has no flag for it)."""

    def __init__(self, base_dir: str, base_path: str = "/toucan/") -> None:
        self.port = free_port()
        argv = [sys.executable, os.path.join(HERE, "subpath_server.py"), "--port", str(self.port),
                "--base-path", base_path, "--base-directory", base_dir]
        self.process = ServerProcess(argv, os.path.join(base_dir, "subpath.log"))
        self.process.wait_for_port(self.port)
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = self.origin + base_path

    def stop(self) -> None:
        self.process.stop()


class JupyterLab:
    """`jupyter lab` under `base_url` with token auth, isolated config/data/runtime directories.

    The toucan_nb_server extension is enabled by the jupyter-config file the package installs; the
    constructor checks that it loaded.
    """

    def __init__(self, workdir: str, base_url: str = "/user/alice/", token: str = "browser-test-token") -> None:
        self.base_url = base_url
        self.token = token
        self.root_dir = os.path.join(workdir, "root")
        self.runtime_dir = os.path.join(workdir, "runtime")
        for path in (self.root_dir, self.runtime_dir):
            os.makedirs(path, exist_ok=True)
        self.port = free_port()
        env = {
            "JUPYTER_RUNTIME_DIR": self.runtime_dir,  # shared by the server and its kernels (discovery files)
            "JUPYTER_CONFIG_DIR": os.path.join(workdir, "config"),  # no user config
            "JUPYTER_DATA_DIR": os.path.join(workdir, "data"),
            "IPYTHONDIR": os.path.join(workdir, "ipython"),
            "JUPYTER_PLATFORM_DIRS": "0",
            # The kernels' one data folder (session.default_base_dir), not the real home's ~/toucan_nb.
            "TOUCAN_NB_HOME": os.path.join(workdir, "toucan_home"),
        }
        argv = [*console_script("jupyter-lab", ["-m", "jupyter", "lab"]),
                "--no-browser", "--allow-root", f"--port={self.port}", "--ip=127.0.0.1",
                f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={self.root_dir}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--ToucanExtension.kernel_poll_interval=0.25"]
        self.process = ServerProcess(argv, os.path.join(workdir, "jupyter.log"), env=env, cwd=workdir)
        self.process.wait_for_port(self.port)
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = self.origin + base_url
        wait_until(lambda: self.api("GET", "api/status").status == 200, "the Jupyter server's REST API", START_TIMEOUT)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, body: object = None, timeout: float = 60):  # -> support.Response
        """A token-authenticated request to `{base_url}<path>`."""
        return fetch(method, self.url + path, body=body, headers=self.auth, timeout=timeout)

    def extension_loaded(self) -> bool:
        return "toucan_nb_server | extension was successfully loaded" in self.process.log()

    def channels_url(self, kernel_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}{self.base_url}api/kernels/{kernel_id}/channels?token={self.token}"

    def stop(self) -> None:
        try:
            for kernel in self.api("GET", "api/kernels", timeout=10).json():
                self.api("DELETE", f"api/kernels/{kernel['id']}", timeout=30)
        except Exception:  # the server may already be gone; stopping it is what matters
            pass
        self.process.stop()
