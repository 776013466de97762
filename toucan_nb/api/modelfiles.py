"""Model files as the routes see them: safetensors headers, /experiment/models listings and
previews (docs/protocol.md §4 view_metadata, §11 experiment/models).

Blocking file I/O: call from a worker thread (`ApiContext.run_blocking`).
"""

from __future__ import annotations

import base64
import glob
import io
import json
import logging
import os
import struct
from typing import Any

from toucan_nb.runtime.folders import SUPPORTED_PT_EXTENSIONS, Folders, is_within

log = logging.getLogger(__name__)

EXCLUDED_FROM_EXPERIMENT = ("configs", "custom_nodes")
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def read_safetensors_header(path: str, max_size: int) -> dict[str, Any] | None:
    """The JSON header of a .safetensors file, or None if unreadable or larger than `max_size`."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                return None
            (length,) = struct.unpack("<Q", raw)
            if length > max_size:
                return None
            header = json.loads(f.read(length))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


def metadata(folders: Folders, folder_name: str, filename: str) -> dict[str, Any] | None:
    """GET /view_metadata/{folder}?filename=: the `__metadata__` map, or None (-> 404)."""
    if not filename.endswith(".safetensors") or "\x00" in filename:
        return None
    path = folders.get_full_path(folder_name, filename)
    if path is None:
        return None
    header = read_safetensors_header(path, 1024 * 1024)
    if header is None or "__metadata__" not in header:
        return None
    meta = header["__metadata__"]
    return meta if isinstance(meta, dict) else None


def model_folders(folders: Folders) -> list[dict[str, Any]]:
    """GET /experiment/models."""
    return [{"name": name, "folders": folders.get_folder_paths(name)}
            for name in folders.model_folder_names() if name not in EXCLUDED_FROM_EXPERIMENT]


def model_files(folders: Folders, folder_name: str) -> list[dict[str, Any]] | None:
    """GET /experiment/models/{folder}: files with stats; None for an unknown folder (-> 404)."""
    if folder_name not in folders.model_folder_names():
        return None
    out: list[dict[str, Any]] = []
    for index, root in enumerate(folders.get_folder_paths(folder_name)):
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != ".git" and not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUPPORTED_PT_EXTENSIONS:
                    continue
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                out.append({"name": os.path.relpath(full, root), "pathIndex": index,
                            "modified": st.st_mtime, "created": st.st_ctime, "size": st.st_size})
    return out


def model_preview(folders: Folders, folder_name: str, path_index: str, filename: str) -> bytes | None:
    """GET /experiment/models/preview/...: a WEBP preview, or None (-> 404).

    Looks for `<stem>.<image ext>`, `<stem>.preview.<image ext>`, then the first
    `ssmd_cover_images` entry in the safetensors metadata.
    """
    if folder_name not in folders.model_folder_names() or "\x00" in filename:
        return None
    roots = folders.get_folder_paths(folder_name)
    try:
        root = roots[int(path_index)]
    except (ValueError, IndexError):
        return None
    full = os.path.abspath(os.path.join(root, filename))
    if not is_within(full, root) or not os.path.isdir(os.path.dirname(full)):
        return None
    stem = os.path.splitext(full)[0]
    sources: list[Any] = []
    candidates = glob.glob(glob.escape(stem) + ".*")
    for suffix in ("", ".preview"):
        for cand in candidates:
            base, ext = os.path.splitext(cand)
            if base == stem + suffix and ext.lower() in _IMAGE_EXTS and is_within(cand, root):
                sources.append(cand)
    safetensors = stem + ".safetensors"
    if os.path.isfile(safetensors):
        header = read_safetensors_header(safetensors, 8 * 1024 * 1024) or {}
        covers = (header.get("__metadata__") or {}).get("ssmd_cover_images")
        if isinstance(covers, str):
            try:
                sources.extend(io.BytesIO(base64.b64decode(c)) for c in json.loads(covers))
            except (ValueError, TypeError):
                log.debug("bad ssmd_cover_images in %s", safetensors)
    if not sources:
        return None
    from PIL import Image

    try:
        with Image.open(sources[0]) as img:
            buf = io.BytesIO()
            img.save(buf, format="WEBP")
            return buf.getvalue()
    except Exception:
        return None
