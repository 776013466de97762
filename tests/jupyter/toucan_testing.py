"""Helpers shared by the Jupyter-side tests (imported by name; conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
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
