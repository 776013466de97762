"""`comfy_api.latest.ui`: what V3 nodes show in the UI (`NodeOutput(ui=...)`), docs/execution.md §1.9.

Each class's `as_dict()` is the node's entry in history `outputs` and the `executed` event, in
ComfyUI's shapes: `{"images": [{"filename", "subfolder", "type"}], "animated": (False,)}` for a
preview, `{"text": (value,)}` for text, and so on. Images are written as ComfyUI writes them:
`<prefix>_<counter:05>_.png` through the active folders' save counter, with the prompt and
`extra_pnginfo` as PNG text unless metadata is disabled. Audio encoding (PyAV) is not provided.
Called from node code on the executor thread.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from toucan_nb.compat.v3.io_base import FolderType
from toucan_nb.compat.v3.io_node import _UIOutput
from toucan_nb.nodes.image_io import metadata_enabled
from toucan_nb.runtime import folders

__all__ = [
    "ImageSaveHelper",
    "PreviewImage",
    "PreviewMask",
    "PreviewText",
    "PreviewUI3D",
    "PreviewVideo",
    "SavedAudios",
    "SavedImages",
    "SavedResult",
]

# QUIRK(ComfyUI comfy_api/latest/_ui.py): the preview-name alphabet repeats "p" and lacks "w".
_PREVIEW_ALPHABET = "abcdefghijklmnopqrstupvxyz"


class SavedResult(dict):  # type: ignore[type-arg]
    """One saved file as the UI addresses it: `{"filename", "subfolder", "type"}`."""

    def __init__(self, filename: str, subfolder: str, type: FolderType) -> None:  # noqa: A002
        super().__init__(filename=filename, subfolder=subfolder, type=type.value)

    @property
    def filename(self) -> str:
        return str(self["filename"])

    @property
    def subfolder(self) -> str:
        return str(self["subfolder"])

    @property
    def type(self) -> FolderType:
        return FolderType(self["type"])


class SavedImages(_UIOutput):
    """Saved images (an animation when `is_animated`)."""

    def __init__(self, results: list[SavedResult], is_animated: bool = False) -> None:
        super().__init__()
        self.results = results
        self.is_animated = is_animated

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"images": self.results}
        if self.is_animated:
            data["animated"] = (True,)
        return data


class SavedAudios(_UIOutput):
    """Saved audio files."""

    def __init__(self, results: list[SavedResult]) -> None:
        super().__init__()
        self.results = results

    def as_dict(self) -> dict[str, Any]:
        return {"audio": self.results}


def _directory(folder_type: FolderType) -> str:
    active = folders.active()
    if folder_type == FolderType.input:
        return active.input_dir
    if folder_type == FolderType.output:
        return active.output_dir
    return active.temp_dir


def _hidden(cls: Any) -> Any:
    """The node's hidden values, when metadata is to be written and the node passed itself."""
    if not metadata_enabled() or cls is None:
        return None
    return cls.hidden or None


