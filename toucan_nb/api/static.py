"""Serving files from disk: safe path joins, ETag/Range, optional cached gzip.

Used by /view, /userdata/{file}, custom-node web directories, workflow-template folders and the
frontend bundle (`frontend.py`). `safe_join` is the one place that decides whether a client path
stays inside a root: `..`, absolute paths, NUL bytes, backslashes and symlinks pointing out are
refused. Runs on the IO loop thread; gzip compression runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import gzip
import mimetypes
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Literal

from tornado.web import RequestHandler

from toucan_nb.runtime.folders import is_within

CHUNK_SIZE = 256 * 1024

# mimetypes misses or varies on these; module scripts need a JavaScript type.
_TYPES = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".webp": "image/webp",
    ".md": "text/markdown",
}
_COMPRESSIBLE_PREFIXES = ("text/", "application/javascript", "application/json", "image/svg+xml",
                          "application/wasm")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def guess_type(name: str) -> str | None:
    """The content type for a file name (None when unknown)."""
    ext = os.path.splitext(name)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(name)[0]


def safe_join(root: str, relpath: str) -> str | None:
    """`root/relpath` if it stays inside `root` (symlinks resolved), else None."""
    # NUL bytes never name a file: refused before they reach the OS.
    if "\x00" in relpath or "\\" in relpath or os.path.isabs(relpath):
        return None
    parts = relpath.split("/")
    if any(p == ".." for p in parts):
        return None
    path = os.path.abspath(os.path.join(root, *[p for p in parts if p not in ("", ".")]))
    if not is_within(path, root):
        return None
    return path


def header_safe(value: str) -> str:
    """A file name made safe for a header value (tornado rejects control characters)."""
    return re.sub(r'[\x00-\x1f\x7f"\\]', "_", value)


class GzipCache:
    """Compressed copies of static files, keyed by path, mtime and size; bounded in bytes."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> bytes | None:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, key: tuple[str, int, int], data: bytes) -> None:
        if len(data) > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._size -= len(old)


def _compress(path: str) -> bytes:
    with open(path, "rb") as f:
        return gzip.compress(f.read(), compresslevel=6, mtime=0)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None | Literal[False]:
    """(start, end_exclusive) for one `bytes=a-b` range; None if absent; False if unsatisfiable."""
    if not header:
        return None
    m = _RANGE_RE.match(header.strip())
    if not m:
        return None  # multi-range or junk: answer with the whole file, as HTTP allows
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size
    start = int(first)
    end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        return False
    return start, end


async def send_file(
    handler: RequestHandler,
    path: str,
    *,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    gzip_cache: GzipCache | None = None,
    executor: Executor | None = None,
) -> None:
    """Answer `handler`'s request with the file at `path` (which must exist).

    ETag/If-None-Match and a single byte Range are honoured; with `gzip_cache`, compressible files
    go out gzip-encoded to clients that accept it.
    """
    st = os.stat(path)
    size = st.st_size
    etag = f'"{st.st_mtime_ns:x}-{size:x}"'
    ctype = content_type or guess_type(path) or "application/octet-stream"
    handler.set_header("Content-Type", ctype)
    handler.set_header("ETag", etag)
    handler.set_header("Accept-Ranges", "bytes")
    for name, value in (headers or {}).items():
        handler.set_header(name, value)
    inm = handler.request.headers.get("If-None-Match")
    if inm and (inm.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in inm.split(",")]):
        handler.set_status(304)
        handler.clear_header("Content-Type")
        handler.finish()
        return

    accepts_gzip = "gzip" in handler.request.headers.get("Accept-Encoding", "")
    if (gzip_cache is not None and accepts_gzip and size > 1024
            and ctype.startswith(_COMPRESSIBLE_PREFIXES) and "Range" not in handler.request.headers):
        key = (path, st.st_mtime_ns, size)
        data = gzip_cache.get(key)
        if data is None:
            data = await asyncio.get_running_loop().run_in_executor(executor, _compress, path)
            gzip_cache.put(key, data)
        handler.set_header("Content-Encoding", "gzip")
        handler.set_header("Vary", "Accept-Encoding")
        handler.finish(data)
        return

    rng = _parse_range(handler.request.headers.get("Range"), size)
    if rng is False:
        handler.set_status(416)
        handler.set_header("Content-Range", f"bytes */{size}")
        handler.clear_header("Content-Type")
        handler.finish()
        return
    start, end = (0, size) if rng is None else rng
    if rng is not None:
        handler.set_status(206)
        handler.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
    handler.set_header("Content-Length", str(end - start))
    if handler.request.method == "HEAD":
        handler.finish()
        return
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            left -= len(chunk)
            handler.write(chunk)
            await handler.flush()
    handler.finish()
