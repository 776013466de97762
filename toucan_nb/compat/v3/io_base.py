"""The building blocks of V3 input and output declarations (`comfy_api.latest.io`, docs/execution.md §1.9).

A *type* (`io.Int`, `io.Image`, `io.Custom("X")`) is a class carrying its wire name (`io_type`) and
nested `Input` / `Output` declaration classes. A declaration's `as_dict()` is the options dict
`/object_info` shows for it; `create_input_dict_v1` turns a schema's inputs into the V1
`INPUT_TYPES` shape (`{"required": {id: (type, options)}, "optional": ...}`). Options whose value
is None are left out; False, 0 and "" are kept, as in ComfyUI. Any thread.
"""

from __future__ import annotations

from abc import ABC
from enum import Enum
from typing import Any, Literal, TypeVar

from toucan_nb.compat.v3.internal import copy_class, prune_dict

__all__ = [
    "ComfyTypeI",
    "ComfyTypeIO",
    "Custom",
    "FolderType",
    "Input",
    "NumberDisplay",
    "Output",
    "RemoteOptions",
    "UploadType",
    "WidgetInput",
    "add_to_dict_v1",
    "add_to_dict_v3",
    "comfytype",
    "create_input_dict_v1",
]


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    """Which upload button a combo gets; the value is the option key that turns it on."""

    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


class RemoteOptions:
    """A combo whose options the frontend fetches from `route` (times in milliseconds)."""

    def __init__(self, route: str, refresh_button: bool, control_after_refresh: Literal["first", "last"] = "first",
                 timeout: int | None = None, max_retries: int | None = None, refresh: int | None = None) -> None:
        self.route = route
        self.refresh_button = refresh_button
        self.control_after_refresh = control_after_refresh
        self.timeout = timeout
        self.max_retries = max_retries
        self.refresh = refresh

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({
            "route": self.route,
            "refresh_button": self.refresh_button,
            "control_after_refresh": self.control_after_refresh,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "refresh": self.refresh,
        })


class _ComfyType(ABC):  # noqa: B024 (a marker base; ComfyUI's is abstract without abstract methods)
    Type: Any = Any
    io_type: str | None = None


T = TypeVar("T", bound=type)


def comfytype(io_type: str, **kwargs: Any) -> Any:
    """Class decorator: make the class a type named `io_type`, with its own `Input`/`Output`.

    A class that is not yet a type is rebuilt deriving from `ComfyTypeIO`. The nested declaration
    classes are copied, so that binding them to this type (`Parent`) leaves the base's alone.
    """
    def decorate(cls: T) -> T:
        if issubclass(cls, _ComfyType):
            new_cls: Any = cls
            if hasattr(new_cls, "Input"):
                new_cls.Input = copy_class(new_cls.Input)
            if hasattr(new_cls, "Output"):
                new_cls.Output = copy_class(new_cls.Output)
        else:
            namespace = {k: v for k, v in cls.__dict__.items()
                         if k not in ("__dict__", "__weakref__", "__module__", "__doc__")}
            new_cls = type(cls.__name__, (cls, ComfyTypeIO), namespace)
            new_cls.__module__ = cls.__module__
            new_cls.__doc__ = cls.__doc__
        new_cls.io_type = io_type
        if getattr(new_cls, "Input", None) is not None:
            new_cls.Input.Parent = new_cls
        if getattr(new_cls, "Output", None) is not None:
            new_cls.Output.Parent = new_cls
        return new_cls  # type: ignore[no-any-return]
    return decorate


def Custom(io_type: str) -> type[ComfyTypeIO]:  # noqa: N802 (ComfyUI's name)
    """A type for an `io_type` the API does not name (a pack's own socket type)."""
    @comfytype(io_type=io_type)
    class CustomComfyType(ComfyTypeIO):
        pass
    return CustomComfyType  # type: ignore[no-any-return]


class _IO_V3:  # noqa: N801 (ComfyUI's name)
    """What inputs and outputs share: the type they belong to."""

    Parent: Any = None

    def __init__(self) -> None:
        pass

    def validate(self) -> None:
        pass

    @property
    def io_type(self) -> Any:
        return self.Parent.io_type

    @property
    def Type(self) -> Any:  # noqa: N802 (ComfyUI's name)
        return self.Parent.Type


class Input(_IO_V3):
    """An input socket: `id` is its name in the prompt and the keyword argument `execute` gets."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,  # noqa: A002
                 tooltip: str | None = None, lazy: bool | None = None, extra_dict: dict[str, Any] | None = None,
                 raw_link: bool | None = None) -> None:
        super().__init__()
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = extra_dict if extra_dict is not None else {}
        self.rawLink = raw_link

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({
            "display_name": self.display_name,
            "optional": self.optional,
            "tooltip": self.tooltip,
            "lazy": self.lazy,
            "rawLink": self.rawLink,
        }) | prune_dict(self.extra_dict)

    def get_io_type(self) -> Any:
        return self.io_type

    def get_all(self) -> list[Input]:
        return [self]


class WidgetInput(Input):
    """An input that may be a widget (a value typed in the node) instead of a socket."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,  # noqa: A002
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 socketless: bool | None = None, widget_type: str | None = None, force_input: bool | None = None,
                 extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | prune_dict({
            "default": self.default,
            "socketless": self.socketless,
            "widgetType": self.widget_type,
            "forceInput": self.force_input,
        })

    def get_io_type(self) -> Any:
        return self.widget_type if self.widget_type is not None else super().get_io_type()


class Output(_IO_V3):
    """An output socket; an output without an id gets `_<index>_<TYPE>_` when the schema is finalized."""

    def __init__(self, id: str | None = None, display_name: str | None = None,  # noqa: A002
                 tooltip: str | None = None, is_output_list: bool = False) -> None:
        self.id = id
        self.display_name = display_name if display_name else id
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({
            "display_name": self.display_name if self.display_name else self.id,
            "tooltip": self.tooltip,
            "is_output_list": self.is_output_list,
        })

    def get_io_type(self) -> Any:
        return self.io_type


class ComfyTypeI(_ComfyType):
    """A type that only has an input declaration."""

    class Input(Input):
        pass


class ComfyTypeIO(ComfyTypeI):
    """A type with both an input and an output declaration."""

    class Output(Output):
        pass


# -- the V1 shape ---------------------------------------------------------------------------------

def create_input_dict_v1(inputs: list[Input]) -> dict[str, Any]:
    """`INPUT_TYPES()` of a list of input declarations: "required" always, "optional" when used."""
    out: dict[str, Any] = {"required": {}}
    for declaration in inputs:
        add_to_dict_v1(declaration, out)
    return out


def add_to_dict_v1(i: Input, d: dict[str, Any]) -> None:
    options = i.as_dict()
    options.pop("optional", None)  # the section says it
    d.setdefault("optional" if i.optional else "required", {})[i.id] = (i.get_io_type(), options)


def add_to_dict_v3(io: Input | Output, d: dict[str, Any]) -> None:
    d[io.id] = (io.get_io_type(), io.as_dict())  # type: ignore[union-attr]
