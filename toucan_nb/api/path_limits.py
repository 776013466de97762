"""Sizes a client-supplied path may have before it reaches the filesystem (user files, uploads).

A path past these cannot name a file: the first two are Linux's NAME_MAX and PATH_MAX (bytes);
the depth keeps the trees under the user and input folders within what recursive walks
(os.walk, glob's `**`, os.makedirs) handle. Deviation: ComfyUI answers such a path with a 500
(OSError ENAMETOOLONG, RecursionError); we answer a 400 before touching the disk, so nothing is
half created either.

Pure functions; any thread.
"""

from __future__ import annotations

from toucan_nb.runtime.errors import BadRequestError

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
MAX_DEPTH = 100


def check_path_size(relpath: str, path: str) -> None:
    """Raise BadRequestError (400) if `relpath` (as sent) or `path` (resolved) can name no file."""
    names = [name for name in relpath.replace("\\", "/").split("/") if name not in ("", ".")]
    if any(_size(name) > MAX_NAME_BYTES for name in names):
        raise BadRequestError(f"File name too long (the limit is {MAX_NAME_BYTES} bytes per name)")
    if _size(path) > MAX_PATH_BYTES:
        raise BadRequestError(f"Path too long (the limit is {MAX_PATH_BYTES} bytes)")
    if len(names) > MAX_DEPTH:
        raise BadRequestError(f"Path nested too deeply (the limit is {MAX_DEPTH} levels)")


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
