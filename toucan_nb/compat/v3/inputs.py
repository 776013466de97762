"""Value types of the V3 API: what sockets carry (`comfy_api.latest.Input`, `Types`, `comfy_api.input`).

Images and masks are tensors ([B, H, W, C] and [B, H, W]); audio and latents are dicts; video is
anything implementing `VideoInput`. Encoding and decoding video (ComfyUI's `InputImpl`, PyAV based)
is not provided. Any thread.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import IO, Any, TypedDict

import torch

__all__ = [
    "MESH",
    "SVG",
    "VOXEL",
    "AudioInput",
    "ImageInput",
    "Input",
    "InputImpl",
    "LatentInput",
    "MaskInput",
    "Types",
    "VideoCodec",
    "VideoComponents",
    "VideoContainer",
    "VideoInput",
]

ImageInput = torch.Tensor
MaskInput = torch.Tensor


class AudioInput(TypedDict):
    waveform: torch.Tensor  # [B, C, T]
    sample_rate: int


class LatentInput(TypedDict):
    samples: torch.Tensor  # [B, C, H, W]
    noise_mask: torch.Tensor | None
    batch_index: list[int] | None
    type: str | None


class VideoCodec(str, Enum):
    AUTO = "auto"
    H264 = "h264"

    @classmethod
    def as_input(cls) -> list[str]:
        """The values, as combo options."""
        return [member.value for member in cls]


class VideoContainer(str, Enum):
    AUTO = "auto"
    MP4 = "mp4"

    @classmethod
    def as_input(cls) -> list[str]:
        return [member.value for member in cls]

    @classmethod
    def get_extension(cls, value: str | VideoContainer) -> str:
        """The file extension for a container ("" when it has none of its own)."""
        value = cls(value)
        return "mp4" if value in (VideoContainer.MP4, VideoContainer.AUTO) else ""


@dataclass
class VideoComponents:
    images: torch.Tensor
    frame_rate: Fraction
    audio: AudioInput | None = None
    metadata: dict[str, Any] | None = None


class VideoInput(ABC):
    """A video: its frames (and audio), and a way to write it out."""

    @abstractmethod
    def get_components(self) -> VideoComponents:
        """Frames, frame rate and audio."""

    @abstractmethod
    def save_to(self, path: str | IO[bytes], format: VideoContainer = VideoContainer.AUTO,  # noqa: A002
                codec: VideoCodec = VideoCodec.AUTO, metadata: dict[str, Any] | None = None) -> None:
        """Write the video to a file or a binary stream."""

    def get_stream_source(self) -> str | io.BytesIO:
        """Something PyAV can open: by default the video written to memory."""
        buffer = io.BytesIO()
        self.save_to(buffer)
        buffer.seek(0)
        return buffer

    def get_dimensions(self) -> tuple[int, int]:
        """(width, height)."""
        images = self.get_components().images
        return images.shape[2], images.shape[1]

    def get_duration(self) -> float:
        components = self.get_components()
        return float(components.images.shape[0] / components.frame_rate)

    def get_frame_count(self) -> int:
        return int(self.get_components().images.shape[0])

    def get_frame_rate(self) -> Fraction:
        return self.get_components().frame_rate

    def get_container_format(self) -> str:
        import av  # only videos that are not files need it, and only here

        with av.open(self.get_stream_source(), mode="r") as container:
            return str(container.format.name)


class VOXEL:
    def __init__(self, data: torch.Tensor) -> None:
        self.data = data


class MESH:
    def __init__(self, vertices: torch.Tensor, faces: torch.Tensor) -> None:
        self.vertices = vertices
        self.faces = faces


class SVG:
    """SVG documents, one stream each."""

    def __init__(self, data: list[io.BytesIO]) -> None:
        self.data = data

    def combine(self, other: SVG) -> SVG:
        return SVG(self.data + other.data)

    @staticmethod
    def combine_all(svgs: list[SVG]) -> SVG:
        return SVG([stream for svg in svgs for stream in svg.data])


class Input:
    """`comfy_api.latest.Input`: the value types by socket."""

    Image = ImageInput
    Audio = AudioInput
    Mask = MaskInput
    Latent = LatentInput
    Video = VideoInput


class InputImpl:
    """`comfy_api.latest.InputImpl`: ComfyUI's video implementations (`VideoFromFile`,
    `VideoFromComponents`, PyAV based) are not provided."""


class Types:
    """`comfy_api.latest.Types`."""

    VideoCodec = VideoCodec
    VideoContainer = VideoContainer
    VideoComponents = VideoComponents
    MESH = MESH
    VOXEL = VOXEL