class ImageSaveHelper:
    """Saving image batches (PNG, animated PNG, animated WebP) and wrapping them for the UI."""

    @staticmethod
    def _convert_tensor_to_pil(image_tensor: torch.Tensor) -> PILImage.Image:
        pixels = np.clip(255.0 * image_tensor.detach().cpu().float().numpy(), 0, 255).astype(np.uint8)
        return PILImage.fromarray(pixels)

    @staticmethod
    def _create_png_metadata(cls: Any) -> PngInfo | None:
        hidden = _hidden(cls)
        if hidden is None:
            return None
        metadata = PngInfo()
        if hidden.prompt:
            metadata.add_text("prompt", json.dumps(hidden.prompt))
        if hidden.extra_pnginfo:
            for key in hidden.extra_pnginfo:
                metadata.add_text(key, json.dumps(hidden.extra_pnginfo[key]))
        return metadata

    @staticmethod
    def _create_animated_png_metadata(cls: Any) -> PngInfo | None:
        """The same texts as `comf` chunks after the image data (readable in animations)."""
        hidden = _hidden(cls)
        if hidden is None:
            return None
        metadata = PngInfo()
        entries: list[tuple[str, Any]] = []
        if hidden.prompt:
            entries.append(("prompt", hidden.prompt))
        if hidden.extra_pnginfo:
            entries += [(key, hidden.extra_pnginfo[key]) for key in hidden.extra_pnginfo]
        for key, value in entries:
            metadata.add(b"comf", key.encode("latin-1", "strict") + b"\0"
                         + json.dumps(value).encode("latin-1", "strict"), after_idat=True)
        return metadata

    @staticmethod
    def _create_webp_metadata(pil_image: PILImage.Image, cls: Any) -> PILImage.Exif:
        exif = pil_image.getexif()
        if not metadata_enabled() or cls is None or cls.hidden is None:
            return exif
        if cls.hidden.prompt is not None:
            exif[0x0110] = f"prompt:{json.dumps(cls.hidden.prompt)}"  # Model
        if cls.hidden.extra_pnginfo is not None:
            tag = 0x010F  # Make, then downwards
            for key, value in cls.hidden.extra_pnginfo.items():
                exif[tag] = f"{key}:{json.dumps(value)}"
                tag -= 1
        return exif

    @staticmethod
    def _target(images: Any, filename_prefix: str, folder_type: FolderType) -> folders.SavePath:
        return folders.active().get_save_image_path(filename_prefix, _directory(folder_type),
                                                    images[0].shape[1], images[0].shape[0])

    @staticmethod
    def save_images(images: Any, filename_prefix: str, folder_type: FolderType, cls: Any,
                    compress_level: int = 4) -> list[SavedResult]:
        """One PNG per image of the batch."""
        target = ImageSaveHelper._target(images, filename_prefix, folder_type)
        metadata = ImageSaveHelper._create_png_metadata(cls)
        counter = target.counter
        results = []
        for batch_number, image in enumerate(images):
            name = target.filename.replace("%batch_num%", str(batch_number))
            file = f"{name}_{counter:05}_.png"
            ImageSaveHelper._convert_tensor_to_pil(image).save(
                os.path.join(target.full_output_folder, file), pnginfo=metadata, compress_level=compress_level)
            results.append(SavedResult(file, target.subfolder, folder_type))
            counter += 1
        return results

    @staticmethod
    def get_save_images_ui(images: Any, filename_prefix: str, cls: Any, compress_level: int = 4) -> SavedImages:
        return SavedImages(ImageSaveHelper.save_images(images, filename_prefix=filename_prefix,
                                                       folder_type=FolderType.output, cls=cls,
                                                       compress_level=compress_level))

    @staticmethod
    def save_animated_png(images: Any, filename_prefix: str, folder_type: FolderType, cls: Any, fps: float,
                          compress_level: int) -> SavedResult:
        """The batch as one animated PNG."""
        target = ImageSaveHelper._target(images, filename_prefix, folder_type)
        frames = [ImageSaveHelper._convert_tensor_to_pil(image) for image in images]
        file = f"{target.filename}_{target.counter:05}_.png"
        frames[0].save(os.path.join(target.full_output_folder, file),
                       pnginfo=ImageSaveHelper._create_animated_png_metadata(cls), compress_level=compress_level,
                       save_all=True, duration=int(1000.0 / fps), append_images=frames[1:])
        return SavedResult(file, target.subfolder, folder_type)

    @staticmethod
    def get_save_animated_png_ui(images: Any, filename_prefix: str, cls: Any, fps: float,
                                 compress_level: int) -> SavedImages:
        result = ImageSaveHelper.save_animated_png(images, filename_prefix=filename_prefix,
                                                   folder_type=FolderType.output, cls=cls, fps=fps,
                                                   compress_level=compress_level)
        return SavedImages([result], is_animated=len(images) > 1)

    @staticmethod
    def save_animated_webp(images: Any, filename_prefix: str, folder_type: FolderType, cls: Any, fps: float,
                           lossless: bool, quality: int, method: int) -> SavedResult:
        """The batch as one animated WebP."""
        target = ImageSaveHelper._target(images, filename_prefix, folder_type)
        frames = [ImageSaveHelper._convert_tensor_to_pil(image) for image in images]
        file = f"{target.filename}_{target.counter:05}_.webp"
        frames[0].save(os.path.join(target.full_output_folder, file), save_all=True,
                       duration=int(1000.0 / fps), append_images=frames[1:],
                       exif=ImageSaveHelper._create_webp_metadata(frames[0], cls), lossless=lossless,
                       quality=quality, method=method)
        return SavedResult(file, target.subfolder, folder_type)

    @staticmethod
    def get_save_animated_webp_ui(images: Any, filename_prefix: str, cls: Any, fps: float, lossless: bool,
                                  quality: int, method: int) -> SavedImages:
        result = ImageSaveHelper.save_animated_webp(images, filename_prefix=filename_prefix,
                                                    folder_type=FolderType.output, cls=cls, fps=fps,
                                                    lossless=lossless, quality=quality, method=method)
        return SavedImages([result], is_animated=len(images) > 1)


class PreviewImage(_UIOutput):
    """Images written to the temp folder for the UI (no metadata unless `cls` is given)."""

    def __init__(self, image: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        prefix = "ComfyUI_temp_" + "".join(random.choice(_PREVIEW_ALPHABET) for _ in range(5))
        self.values = ImageSaveHelper.save_images(image, filename_prefix=prefix, folder_type=FolderType.temp,
                                                  cls=cls, compress_level=1)
        self.animated = animated

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    """Masks ([B, H, W]) previewed as grey images."""

    def __init__(self, mask: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        preview = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(preview, animated, cls, **kwargs)


class PreviewVideo(_UIOutput):
    def __init__(self, values: list[SavedResult | dict[str, Any]], **kwargs: Any) -> None:
        self.values = values

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.values, "animated": (True,)}


class PreviewUI3D(_UIOutput):
    """A 3D model file for the viewer, with camera info and an optional background image."""

    def __init__(self, model_file: Any, camera_info: Any, **kwargs: Any) -> None:
        self.model_file = model_file
        self.camera_info = camera_info
        self.bg_image_path = None
        bg_image = kwargs.get("bg_image")
        if bg_image is not None:
            name = f"bg_{uuid.uuid4().hex}.png"
            ImageSaveHelper._convert_tensor_to_pil(bg_image[0]).save(
                os.path.join(folders.active().temp_dir, name), compress_level=1)
            self.bg_image_path = f"temp/{name}"

    def as_dict(self) -> dict[str, Any]:
        return {"result": [self.model_file, self.camera_info, self.bg_image_path]}


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value

    def as_dict(self) -> dict[str, Any]:
        return {"text": (self.value,)}
