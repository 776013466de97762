"""The V3 socket types (`io.Int`, `io.Image`, `io.MatchType`, ...), each with its wire name.

Widget types (`Boolean`, `Int`, `Float`, `String`, `Combo`, `MultiCombo`, `Webcam`) have inputs with
widget options; the others are plain sockets. `MultiType` accepts several types on one socket and
`MatchType` ties sockets to one type the frontend resolves (docs/execution.md §1.9). `Type` is what
`execute` receives, for annotations. Any thread.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, TypedDict

import torch
from typing_extensions import NotRequired

from toucan_nb.compat.v3.inputs import MESH, SVG, VOXEL
from toucan_nb.compat.v3.internal import is_class, prune_dict
from toucan_nb.compat.v3.io_base import (
    ComfyTypeI,
    ComfyTypeIO,
    FolderType,
    Input,
    NumberDisplay,
    Output,
    RemoteOptions,
    UploadType,
    WidgetInput,
    _ComfyType,
    comfytype,
)

# ruff: noqa: A002 (ComfyUI's declarations take `id`)


# -- widget types ---------------------------------------------------------------------------------

@comfytype(io_type="BOOLEAN")
class Boolean(ComfyTypeIO):
    Type = bool

    class Input(WidgetInput):
        """A checkbox; `label_on` / `label_off` name its states."""

        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: bool | None = None,
                     label_on: str | None = None, label_off: str | None = None, socketless: bool | None = None,
                     force_input: bool | None = None, extra_dict: dict[str, Any] | None = None,
                     raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link)
            self.label_on = label_on
            self.label_off = label_off

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"label_on": self.label_on, "label_off": self.label_off})


@comfytype(io_type="INT")
class Int(ComfyTypeIO):
    Type = int

    class Input(WidgetInput):
        """An integer; `control_after_generate` adds the frontend's increment/randomize control."""

        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: int | None = None,
                     min: int | None = None, max: int | None = None, step: int | None = None,
                     control_after_generate: bool | None = None, display_mode: NumberDisplay | None = None,
                     socketless: bool | None = None, force_input: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link)
            self.min = min
            self.max = max
            self.step = step
            self.control_after_generate = control_after_generate
            self.display_mode = display_mode

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "min": self.min,
                "max": self.max,
                "step": self.step,
                "control_after_generate": self.control_after_generate,
                "display": self.display_mode.value if self.display_mode else None,
            })


@comfytype(io_type="FLOAT")
class Float(ComfyTypeIO):
    Type = float

    class Input(WidgetInput):
        """A float; `round` is the precision the frontend rounds to."""

        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: float | None = None,
                     min: float | None = None, max: float | None = None, step: float | None = None,
                     round: float | None = None, display_mode: NumberDisplay | None = None,
                     socketless: bool | None = None, force_input: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link)
            self.min = min
            self.max = max
            self.step = step
            self.round = round
            self.display_mode = display_mode

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "min": self.min,
                "max": self.max,
                "step": self.step,
                "round": self.round,
                # ComfyUI passes the enum member itself here (a str, so the wire shows its value).
                "display": self.display_mode,
            })


@comfytype(io_type="STRING")
class String(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        """Text; `multiline` is always shown (False included)."""

        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, multiline: bool = False,
                     placeholder: str | None = None, default: str | None = None, dynamic_prompts: bool | None = None,
                     socketless: bool | None = None, force_input: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link)
            self.multiline = multiline
            self.placeholder = placeholder
            self.dynamic_prompts = dynamic_prompts

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "multiline": self.multiline,
                "placeholder": self.placeholder,
                "dynamicPrompts": self.dynamic_prompts,
            })


@comfytype(io_type="COMBO")
class Combo(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        """A dropdown of `options` (a list, or an Enum class whose values are listed)."""

        Type = str

        def __init__(self, id: str, options: list[str] | list[int] | type[Enum] | None = None,
                     display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                     lazy: bool | None = None, default: str | int | Enum | None = None,
                     control_after_generate: bool | None = None, upload: UploadType | None = None,
                     image_folder: FolderType | None = None, remote: RemoteOptions | None = None,
                     socketless: bool | None = None, extra_dict: dict[str, Any] | None = None,
                     raw_link: bool | None = None) -> None:
            if isinstance(options, type) and issubclass(options, Enum):
                options = [member.value for member in options]
            if isinstance(default, Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, None,
                             extra_dict, raw_link)
            self.multiselect = False
            self.options = options
            self.control_after_generate = control_after_generate
            self.upload = upload
            self.image_folder = image_folder
            self.remote = remote

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "multiselect": self.multiselect,
                "options": self.options,
                "control_after_generate": self.control_after_generate,
                **({self.upload.value: True} if self.upload is not None else {}),
                "image_folder": self.image_folder.value if self.image_folder else None,
                "remote": self.remote.as_dict() if self.remote else None,
            })

    class Output(Output):
        def __init__(self, id: str | None = None, display_name: str | None = None, options: list[str] | None = None,
                     tooltip: str | None = None, is_output_list: bool = False) -> None:
            super().__init__(id, display_name, tooltip, is_output_list)
            self.options = options if options is not None else []


