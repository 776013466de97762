"""Images for cells: IMAGE/MASK tensors to PIL, PNG bytes, history image files, and displaying them.

IMAGE is float [B,H,W,C] in 0..1 and MASK [B,H,W] (docs/architecture.md, decision 7); `to_pil` accepts either,
on any device, and returns one PIL image per batch item. History "images" items (`{"filename",
"subfolder", "type"}`, docs/protocol.md §17) are read from the runtime's folders. `display_pngs` emits
ordinary `image/png` outputs, which a saved notebook keeps and
nbviewer and VS Code show. Called from the shell thread or the widget's pump thread.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

# The history item types whose files we may read (never arbitrary paths).
_IMAGE_TYPES = ("output", "temp", "input")


def to_pil(image: Any) -> list[Any]:
    """One PIL image per batch item of an IMAGE ([B,H,W,C] or [H,W,C]) or MASK ([B,H,W]) tensor/array.

    Also accepts a PIL image (returned in a list) or a list of any of these. Raises TypeError/ValueError.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        return [image]
    if isinstance(image, (list, tuple)):
        return [img for item in image for img in to_pil(item)]
    array = _to_numpy(image)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        array = array[..., None]  # a MASK batch [B,H,W]
    elif array.ndim == 3:
        array = array[None]  # one image [H,W,C]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an IMAGE [B,H,W,C] or MASK [B,H,W] tensor, got shape {tuple(array.shape)}")
    import numpy as np

    pixels = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    # uint8 [H,W] -> L, [H,W,3] -> RGB, [H,W,4] -> RGBA
    return [Image.fromarray(item[..., 0] if item.shape[-1] == 1 else item) for item in pixels]


def _to_numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, on any device
        return value.detach().to("cpu").float().numpy()
    if isinstance(value, np.ndarray):
        return value.astype(np.float32)
    raise TypeError(f"cannot make images from {type(value).__name__}")


def png_bytes(image: Any) -> bytes:
    """PNG encoding of a PIL image."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def history_image_paths(folders: Any, ui_outputs: Mapping[str, Any]) -> list[str]:
    """Paths of the "images" files in history outputs `{node_id: ui}`, in node order; missing files skipped."""
    paths: list[str] = []
    for ui in ui_outputs.values():
        if not isinstance(ui, Mapping):
            continue
        for item in ui.get("images") or []:
            path = _item_path(folders, item)
            if path is not None and os.path.isfile(path):
                paths.append(path)
    return paths


def _item_path(folders: Any, item: Any) -> str | None:
    if not isinstance(item, Mapping) or item.get("type", "output") not in _IMAGE_TYPES:
        return None
    root = folders.directory_by_type(item.get("type", "output"))
    if root is None:
        return None
    root = os.path.abspath(root)
    path = os.path.abspath(os.path.join(root, str(item.get("subfolder") or ""), str(item.get("filename", ""))))
    # Never leave the folder (a malicious or odd history entry).
    return path if os.path.commonpath([root, path]) == root else None


def read_png(path: str) -> bytes:
    """The file's bytes when it is a PNG, else the image re-encoded as PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return png_bytes(img.convert("RGBA") if img.mode not in ("RGB", "RGBA", "L") else img)


def display_pngs(pngs: list[bytes]) -> None:
    """Show PNGs as ordinary outputs of the current cell: one `image/png` each (nothing when empty)."""
    if not pngs:
        return
    from IPython.display import Image as IPyImage
    from IPython.display import display

    for data in pngs:
        display(IPyImage(data=data, format="png"))


def show(images: Any) -> None:
    """Display IMAGE/MASK tensors, PIL images or lists of them as PNG outputs."""
    display_pngs([png_bytes(img) for img in to_pil(images)])
