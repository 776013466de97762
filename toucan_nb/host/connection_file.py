"""The kernel-discovery file: how an attached kernel announces its loopback endpoint.

The schema is defined here once. The kernel writes it (`toucan_nb.notebook.magics`) and the Jupyter
server extension reads it (`toucan_nb_server.kernels`); nothing else knows its layout.

One JSON object per attached kernel, in the Jupyter runtime directory
(`jupyter_core.paths.jupyter_runtime_dir()`), named ``toucan-kernel-<kernel_id>.json``, mode 0600
(it holds the secret that the loopback route set demands in the `X-Toucan-Secret` header)::

    {"version": 1, "kernel_id": "<uuid>", "pid": 1234, "port": 45678,
     "secret": "<random>", "attached_at": 1767225600.5}

`kernel_id` is the id the Jupyter kernel manager gave the kernel, recovered from the name of the
kernel's own connection file (``kernel-<kernel_id>.json``). `attached_at` is float seconds since the
epoch; the extension relays `{base}toucan/` to the kernel with the largest one.

Pure file I/O: any thread may call these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The route set defines the header; the extension, which reads discovery files, takes it from here.
from toucan_nb.api.middleware import SECRET_HEADER as SECRET_HEADER

SCHEMA_VERSION = 1
FILE_PREFIX = "toucan-kernel-"
FILE_SUFFIX = ".json"

# jupyter_client names a kernel's connection file "kernel-<kernel_id>.json".
_KERNEL_CONNECTION_FILE = re.compile(r"^kernel-(?P<kernel_id>.+)\.json$")
# Kernel ids become file names: keep them to one harmless path segment.
_SAFE_KERNEL_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What one attached kernel announces. Immutable; built by the kernel, read by the extension."""

    kernel_id: str
    pid: int
    port: int
    secret: str
    attached_at: float

    def to_json(self) -> dict[str, Any]:
        """The on-disk JSON object."""
        return {"version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> ConnectionInfo:
        """Parse the on-disk object. Raises ValueError when it is not a valid version-1 record."""
        if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
            raise ValueError("not a toucan connection file (version 1)")
        kernel_id, pid, port = data.get("kernel_id"), data.get("pid"), data.get("port")
        secret, attached_at = data.get("secret"), data.get("attached_at")
        if not isinstance(kernel_id, str) or not is_safe_kernel_id(kernel_id):
            raise ValueError("bad kernel_id")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("bad pid")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError("bad port")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValueError("bad secret")
        if not isinstance(attached_at, (int, float)) or isinstance(attached_at, bool):
            raise ValueError("bad attached_at")
        return cls(kernel_id, pid, port, secret, float(attached_at))


def is_safe_kernel_id(kernel_id: str) -> bool:
    """True when `kernel_id` can name a file and a URL segment without escaping."""
    return bool(_SAFE_KERNEL_ID.match(kernel_id)) and kernel_id not in {".", ".."}


def default_directory() -> Path:
    """The Jupyter runtime directory (honours ``JUPYTER_RUNTIME_DIR``)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def kernel_id_from_connection_file(connection_file: str | os.PathLike[str]) -> str | None:
    """The kernel id encoded in a kernel connection file name, or None if the name has none."""
    match = _KERNEL_CONNECTION_FILE.match(Path(connection_file).name)
    if match is None or not is_safe_kernel_id(match["kernel_id"]):
        return None
    return match["kernel_id"]


def path_for(kernel_id: str, directory: Path | None = None) -> Path:
    """Where the file of `kernel_id` lives. Raises ValueError for an unsafe id."""
    if not is_safe_kernel_id(kernel_id):
        raise ValueError(f"unsafe kernel id: {kernel_id!r}")
    return (directory or default_directory()) / f"{FILE_PREFIX}{kernel_id}{FILE_SUFFIX}"


def write(info: ConnectionInfo, directory: Path | None = None) -> Path:
    """Write `info` atomically with mode 0600 and return its path.

    The temporary file is created 0600 before any byte of the secret is written, then renamed over
    the final name, so a reader never sees a partial file or a readable secret.
    """
    target = path_for(info.kernel_id, directory)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".toucan-", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)  # mkstemp already uses 0600; make it explicit
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info.to_json(), f)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def read(path: Path) -> ConnectionInfo | None:
    """Parse one file; None when it is missing, unreadable or not a valid record."""
    try:
        return ConnectionInfo.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def read_all(directories: Iterable[Path]) -> list[ConnectionInfo]:
    """Every valid record in `directories` (each directory scanned once), in no particular order."""
    found: list[ConnectionInfo] = []
    seen: set[Path] = set()
    for directory in directories:
        try:
            resolved = directory.resolve()
        except OSError:
            continue
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            paths = sorted(resolved.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))
        except OSError:
            continue
        for path in paths:
            info = read(path)
            # The name must agree with the content: a file cannot speak for another kernel id.
            if info is not None and path.name == f"{FILE_PREFIX}{info.kernel_id}{FILE_SUFFIX}":
                found.append(info)
    return found


def remove(info: ConnectionInfo, directory: Path | None = None) -> None:
    """Remove the file of `info` if it is still ours (same pid and secret); never raises OSError.

    A restarted kernel with the same id may already have written its own file; leave that one alone.
    """
    path = path_for(info.kernel_id, directory)
    current = read(path)
    if current is not None and (current.pid, current.secret) != (info.pid, info.secret):
        return
    with contextlib.suppress(OSError):
        path.unlink()