@comfytype(io_type="COMBO")
class MultiCombo(ComfyTypeI):
    """A dropdown that may select several options."""

    Type = list[str]

    class Input(Combo.Input):
        def __init__(self, id: str, options: list[str], display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: list[str] | None = None,
                     placeholder: str | None = None, chip: bool | None = None,
                     control_after_generate: bool | None = None, socketless: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            super().__init__(id, options, display_name, optional, tooltip, lazy, default,  # type: ignore[arg-type]
                             control_after_generate, socketless=socketless, extra_dict=extra_dict,
                             raw_link=raw_link)
            self.multiselect = True
            self.placeholder = placeholder
            self.chip = chip

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "multi_select": self.multiselect,
                "placeholder": self.placeholder,
                "chip": self.chip,
            })


@comfytype(io_type="WEBCAM")
class Webcam(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        Type = str

        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: str | None = None,
                     socketless: bool | None = None, extra_dict: dict[str, Any] | None = None,
                     raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, None,
                             extra_dict, raw_link)


# -- socket types ---------------------------------------------------------------------------------

def _socket(io_type: str, value_type: Any = Any, doc: str | None = None) -> type[ComfyTypeIO]:
    """A plain socket type (input and output, no widget options)."""
    namespace: dict[str, Any] = {"Type": value_type, "__doc__": doc, "__module__": __name__}
    return comfytype(io_type=io_type)(type(io_type, (ComfyTypeIO,), namespace))  # type: ignore[no-any-return]


class _LatentDict(TypedDict):
    samples: torch.Tensor
    noise_mask: NotRequired[torch.Tensor]
    batch_index: NotRequired[list[int]]
    type: NotRequired[str]


class _AudioDict(TypedDict):
    waveform: torch.Tensor
    sampler_rate: int


class _LossMapDict(TypedDict):
    loss: list[torch.Tensor]


class _AccumulationDict(TypedDict):
    accum: list[Any]


class _CameraInfo(TypedDict):
    position: dict[str, float | int]
    target: dict[str, float | int]
    zoom: int
    cameraType: str  # noqa: N815 (the wire key)


class _Model3DDict(TypedDict):
    image: str
    mask: str
    normal: str
    camera_info: _CameraInfo
    recording: NotRequired[str]


class _TrackDict(TypedDict):
    track_path: torch.Tensor
    track_visibility: torch.Tensor


Image = _socket("IMAGE", torch.Tensor)
WanCameraEmbedding = _socket("WAN_CAMERA_EMBEDDING", torch.Tensor)
Mask = _socket("MASK", torch.Tensor)
Latent = _socket("LATENT", _LatentDict, "Latents are dicts with a `samples` tensor.")
Latent.LatentDict = _LatentDict  # type: ignore[attr-defined]
Conditioning = _socket("CONDITIONING", list[tuple[torch.Tensor, dict[str, Any]]])
Conditioning.CondList = Conditioning.Type  # type: ignore[attr-defined]
Conditioning.PooledDict = dict  # type: ignore[attr-defined]
Sampler = _socket("SAMPLER")
Sigmas = _socket("SIGMAS", torch.Tensor)
Noise = _socket("NOISE", torch.Tensor)
Guider = _socket("GUIDER")
Clip = _socket("CLIP")
ControlNet = _socket("CONTROL_NET")
Vae = _socket("VAE")
Model = _socket("MODEL")
ClipVision = _socket("CLIP_VISION")
ClipVisionOutput = _socket("CLIP_VISION_OUTPUT")
StyleModel = _socket("STYLE_MODEL")
Gligen = _socket("GLIGEN")
UpscaleModel = _socket("UPSCALE_MODEL")
LatentUpscaleModel = _socket("LATENT_UPSCALE_MODEL")
Audio = _socket("AUDIO", _AudioDict)
Audio.AudioDict = _AudioDict  # type: ignore[attr-defined]
Video = _socket("VIDEO")
SVG = _socket("SVG", SVG)  # noqa: F811 (the io type shadows the value class, as in ComfyUI)
LoraModel = _socket("LORA_MODEL", dict[str, torch.Tensor])
LossMap = _socket("LOSS_MAP", _LossMapDict)
LossMap.LossMapDict = _LossMapDict  # type: ignore[attr-defined]
Voxel = _socket("VOXEL", VOXEL)
Mesh = _socket("MESH", MESH)
Hooks = _socket("HOOKS")
HookKeyframes = _socket("HOOK_KEYFRAMES")
TimestepsRange = _socket("TIMESTEPS_RANGE", tuple[int, int], "A start and end between 0.0 and 1.0.")
LatentOperation = _socket("LATENT_OPERATION", Callable[[torch.Tensor], torch.Tensor])
FlowControl = _socket("FLOW_CONTROL", tuple[str, Any])
Accumulation = _socket("ACCUMULATION", _AccumulationDict)
Accumulation.AccumulationDict = _AccumulationDict  # type: ignore[attr-defined]
Load3DCamera = _socket("LOAD3D_CAMERA", _CameraInfo)
Load3DCamera.CameraInfo = _CameraInfo  # type: ignore[attr-defined]
Load3D = _socket("LOAD_3D", _Model3DDict, "3D models are dicts of file names and camera info.")
Load3D.Model3DDict = _Model3DDict  # type: ignore[attr-defined]
Load3DAnimation = comfytype(io_type="LOAD_3D_ANIMATION")(type("Load3DAnimation", (Load3D,), {"__module__": __name__}))
Photomaker = _socket("PHOTOMAKER")
Point = _socket("POINT")
FaceAnalysis = _socket("FACE_ANALYSIS")
BBOX = _socket("BBOX")
SEGS = _socket("SEGS")
AnyType = _socket("*")
MODEL_PATCH = _socket("MODEL_PATCH")
AudioEncoder = _socket("AUDIO_ENCODER")
AudioEncoderOutput = _socket("AUDIO_ENCODER_OUTPUT")
Tracks = _socket("TRACKS", _TrackDict)
Tracks.TrackDict = _TrackDict  # type: ignore[attr-defined]

