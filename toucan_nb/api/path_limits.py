"""Sizes a client-supplied path may have before it reaches the filesystem (user files, uploads).

A path past these cannot name a file: the first two are Linux's NAME_MAX and PATH_MAX (bytes);
the depth keeps the trees under the user and input folders within what recursive walks
(os.walk, glob's `**`, os.makedirs) handle. Deviation: ComfyUI answers such a path with a 500
(OSError ENAMETOOLONG, RecursionError); we answer before touching the disk, so nothing is half
created either: a 400, or for a read the route's own "not found" (no such file can exist, and
ComfyUI answers that where it does not crash).

Pure functions; any thread.
"""

from __future__ import annotations

from toucan_nb.runtime.errors import BadRequestError

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
MAX_DEPTH = 100


class PathSizeError(BadRequestError):
    """A client path no file can have (400; a read may answer its own 404 instead)."""


def check_path_size(relpath: str, path: str) -> None:
    """Raise PathSizeError if `relpath` (as sent) or `path` (resolved) can name no file."""
    names = [name for name in relpath.replace("\\", "/").split("/") if name not in ("", ".")]
    if any(_size(name) > MAX_NAME_BYTES for name in names):
        raise PathSizeError(f"File name too long (the limit is {MAX_NAME_BYTES} bytes per name)")
    if _size(path) > MAX_PATH_BYTES:
        raise PathSizeError(f"Path too long (the limit is {MAX_PATH_BYTES} bytes)")
    if len(names) > MAX_DEPTH:
        raise PathSizeError(f"Path nested too deeply (the limit is {MAX_DEPTH} levels)")


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
