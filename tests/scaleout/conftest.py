"""A Ray cluster for the scale-out tests: started once per session on the loopback address with
two declared GPUs and usage stats off (`ray start --head`), stopped at the end with no Ray process
left behind; and a runtime whose prompts run on two of its workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("ray")

PACKS = str(Path(__file__).parent / "packs")
RAY = str(Path(sys.executable).parent / "ray")
# A throwaway single-machine cluster: no usage stats, and no token authentication (a real cluster
# keeps Ray's token authentication on: docs/scale-out.md §4).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
ENV = {**os.environ, **RAY_ENV}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_processes(temp_dir: str) -> list[str]:
    """The processes of the Ray node whose session lives under `temp_dir`: its services (they name
    the folder on their command line) and everything they started (the worker processes)."""
    found: dict[int, str] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if temp_dir not in cmdline:
                continue
            for member in (proc, *proc.children(recursive=True)):
                found[member.pid] = " ".join(member.cmdline())[:120]
        except psutil.Error:
            continue
    return [f"{pid} {cmdline}" for pid, cmdline in sorted(found.items())]


def _signal_all(temp_dir: str, kill: bool) -> None:
    for line in ray_processes(temp_dir):
        try:
            proc = psutil.Process(int(line.split(" ", 1)[0]))
            proc.kill() if kill else proc.terminate()
        except psutil.Error:
            pass


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    saved = {key: os.environ.get(key) for key in RAY_ENV}
    os.environ.update(RAY_ENV)  # this process is the driver
    temp_dir = f"/tmp/toucan-ray-{os.getpid()}"  # short: Ray's socket paths live under it
    port = _free_port()
    for _attempt in range(3):
        # Ray gives its raylet 30 s to come up, which a loaded 2-core machine can miss: try again.
        started = subprocess.run([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}",
                                  "--node-ip-address=127.0.0.1", "--num-cpus=8", "--num-gpus=2",
                                  "--include-dashboard=false", "--disable-usage-stats"],
                                 env=ENV, timeout=180, capture_output=True, text=True)
        if started.returncode == 0:
            break
        _signal_all(temp_dir, kill=True)
        port = _free_port()
    assert started.returncode == 0, f"ray start failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        # Stop this node's processes only (`ray stop` would stop every Ray node of the machine):
        # SIGTERM, then SIGKILL what is still there after 15 s.
        _signal_all(temp_dir, kill=False)
        deadline = time.monotonic() + 15
        while ray_processes(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        _signal_all(temp_dir, kill=True)
        deadline = time.monotonic() + 15
        while ray_processes(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        assert ray_processes(temp_dir) == [], "Ray processes left behind"


def make_runtime(base_dir: str, address: str, prefix: str, **config: Any) -> Any:
    from toucan_nb.host.assembly import start_runtime
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    return start_runtime(Runtime(RuntimeConfig(base_dir=base_dir, cpu=True, persist=False, ray=address,
                                               ray_workers=2, ray_worker_prefix=prefix,
                                               custom_node_dirs=[PACKS], **config)))


@pytest.fixture(scope="module")
def rt(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started runtime whose prompts run on two Ray workers (named per module)."""
    base = tmp_path_factory.mktemp("scaleout")
    runtime = make_runtime(str(base), ray_cluster, f"t-{os.getpid()}-{base.name}")
    yield runtime
    runtime.backend.release_workers()  # detached workers would keep the cluster's GPUs
    runtime.stop()
