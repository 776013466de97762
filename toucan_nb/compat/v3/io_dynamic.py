"""Dynamic V3 inputs: sockets whose set depends on the node's state (docs/execution.md §1.9).

- `Autogrow`: a template input repeated as sockets get connected (`images.image0`, `images.image1`, ...);
- `DynamicCombo`: a dropdown whose chosen option brings its own inputs;
- `DynamicSlot`: a socket that brings extra inputs once connected.

The frontend sends their inputs under dotted ids; `toucan_nb.runtime.v3` expands the declarations
for a node's inputs and nests the values again before `execute` (a dict per dynamic input). Any thread.
"""

from __future__ import annotations

import copy
from abc import ABC
from typing import Any

from toucan_nb.compat.v3.internal import prune_dict
from toucan_nb.compat.v3.io_base import (
    ComfyTypeI,
    Input,
    Output,
    WidgetInput,
    comfytype,
    create_input_dict_v1,
)

# ruff: noqa: A002 (ComfyUI's declarations take `id`)

__all__ = ["Autogrow", "DynamicCombo", "DynamicInput", "DynamicOutput", "DynamicSlot"]


class DynamicInput(Input, ABC):
    """An input that stands for a varying set of inputs."""


class DynamicOutput(Output, ABC):
    """An output that stands for a varying set of outputs."""


@comfytype(io_type="COMFY_AUTOGROW_V3")
class Autogrow(ComfyTypeI):
    Type = dict[str, Any]
    _MaxNames = 100  # the most names a template may have

    class _AutogrowTemplate:
        def __init__(self, input: Input) -> None:
            assert not isinstance(input, DynamicInput), "a dynamic input cannot be an Autogrow template"
            self.input = copy.copy(input)
            if isinstance(self.input, WidgetInput):
                self.input.force_input = True  # grown inputs are sockets, never widgets
            self.names: list[str] = []
            self.cached_inputs: dict[str, Input] = {}

        def _create_input(self, input: Input, name: str) -> Input:
            grown = copy.copy(self.input)
            grown.id = name
            return grown

        def _create_cached_inputs(self) -> None:
            for name in self.names:
                self.cached_inputs[name] = self._create_input(self.input, name)

        def get_all(self) -> list[Input]:
            return list(self.cached_inputs.values())

        def as_dict(self) -> dict[str, Any]:
            return prune_dict({"input": create_input_dict_v1([self.input])})

        def validate(self) -> None:
            self.input.validate()

    class TemplatePrefix(_AutogrowTemplate):
        """Inputs named `<prefix>0` .. `<prefix><max-1>`; the first `min` are required."""

        def __init__(self, input: Input, prefix: str, min: int = 1, max: int = 10) -> None:
            super().__init__(input)
            assert min >= 0 and 1 <= max <= Autogrow._MaxNames
            self.prefix = prefix
            self.min = min
            self.max = max
            self.names = [f"{prefix}{i}" for i in range(max)]
            self._create_cached_inputs()

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"prefix": self.prefix, "min": self.min, "max": self.max})

    class TemplateNames(_AutogrowTemplate):
        """Inputs with the given names; the first `min` are required."""

        def __init__(self, input: Input, names: list[str], min: int = 1) -> None:
            super().__init__(input)
            assert min >= 0
            self.names = names[:Autogrow._MaxNames]
            self.min = min
            self._create_cached_inputs()

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"names": self.names, "min": self.min})

    class Input(DynamicInput):
        def __init__(self, id: str, template: Any, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"template": self.template.as_dict()})

        def get_all(self) -> list[Input]:
            return [self, *self.template.get_all()]

        def validate(self) -> None:
            self.template.validate()


@comfytype(io_type="COMFY_DYNAMICCOMBO_V3")
class DynamicCombo(ComfyTypeI):
    Type = dict[str, Any]

    class Option:
        """One choice (`key`) and the inputs it brings."""

        def __init__(self, key: str, inputs: list[Input]) -> None:
            self.key = key
            self.inputs = inputs

        def as_dict(self) -> dict[str, Any]:
            return {"key": self.key, "inputs": create_input_dict_v1(self.inputs)}

    class Input(DynamicInput):
        def __init__(self, id: str, options: list[Any], display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.options = options

        def get_all(self) -> list[Input]:
            return [self, *(i for option in self.options for i in option.inputs)]

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"options": [o.as_dict() for o in self.options]})

        def validate(self) -> None:
            for option in self.options:
                for declaration in option.inputs:
                    declaration.validate()


@comfytype(io_type="COMFY_DYNAMICSLOT_V3")
class DynamicSlot(ComfyTypeI):
    Type = dict[str, Any]

    class Input(DynamicInput):
        """`slot` is the socket (always optional, never a widget); `inputs` come with a connection."""

        def __init__(self, slot: Input, inputs: list[Input], display_name: str | None = None,
                     tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None) -> None:
            assert not isinstance(slot, DynamicInput), "a dynamic input cannot be a DynamicSlot's slot"
            self.slot = copy.copy(slot)
            self.slot.display_name = slot.display_name if slot.display_name is not None else display_name
            self.slot.tooltip = slot.tooltip if slot.tooltip is not None else tooltip
            self.slot.lazy = slot.lazy if slot.lazy is not None else lazy
            self.slot.extra_dict = slot.extra_dict if slot.extra_dict is not None else extra_dict  # type: ignore[assignment]
            super().__init__(slot.id, self.slot.display_name, True, self.slot.tooltip, self.slot.lazy,
                             self.slot.extra_dict)
            self.inputs = inputs
            self.force_input: bool | None = None
            if isinstance(self.slot, WidgetInput):
                self.force_input = True
                self.slot.force_input = True

        def get_all(self) -> list[Input]:
            return [self.slot, *self.inputs]

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({
                "slotType": str(self.slot.get_io_type()),
                "inputs": create_input_dict_v1(self.inputs),
                "forceInput": self.force_input,
            })

        def validate(self) -> None:
            self.slot.validate()
            for declaration in self.inputs:
                declaration.validate()
