"""Nodes that read and write image files: LoadImage, LoadImageMask, SaveImage, PreviewImage.

Files live in the process's active `Folders` (input, output, temp). Decoded tensors are placed on
the runtime device; saving gathers them on the host. `set_metadata_enabled` is the
`--disable-metadata` switch, set by the host before prompts run. Node calls come from the
executor thread; INPUT_TYPES may be called from any thread.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from toucan_nb.runtime import folders
from toucan_nb.runtime.device import get_torch_device

_metadata_enabled = True

T = TypeVar("T")


def set_metadata_enabled(enabled: bool) -> None:
    """Whether SaveImage/PreviewImage embed the prompt and extra_pnginfo as PNG text chunks."""
    global _metadata_enabled
    _metadata_enabled = bool(enabled)


def metadata_enabled() -> bool:
    return _metadata_enabled


# -- input folder listing --------------------------------------------------------------------------
_EXTRA_IMAGE_EXTENSIONS = frozenset({"webp"})  # ComfyUI seeds its mimetype cache with these


def _is_image_name(name: str) -> bool:
    if name.rsplit(".", 1)[-1].lower() in _EXTRA_IMAGE_EXTENSIONS:
        return True
    mime, _ = mimetypes.guess_type(name, strict=False)
    return bool(mime) and mime.split("/", 1)[0] == "image"


def input_files(images_only: bool) -> list[str]:
    """Sorted plain files directly inside the active input directory."""
    input_dir = folders.active().input_dir
    try:
        names = [n for n in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, n))]
    except FileNotFoundError:
        return []
    if images_only:
        # ComfyUI filters LoadImage's list by mimetype, but not LoadImageMask's.
        names = [n for n in names if _is_image_name(n)]
    return sorted(names)


def _input_path(image: str) -> str:
    """The file an image name refers to, refusing names that lead out of the served folders."""
    path = folders.active().annotated_filepath_within(image)
    if path is None:
        raise ValueError(f"Invalid image file: {image} (outside the input, output and temp folders)")
    return path


def _file_sha256(image: str) -> str:
    digest = hashlib.sha256()
    with open(_input_path(image), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _validate_image_name(image: str) -> bool | str:
    path = folders.active().annotated_filepath_within(image)
    if path is None or not os.path.exists(path):
        return f"Invalid image file: {image}"
    return True


def _pillow(fn: Callable[[Any], T], arg: Any) -> T:
    """Call a Pillow function, retrying once with truncated-image loading on (Pillow #4472, #2445)."""
    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _rescale_32bit(frame: Image.Image) -> Image.Image:
    # 32-bit integer images ("I") are brought to the 8-bit range before conversion, as ComfyUI does.
    if frame.mode == "I":
        return frame.point(lambda v: v * (1 / 255))
    return frame


def _to_unit_float(img: Image.Image, device: torch.device) -> torch.Tensor:
    # Transfer 8-bit data and convert on the device: less to copy, same float32 values.
    return torch.from_numpy(np.array(img)).to(device).float() / 255.0


def _decode_frames(img: Image.Image, device: torch.device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Every frame of the first frame's size as a [1,H,W,3] image and a [1,H,W] mask (1 - alpha)."""
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    size: tuple[int, int] | None = None
    for raw in ImageSequence.Iterator(img):
        frame = _rescale_32bit(_pillow(ImageOps.exif_transpose, raw))
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        if rgb.size != size:
            continue  # frames of another size are dropped
        images.append(_to_unit_float(rgb, device)[None])
        if "A" in frame.getbands():
            masks.append(1.0 - _to_unit_float(frame.getchannel("A"), device)[None])
        elif frame.mode == "P" and "transparency" in frame.info:
            masks.append(1.0 - _to_unit_float(frame.convert("RGBA").getchannel("A"), device)[None])
        else:
            # QUIRK(ComfyUI nodes.py LoadImage): no alpha gives a 64x64 zero mask, whatever the size.
            masks.append(torch.zeros((1, 64, 64), dtype=torch.float32, device=device))
        if img.format == "MPO":
            break  # MPO's extra frames are previews of the first, not animation
    return images, masks


# -- LoadImage / LoadImageMask ------------------------------------------------------------------------
class LoadImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": (input_files(images_only=True), {"image_upload": True})}}

    def load_image(self, image: str) -> tuple[torch.Tensor, torch.Tensor]:
        device = get_torch_device()
        with _pillow(Image.open, _input_path(image)) as img:
            images, masks = _decode_frames(img, device)
        if len(images) == 1:
            return images[0], masks[0]
        return torch.cat(images, dim=0), torch.cat(masks, dim=0)

    @classmethod
    def IS_CHANGED(cls, image: str) -> str:
        return _file_sha256(image)

    @classmethod
    def VALIDATE_INPUTS(cls, image: str) -> bool | str:
        return _validate_image_name(image)


class LoadImageMask:
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    _color_channels = ["alpha", "red", "green", "blue"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": (input_files(images_only=False), {"image_upload": True}),
                             "channel": (list(cls._color_channels),)}}

    def load_image(self, image: str, channel: str) -> tuple[torch.Tensor]:
        device = get_torch_device()
        with _pillow(Image.open, _input_path(image)) as opened:
            img = _pillow(ImageOps.exif_transpose, opened)
            if img.getbands() != ("R", "G", "B", "A"):
                img = _rescale_32bit(img).convert("RGBA")
            band = channel[0].upper()
            if band not in img.getbands():
                return (torch.zeros((1, 64, 64), dtype=torch.float32, device=device),)
            mask = _to_unit_float(img.getchannel(band), device)
        if band == "A":
            mask = 1.0 - mask
        return (mask[None],)

    @classmethod
    def IS_CHANGED(cls, image: str, channel: str) -> str:
        return _file_sha256(image)

    @classmethod
    def VALIDATE_INPUTS(cls, image: str) -> bool | str:
        return _validate_image_name(image)


# -- SaveImage / PreviewImage --------------------------------------------------------------------------
def _to_host_uint8(images: torch.Tensor) -> np.ndarray:
    """[B,H,W,C] floats in 0..1 -> uint8 on the host; truncates like numpy's astype, as ComfyUI does.
    Converting before the copy moves a quarter of the bytes off the device."""
    return (images.detach() * 255.0).clamp_(0, 255).to(torch.uint8).cpu().numpy()


class SaveImage:
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the input images to your ComfyUI output directory."

    type = "output"
    prefix_append = ""
    compress_level = 4

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {
                    "default": "ComfyUI",
                    "tooltip": "The prefix for the file to save. This may include formatting information "
                               "such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values "
                               "from nodes.",
                }),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def _target_dir(self) -> str:
        return folders.active().output_dir

    def save_images(self, images: torch.Tensor, filename_prefix: str = "ComfyUI", prompt: Any = None,
                    extra_pnginfo: dict[str, Any] | None = None) -> dict[str, Any]:
        filename_prefix += self.prefix_append
        target = folders.active().get_save_image_path(
            filename_prefix, self._target_dir(), images[0].shape[1], images[0].shape[0])
        pnginfo = self._pnginfo(prompt, extra_pnginfo)
        counter = target.counter
        results = []
        for batch_number, pixels in enumerate(_to_host_uint8(images)):
            name = target.filename.replace("%batch_num%", str(batch_number))
            file = f"{name}_{counter:05}_.png"
            Image.fromarray(pixels).save(os.path.join(target.full_output_folder, file), pnginfo=pnginfo,
                                         compress_level=self.compress_level)
            results.append({"filename": file, "subfolder": target.subfolder, "type": self.type})
            counter += 1
        return {"ui": {"images": results}}

    @staticmethod
    def _pnginfo(prompt: Any, extra_pnginfo: dict[str, Any] | None) -> PngInfo | None:
        if not _metadata_enabled:
            return None
        info = PngInfo()
        if prompt is not None:
            info.add_text("prompt", json.dumps(prompt))
        if extra_pnginfo is not None:
            for key in extra_pnginfo:
                info.add_text(key, json.dumps(extra_pnginfo[key]))
        return info


# QUIRK(ComfyUI nodes.py PreviewImage): the alphabet for preview names repeats "p" and lacks "w".
_PREVIEW_ALPHABET = "abcdefghijklmnopqrstupvxyz"


class PreviewImage(SaveImage):
    type = "temp"
    compress_level = 1

    def __init__(self) -> None:
        # One random suffix per node instance, so re-runs of a node overwrite nothing of another's.
        self.prefix_append = "_temp_" + "".join(random.choice(_PREVIEW_ALPHABET) for _ in range(5))

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE",)},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def _target_dir(self) -> str:
        return folders.active().temp_dir