for _name, _type in list(globals().items()):
    if isinstance(_type, type) and issubclass(_type, ComfyTypeIO) and _type.__name__ != _name:
        _type.__name__ = _type.__qualname__ = _name  # the Python name, not the wire name
del _name, _type


# -- several types on one socket -------------------------------------------------------------------

@comfytype(io_type="COMFY_MULTITYPED_V3")
class MultiType:
    Type = Any

    class Input(Input):
        """A socket accepting any of `types`; when `id` is itself an input, that input also
        provides the widget (with the options given here taking precedence where set)."""

        def __init__(self, id: str | Input, types: list[Any], display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            self.input_override: Input | None = None
            if isinstance(id, Input):
                self.input_override = copy.copy(id)
                optional = id.optional if id.optional is True else optional
                tooltip = id.tooltip if id.tooltip is not None else tooltip
                display_name = id.display_name if id.display_name is not None else display_name
                lazy = id.lazy if id.lazy is not None else lazy
                id = id.id
                if isinstance(self.input_override, WidgetInput):
                    self.input_override.widget_type = self.input_override.get_io_type()
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
            self._io_types = types

        @property
        def io_types(self) -> list[type]:
            """The accepted types, as classes."""
            return [t if is_class(t) else type(t) for t in self._io_types]

        def get_io_type(self) -> str:
            names = [t.io_type for t in self.io_types]
            if self.input_override is not None:
                names.insert(0, self.input_override.get_io_type())
            return ",".join(dict.fromkeys(names))  # unique, in order

        def as_dict(self) -> dict[str, Any]:
            if self.input_override is not None:
                return self.input_override.as_dict() | super().as_dict()
            return super().as_dict()


@comfytype(io_type="COMFY_MATCHTYPE_V3")
class MatchType(ComfyTypeIO):
    """Sockets sharing a template get one type, chosen by what is connected (checked by the frontend)."""

    class Template:
        def __init__(self, template_id: str, allowed_types: Any = AnyType) -> None:
            self.template_id = template_id
            if not isinstance(allowed_types, Iterable):
                allowed_types = [allowed_types]
            for t in allowed_types:
                if not (isinstance(t, _ComfyType) or (isinstance(t, type) and issubclass(t, _ComfyType))):
                    name = t.__name__ if isinstance(t, type) else type(t).__name__
                    raise ValueError(f"Allowed types must be a ComfyType or a list of ComfyTypes, got {name}")
            self.allowed_types = allowed_types

        def as_dict(self) -> dict[str, Any]:
            return {"template_id": self.template_id,
                    "allowed_types": ",".join(t.io_type for t in self.allowed_types)}

    class Input(Input):
        def __init__(self, id: str, template: MatchType.Template, display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"template": self.template.as_dict()})

    class Output(Output):
        def __init__(self, template: MatchType.Template, id: str | None = None, display_name: str | None = None,
                     tooltip: str | None = None, is_output_list: bool = False) -> None:
            if not id and not display_name:
                display_name = "MATCHTYPE"
            super().__init__(id, display_name, tooltip, is_output_list)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"template": self.template.as_dict()})
