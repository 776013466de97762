"""The shipped jupyter-config file enables the extension with no other configuration: a real
`jupyter server` subprocess whose config path holds only that file (what `pip install` puts in
`<prefix>/etc/jupyter`), under base_url /user/alice/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from toucan_testing import WAIT

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "server_ext" / "jupyter-config"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_shipped_config_enables_the_extension(tmp_path):
    assert json.loads((SHIPPED_CONFIG / "jupyter_server_config.d" / "toucan_nb.json").read_text()) == {
        "ServerApp": {"jpserver_extensions": {"toucan_nb_server": True}}
    }
    runtime_dir = tmp_path / "runtime"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(SHIPPED_CONFIG),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "JUPYTER_TOKEN": "t0ken",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO), str(REPO / "server_ext"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--port=0", "--ServerApp.allow_root=True",
        "--ServerApp.base_url=/user/alice/", f"--ServerApp.root_dir={tmp_path}",
    ]  # fmt: skip
    log = tmp_path / "server.log"
    with (
        log.open("wb") as log_file,
        subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file) as server,
    ):
        try:
            deadline = time.monotonic() + WAIT
            while not list(runtime_dir.glob("jpserver-*.json")):
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "jupyter server did not start"
                time.sleep(0.1)
            info = json.loads(next(runtime_dir.glob("jpserver-*.json")).read_text())
            base = f"http://127.0.0.1:{info['port']}/user/alice/toucan/"

            def get(path: str, token: bool = True) -> tuple[int, bytes]:
                headers = {"Authorization": "token t0ken"} if token else {}
                try:
                    with urllib.request.urlopen(
                        urllib.request.Request(base + path, headers=headers), timeout=WAIT
                    ) as r:
                        return r.status, r.read()
                except urllib.error.HTTPError as exc:
                    with exc:
                        return exc.code, exc.read()

            status, page = get("")
            assert status == 200 and b"<html" in page.lower()
            assert get("api/object_info") == (
                503,
                b'{"error": "No kernel is attached to toucan. Run `%load_ext toucan_nb` in a notebook on this '
                b'Jupyter server."}',
            )
            status, _ = get("api/object_info", token=False)
            assert status == 403
        finally:
            server.terminate()
            server.wait(WAIT)
