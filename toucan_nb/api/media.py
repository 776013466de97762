"""Input/output/temp files as the routes see them: /view lookups and renders, /upload/image and
/upload/mask saving (docs/protocol.md §9).

Every client-supplied name goes through the checks here: ComfyUI's (`..` anywhere or a leading
`/` -> 400, subfolder escape -> 403) plus ours: NUL bytes, backslashes, symlinks pointing out
of the folder and paths too long or deep to name a file (path_limits.py) are refused too. Raises `BadRequestError`. Blocking file and image work: call from
a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

from toucan_nb.api.json_input import ClientJsonError, parse_client_json
from toucan_nb.api.path_limits import check_path_size
from toucan_nb.runtime.errors import BadRequestError
from toucan_nb.runtime.folders import Folders, inside

UPLOAD_TYPES = ("input", "temp", "output")
# Served as downloads, never rendered by the browser (docs/protocol.md §9.3).
FORCED_DOWNLOAD_TYPES = frozenset({"text/html", "text/html-sandboxed", "application/xhtml+xml",
                                   "text/javascript", "text/css", "application/javascript"})


@dataclass(frozen=True, slots=True)
class Rendered:
    """An image made for /view?preview= or ?channel=."""

    body: bytes
    content_type: str


def view_path(folders: Folders, filename: str, type_name: str, subfolder: str | None) -> str:
    """The file GET /view names (400 bad name/type, 403 subfolder escape, 404 missing)."""
    filename, directory = folders.annotated_filepath(filename)
    if not filename:
        raise BadRequestError("filename is empty")
    if filename[0] == "/" or ".." in filename or "\x00" in filename:
        raise BadRequestError("invalid filename")
    if directory is None:
        directory = folders.directory_by_type(type_name)
        if directory is None:
            raise BadRequestError(f"unknown type {type_name!r}")
    if subfolder is not None:
        if "\x00" in subfolder:
            raise BadRequestError("invalid subfolder")
        full = os.path.join(directory, subfolder)
        if not inside(full, directory):
            raise BadRequestError("subfolder leaves the folder", status=403)
        directory = full
    # Only the basename of `filename` counts (docs/protocol.md §9.3).
    path = os.path.join(directory, os.path.basename(filename))
    if not os.path.isfile(path):
        raise BadRequestError("file not found", status=404)
    if not inside(path, directory):
        raise BadRequestError("file leaves the folder", status=403)
    return path


def render_view(path: str, preview: str | None, channel: str | None) -> Rendered | None:
    """The converted image for `preview`/`channel`, or None to send the file as it is."""
    if preview is None and channel not in ("rgb", "a"):
        return None
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:
        # Deviation: ComfyUI answers 500 for a non-image here.
        raise BadRequestError("the file is not an image") from exc
    with img:
        if preview is not None:
            fmt = preview.split(";")[0]
            if fmt not in ("webp", "jpeg") or "a" in (channel or ""):
                fmt = "webp"
            last = preview.split(";")[-1]
            quality = min(100, max(1, int(last))) if last.isdigit() else 90
            out = img.convert("RGB") if fmt == "jpeg" or channel == "rgb" else img
            buf = io.BytesIO()
            out.save(buf, format=fmt, quality=quality)
            return Rendered(buf.getvalue(), f"image/{fmt}")
        buf = io.BytesIO()
        if channel == "rgb":
            img.convert("RGB").save(buf, format="PNG")
        else:
            rgba = img.convert("RGBA")
            alpha = rgba.getchannel("A")
            out = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            out.putalpha(alpha)
            out.save(buf, format="PNG")
        return Rendered(buf.getvalue(), "image/png")


def _check_name(filename: str) -> None:
    if (not filename or "/" in filename or "\\" in filename or "\x00" in filename
            or filename in (".", "..")):
        raise BadRequestError("invalid file name")


def upload_target(folders: Folders, type_name: str | None, subfolder: str, filename: str) -> tuple[str, str]:
    """(upload directory, target directory) for an upload (400 on a bad type, name or escape)."""
    type_name = type_name or "input"
    upload_dir = folders.directory_by_type(type_name)
    if upload_dir is None:
        # Deviation: ComfyUI crashes (500) on an unknown type.
        raise BadRequestError(f"unknown type {type_name!r}")
    _check_name(filename)
    if "\x00" in subfolder:
        raise BadRequestError("invalid subfolder")
    target_dir = os.path.abspath(os.path.join(upload_dir, os.path.normpath(subfolder)))
    if not inside(os.path.join(target_dir, filename), upload_dir):
        raise BadRequestError("subfolder leaves the folder")
    check_path_size(os.path.join(subfolder, filename), os.path.join(target_dir, filename))
    return upload_dir, target_dir


def _same_bytes(path: str, digest: bytes) -> bool:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest() == digest


def save_upload(folders: Folders, data: bytes, filename: str, *, type_name: str | None, subfolder: str,
                overwrite: bool, write: Any = None) -> dict[str, str]:
    """POST /upload/image (and /upload/mask with `write`): returns `{"name", "subfolder", "type"}`.

    Without `overwrite`, an existing name with identical bytes is reused and nothing is written;
    otherwise `name (1).ext`, `name (2).ext`, ... is tried (docs/protocol.md §9.1). `write(path)`
    replaces the plain write of `data`.
    """
    type_name = type_name or "input"
    _upload_dir, target_dir = upload_target(folders, type_name, subfolder, filename)
    os.makedirs(target_dir, exist_ok=True)
    stem, ext = os.path.splitext(filename)
    path = os.path.join(target_dir, filename)
    duplicate = False
    if not overwrite:
        digest = hashlib.sha256(data).digest()
        counter = 1
        while os.path.exists(path):
            if os.path.isfile(path) and _same_bytes(path, digest):
                duplicate = True
                break
            filename = f"{stem} ({counter}){ext}"
            path = os.path.join(target_dir, filename)
            check_path_size(os.path.join(subfolder, filename), path)  # the counter makes the name longer
            counter += 1
    if not duplicate:
        if not inside(path, target_dir):
            raise BadRequestError("target leaves the folder")
        if write is not None:
            write(path)
        else:
            with open(path, "wb") as f:
                f.write(data)
    return {"name": filename, "subfolder": subfolder, "type": type_name}


def original_image_path(folders: Folders, original_ref: Any) -> str | None:
    """The image an /upload/mask `original_ref` names, or None when it fails a check."""
    if isinstance(original_ref, str):
        try:
            original_ref = parse_client_json(original_ref)
        except ClientJsonError:
            return None
    if not isinstance(original_ref, dict) or not isinstance(original_ref.get("filename"), str):
        return None
    try:
        return view_path(folders, original_ref["filename"], str(original_ref.get("type", "output")),
                         str(original_ref.get("subfolder", "")) or None)
    except BadRequestError:
        return None


def compose_mask(original: str, mask: bytes, target: str) -> None:
    """Save `original` with its alpha replaced by the mask's alpha, keeping PNG text chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    try:
        with Image.open(original) as orig:
            info = PngInfo()
            for key, value in getattr(orig, "text", {}).items():
                info.add_text(key, value)
            rgba = orig.convert("RGBA")
        with Image.open(io.BytesIO(mask)) as mask_img:
            alpha = mask_img.convert("RGBA").getchannel("A")
        rgba.putalpha(alpha)
        rgba.save(target, compress_level=4, pnginfo=info)
    except (OSError, ValueError) as exc:
        # Deviation: ComfyUI answers 500 for an unreadable image or a size mismatch.
        raise BadRequestError(f"could not apply the mask: {exc}") from exc
