"""What a node class declares, read once into typed values for the notebook side.

`NodeSpec` turns a V1 node class (docs/execution.md §1.1, §1.2) into the facts the notebook needs:
inputs in declaration order (required, then optional) with their type, options, widget-ness and
default, hidden inputs, and the outputs. Node functions (`node_function.py`) build their
signatures and docstrings from it; the UI-workflow converter (`ui_workflow.py`) maps
`widgets_values` with it. Pure and side-effect free; any thread may call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Input types the official frontend draws as widgets (its `ComfyWidgets` table): an input of one of
# these types without `forceInput` gets a widget whose value is saved in `widgets_values`.
WIDGET_TYPES = frozenset({
    "INT", "FLOAT", "BOOLEAN", "STRING", "MARKDOWN", "COMBO", "COLOR", "IMAGECOMPARE",
    "BOUNDING_BOX", "CHART", "GALLERIA", "PAINTER", "COMPOSITOR", "TEXTAREA", "CURVE", "RANGE",
})
# Option keys that make the frontend add an upload button after the node's required inputs.
UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One declared input: `name: (type, options)` from INPUT_TYPES."""

    name: str
    type: str  # "COMBO" for a legacy choice list
    options: dict[str, Any]
    is_required: bool
    choices: tuple[Any, ...] | None = None  # combo choices, when declared

    @property
    def is_combo(self) -> bool:
        return self.type == "COMBO"

    @property
    def is_widget(self) -> bool:
        """True when the frontend shows this input as a widget (not a socket-only input)."""
        return self.type in WIDGET_TYPES and not self.options.get("forceInput", False)

    @property
    def has_default(self) -> bool:
        """Whether a node function may fill this input when the caller leaves it out."""
        return "default" in self.options or (self.is_combo and bool(self.choices))

    @property
    def default(self) -> Any:
        """The widget default: `options["default"]`, else a combo's first choice (as the frontend does)."""
        if "default" in self.options:
            return self.options["default"]
        if self.is_combo and self.choices:
            return self.choices[0]
        return None

    @property
    def control_slots(self) -> int:
        """How many companion widgets the frontend adds after this one (saved in `widgets_values`).

        INT: a control-mode widget when `control_after_generate` is set, or by default for inputs named
        `seed`/`noise_seed`; FLOAT: one when set; COMBO: a control widget and a filter-list widget.
        """
        if not self.is_widget:
            return 0
        flag = self.options.get("control_after_generate")
        if self.type == "INT":
            if flag is None:
                return 1 if self.name in ("seed", "noise_seed") else 0
            return 1 if flag else 0
        if self.type == "FLOAT":
            return 1 if flag else 0
        if self.is_combo:
            return 2 if flag else 0
        return 0

    @property
    def has_upload_button(self) -> bool:
        return self.is_combo and any(self.options.get(k) is True for k in UPLOAD_OPTIONS)


@dataclass(frozen=True, slots=True)
class OutputSpec:
    index: int
    type: str
    name: str
    is_list: bool
    tooltip: str | None


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """The notebook's view of one node class."""

    class_type: str
    display_name: str
    category: str
    description: str
    inputs: tuple[InputSpec, ...]
    hidden: tuple[str, ...]
    outputs: tuple[OutputSpec, ...]
    is_output_node: bool

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def output_index(self, key: int | str) -> int:
        """The output slot for an index or a RETURN_NAMES/RETURN_TYPES name; raises KeyError/IndexError."""
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise TypeError(f"output key must be an int or a name, not {type(key).__name__}")
        if isinstance(key, int):
            if not -len(self.outputs) <= key < len(self.outputs):
                raise IndexError(f"{self.class_type} has {len(self.outputs)} output(s); no index {key}")
            return key % len(self.outputs)
        for out in self.outputs:
            if out.name == key:
                return out.index
        matches = [out.index for out in self.outputs if out.type == key]
        if len(matches) == 1:
            return matches[0]
        names = [out.name for out in self.outputs]
        raise KeyError(f"{self.class_type} has no output named {key!r}; outputs: {names}")


def parse_input(name: str, raw: Any, is_required: bool) -> InputSpec:
    """One INPUT_TYPES entry (docs/execution.md §1.2): `(type,)`, `(type, options)` or `(choices, options)`."""
    entry = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
    type_ = entry[0] if entry else "*"
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    choices: tuple[Any, ...] | None = None
    if isinstance(type_, (list, tuple)):
        choices, type_ = tuple(type_), "COMBO"
    elif type_ == "COMBO" and isinstance(options.get("options"), (list, tuple)):
        choices = tuple(options["options"])
    return InputSpec(name=name, type=str(type_), options=dict(options), is_required=is_required,
                     choices=choices)


def node_spec(class_type: str, cls: type, display_name: str | None = None) -> NodeSpec:
    """Read a node class into a `NodeSpec`. Raises whatever the class's INPUT_TYPES raises."""
    declared = cls.INPUT_TYPES()  # type: ignore[attr-defined]
    inputs: list[InputSpec] = []
    for section, is_required in (("required", True), ("optional", False)):
        for name, raw in (declared.get(section) or {}).items():
            inputs.append(parse_input(name, raw, is_required))
    hidden = tuple((declared.get("hidden") or {}).keys())
    return_types = tuple(getattr(cls, "RETURN_TYPES", ()) or ())
    names = tuple(getattr(cls, "RETURN_NAMES", None) or return_types)
    is_list = tuple(getattr(cls, "OUTPUT_IS_LIST", None) or ())
    tooltips = tuple(getattr(cls, "OUTPUT_TOOLTIPS", None) or ())
    outputs = tuple(
        OutputSpec(
            index=i,
            type=str(t),
            name=str(names[i]) if i < len(names) else str(t),
            is_list=bool(is_list[i]) if i < len(is_list) else False,
            tooltip=tooltips[i] if i < len(tooltips) else None,
        )
        for i, t in enumerate(return_types)
    )
    return NodeSpec(
        class_type=class_type,
        display_name=display_name or class_type,
        category=str(getattr(cls, "CATEGORY", "sd")),
        description=str(getattr(cls, "DESCRIPTION", "") or ""),
        inputs=tuple(inputs),
        hidden=hidden,
        outputs=outputs,
        is_output_node=getattr(cls, "OUTPUT_NODE", False) is True,
    )


def registry_spec(registry: Any, class_type: str) -> NodeSpec:
    """`node_spec` for a class in a `NodeRegistry`; raises `NotFoundError` for an unknown class."""
    return node_spec(class_type, registry.get(class_type), registry.display_name(class_type))
