"""V3 node classes: `Schema`, `ComfyNode`, `NodeOutput`, hidden values (docs/execution.md §1.9).

A node subclasses `ComfyNode` and defines the classmethods `define_schema()` and `execute(**inputs)`
(optionally `validate_inputs`, `fingerprint_inputs`, `check_lazy_status`). The base derives the V1
attributes the rest of the runtime reads (`INPUT_TYPES`, `RETURN_TYPES`, `FUNCTION`, ...) from the
schema, and implements the executor contract of `toucan_nb.runtime.v3`: `GET_SCHEMA`,
`VALIDATE_CLASS`, `PREPARE_CLASS_CLONE` (a clone carrying the call's `hidden` values),
`EXECUTE_NORMALIZED[_ASYNC]` (any return value made a `NodeOutput`), `GET_NODE_INFO_V1` (the
`/object_info` entry) and `GET_BASE_CLASS`. Any thread.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, TypedDict, final

from toucan_nb.compat.v3.internal import (
    _ComfyNodeInternal,
    _NodeOutputInternal,
    classproperty,
    first_real_override,
    is_class,
    shallow_clone_class,
)
from toucan_nb.compat.v3.io_base import Input, Output, add_to_dict_v3, create_input_dict_v1
from toucan_nb.compat.v3.io_dynamic import DynamicInput
from toucan_nb.compat.v3.io_types import MatchType
from toucan_nb.runtime import v3 as _contract
from toucan_nb.runtime.graph_utils import ExecutionBlocker

__all__ = [
    "ComfyNode",
    "Hidden",
    "HiddenHolder",
    "NodeInfoV1",
    "NodeInfoV3",
    "NodeOutput",
    "Schema",
    "V3Data",
    "build_nested_inputs",
    "get_finalized_class_inputs",
]


class Hidden(str, Enum):
    """Values a node may ask for that are not inputs; read as `cls.hidden.<name>` in `execute`."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """`cls.hidden` during a call: the node's id, the prompt, the PNG metadata, the live
    DynamicPrompt and the comfy.org credentials (None where not asked for or not given)."""

    def __init__(self, unique_id: str | None, prompt: Any, extra_pnginfo: Any, dynprompt: Any,
                 auth_token_comfy_org: str | None, api_key_comfy_org: str | None, **kwargs: Any) -> None:
        self.unique_id = unique_id
        self.prompt = prompt
        self.extra_pnginfo = extra_pnginfo
        self.dynprompt = dynprompt
        self.auth_token_comfy_org = auth_token_comfy_org
        self.api_key_comfy_org = api_key_comfy_org

    def __getattr__(self, key: str) -> Any:
        return None  # any other hidden name reads as None

    @classmethod
    def from_dict(cls, d: dict[Any, Any] | None) -> HiddenHolder:
        d = d or {}
        return cls(unique_id=d.get(Hidden.unique_id), prompt=d.get(Hidden.prompt),
                   extra_pnginfo=d.get(Hidden.extra_pnginfo), dynprompt=d.get(Hidden.dynprompt),
                   auth_token_comfy_org=d.get(Hidden.auth_token_comfy_org),
                   api_key_comfy_org=d.get(Hidden.api_key_comfy_org))

    @classmethod
    def from_v3_data(cls, v3_data: V3Data | None) -> HiddenHolder:
        return cls.from_dict(v3_data["hidden_inputs"] if v3_data else None)


class V3Data(TypedDict, total=False):
    """What the executor hands a V3 call: hidden values (keyed by marker), dynamic-input paths
    (dotted id -> nested path) and whether nested values come as (value, id) pairs."""

    hidden_inputs: dict[str, Any]
    dynamic_paths: dict[str, Any]
    create_dynamic_tuple: bool


@dataclass
class NodeInfoV1:
    """An `/object_info` entry (docs/protocol.md §5.2): every key present."""

    input: dict[str, Any] | None = None
    input_order: dict[str, list[str]] | None = None
    output: list[str] | None = None
    output_is_list: list[bool] | None = None
    output_name: list[str] | None = None
    output_tooltips: list[str | None] | None = None
    output_matchtypes: list[str | None] | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    python_module: Any = None
    category: str | None = None
    output_node: bool | None = None
    deprecated: bool | None = None
    experimental: bool | None = None
    api_node: bool | None = None


@dataclass
class NodeInfoV3:
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    hidden: list[str] | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    category: str | None = None
    output_node: bool | None = None
    deprecated: bool | None = None
    experimental: bool | None = None
    api_node: bool | None = None


@dataclass
class Schema:
    """What a V3 node is: id, names, sockets, and flags (`is_output_node`, `not_idempotent`, ...)."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False  # one call with whole lists (V1 INPUT_IS_LIST)
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False  # never share a cached result with an identical node
    enable_expand: bool = False  # allows NodeOutput(expand=...)

    def validate(self) -> None:
        """Input ids and output ids must each be unique; then each declaration validates itself."""
        nested: list[Input] = []
        for declaration in self.inputs:
            if not isinstance(declaration, DynamicInput):
                nested.extend(declaration.get_all())
        problems = []
        for kind, ids in (("Input", [i.id for i in nested]), ("Output", [o.id for o in self.outputs])):
            repeated = [item for item, count in Counter(ids).items() if count > 1]
            if repeated:
                problems.append(f"{kind} ids must be unique, but {repeated} are not.")
        if problems:
            raise ValueError("\n".join(problems))
        for declaration in self.inputs:
            declaration.validate()
        for output in self.outputs:
            output.validate()

    def finalize(self) -> None:
        """Add the hidden values the flags imply and give outputs without an id a default one."""
        self.inputs = self.inputs if self.inputs is not None else []
        self.outputs = self.outputs if self.outputs is not None else []
        self.hidden = self.hidden if self.hidden is not None else []
        implied: list[Hidden] = []
        if self.is_api_node:
            implied += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
        if self.is_output_node:
            implied += [Hidden.prompt, Hidden.extra_pnginfo]
        for hidden in implied:
            if hidden not in self.hidden:
                self.hidden.append(hidden)
        for i, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{i}_{output.io_type}_"

    def get_v1_info(self, cls: type) -> NodeInfoV1:
        inputs = create_input_dict_v1(self.inputs)
        for hidden in self.hidden or ():
            inputs.setdefault("hidden", {})[hidden.name] = (hidden.value,)
        outputs = self.outputs or []
        matchtypes = [o.template.template_id if isinstance(o, MatchType.Output) else None for o in outputs]
        return NodeInfoV1(
            input=inputs,
            input_order={section: list(entries) for section, entries in inputs.items()},
            output=[o.io_type for o in outputs],
            output_is_list=[o.is_output_list for o in outputs],
            output_name=[o.display_name if o.display_name else o.io_type for o in outputs],
            output_tooltips=[o.tooltip if o.tooltip else None for o in outputs],
            output_matchtypes=matchtypes if any(m is not None for m in matchtypes) else None,
            name=self.node_id,
            display_name=self.display_name,
            category=self.category,
            description=self.description,
            output_node=self.is_output_node,
            deprecated=self.is_deprecated,
            experimental=self.is_experimental,
            api_node=self.is_api_node,
            python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", "nodes"),
        )

    def get_v3_info(self, cls: type) -> NodeInfoV3:
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for declaration in self.inputs or ():
            add_to_dict_v3(declaration, inputs)
        for output in self.outputs or ():
            add_to_dict_v3(output, outputs)
        return NodeInfoV3(
            input=inputs, output=outputs, hidden=[h.value for h in self.hidden or ()], name=self.node_id,
            display_name=self.display_name, description=self.description, category=self.category,
            output_node=self.is_output_node, deprecated=self.is_deprecated, experimental=self.is_experimental,
            api_node=self.is_api_node)


def get_finalized_class_inputs(d: dict[str, Any], live_inputs: dict[str, Any],
                               include_hidden: bool = False) -> tuple[dict[str, Any], Any, V3Data]:
    """(declared inputs for these live inputs, the hidden section, {"dynamic_paths": ...})."""
    final = _contract.finalize_inputs(d, live_inputs)
    declared: dict[str, Any] = dict(final.sections)
    hidden = d.get("hidden")
    if hidden is not None and include_hidden:
        declared["hidden"] = hidden
    return declared, hidden, {"dynamic_paths": final.paths}


def build_nested_inputs(values: dict[str, Any], v3_data: V3Data) -> dict[str, Any]:
    """Values with dotted dynamic ids nested into dicts."""
    return _contract.nest_inputs(values, v3_data)  # type: ignore[arg-type]


class _UIOutput(ABC):
    """Something a node shows in the UI; `as_dict()` is what history and `executed` carry."""

    def __init__(self) -> None:  # noqa: B027 (subclasses call it; nothing to set up)
        pass

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        ...


class NodeOutput(_NodeOutputInternal):
    """What `execute` returns: the outputs in order, and optionally `ui`, a graph to `expand` into
    (needs `Schema.enable_expand`), or `block_execution` (a message) in place of the outputs."""

    def __init__(self, *args: Any, ui: _UIOutput | dict[str, Any] | None = None,
                 expand: dict[str, Any] | None = None, block_execution: str | None = None) -> None:
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple[Any, ...] | None:
        return self.args if self.args else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeOutput:
        """A V1-style `{"result": ..., "ui": ..., "expand": ...}` dict as a NodeOutput."""
        args: Any = ()
        if "result" in data:
            result = data["result"]
            if isinstance(result, ExecutionBlocker):
                return cls(block_execution=result.message)
            args = result
        return cls(*args, ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index: int) -> Any:
        return self.args[index]


def _normalize(cls: Any, returned: Any) -> NodeOutput:
    """EXECUTE_NORMALIZED's rule: None, a tuple, a dict or a blocker become a NodeOutput."""
    if returned is None:
        output = NodeOutput()
    elif isinstance(returned, NodeOutput):
        output = returned
    elif isinstance(returned, tuple):
        output = NodeOutput(*returned)
    elif isinstance(returned, dict):
        output = NodeOutput.from_dict(returned)
    elif isinstance(returned, ExecutionBlocker):
        output = NodeOutput(block_execution=returned.message)
    else:
        raise Exception(f"Invalid return type from node: {type(returned)}")
    if output.expand is not None and not cls.SCHEMA.enable_expand:
        raise Exception(f"Node {cls.__name__} is not expandable, but expand included in NodeOutput; developer "
                        "should set enable_expand=True on node's Schema to allow this.")
    return output


def _derived(name: str) -> Any:
    """A V1 attribute read from the schema, computed (and kept on the class) on first use."""
    private = f"_{name}"

    def read(cls: Any) -> Any:
        if getattr(cls, private) is None:
            cls.GET_SCHEMA()
        return getattr(cls, private)
    read.__name__ = name
    return final(classproperty(read))


class _ComfyNodeBaseInternal(_ComfyNodeInternal):
    """The machinery of V3 node classes; nodes derive from `ComfyNode`."""

    RELATIVE_PYTHON_MODULE: str | None = None
    SCHEMA: Schema | None = None
    hidden: HiddenHolder | None = None  # set on each call's clone

    @classmethod
    @abstractmethod
    def define_schema(cls) -> Schema:
        """Return this node's Schema."""
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        """Run the node."""
        raise NotImplementedError

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        """Optional (V1 VALIDATE_INPUTS): True, False, or a message."""
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        """Optional (V1 IS_CHANGED): a value that changes when the node must run again."""
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        """Optional: the lazy inputs still needed (an input not evaluated yet is None)."""
        return [name for name in kwargs if kwargs[name] is None]

    def __init__(self) -> None:
        self.__class__.VALIDATE_CLASS()

    @classmethod
    def GET_BASE_CLASS(cls) -> type:  # noqa: N802
        return _ComfyNodeBaseInternal

    @final
    @classmethod
    def VALIDATE_CLASS(cls) -> None:  # noqa: N802
        for name in ("define_schema", "execute"):
            if first_real_override(cls, name) is None:
                raise Exception(f"No {name} function was defined for node class {cls.__name__}.")

    @classproperty
    def FUNCTION(cls) -> str:  # noqa: N802, N805
        return "EXECUTE_NORMALIZED_ASYNC" if inspect.iscoroutinefunction(cls.execute) else "EXECUTE_NORMALIZED"

    @final
    @classmethod
    def EXECUTE_NORMALIZED(cls, *args: Any, **kwargs: Any) -> NodeOutput:  # noqa: N802
        return _normalize(cls, cls.execute(*args, **kwargs))

    @final
    @classmethod
    async def EXECUTE_NORMALIZED_ASYNC(cls, *args: Any, **kwargs: Any) -> NodeOutput:  # noqa: N802
        return _normalize(cls, await cls.execute(*args, **kwargs))

    @final
    @classmethod
    def PREPARE_CLASS_CLONE(cls, v3_data: V3Data | None) -> type:  # noqa: N802
        """A clone of the node class holding this call's hidden values."""
        clone: Any = shallow_clone_class(cls if is_class(cls) else type(cls))
        clone.hidden = HiddenHolder.from_v3_data(v3_data)
        return clone  # type: ignore[no-any-return]

    @final
    @classmethod
    def GET_NODE_INFO_V3(cls) -> dict[str, Any]:  # noqa: N802
        return asdict(cls.GET_SCHEMA().get_v3_info(cls))

    @final
    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict[str, Any]:  # noqa: N802
        return asdict(cls.GET_SCHEMA().get_v1_info(cls))

    # The V1 attributes, from the schema.
    _DESCRIPTION = _CATEGORY = _EXPERIMENTAL = _DEPRECATED = _API_NODE = _OUTPUT_NODE = None
    _INPUT_IS_LIST = _OUTPUT_IS_LIST = _RETURN_TYPES = _RETURN_NAMES = _OUTPUT_TOOLTIPS = None
    _NOT_IDEMPOTENT = None
    DESCRIPTION = _derived("DESCRIPTION")
    CATEGORY = _derived("CATEGORY")
    EXPERIMENTAL = _derived("EXPERIMENTAL")
    DEPRECATED = _derived("DEPRECATED")
    API_NODE = _derived("API_NODE")
    OUTPUT_NODE = _derived("OUTPUT_NODE")
    INPUT_IS_LIST = _derived("INPUT_IS_LIST")
    OUTPUT_IS_LIST = _derived("OUTPUT_IS_LIST")
    RETURN_TYPES = _derived("RETURN_TYPES")
    RETURN_NAMES = _derived("RETURN_NAMES")
    OUTPUT_TOOLTIPS = _derived("OUTPUT_TOOLTIPS")
    NOT_IDEMPOTENT = _derived("NOT_IDEMPOTENT")

    @final
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, Any]]:  # noqa: N802
        return cls.FINALIZE_SCHEMA().get_v1_info(cls).input  # type: ignore[return-value]

    @final
    @classmethod
    def FINALIZE_SCHEMA(cls) -> Schema:  # noqa: N802
        """`define_schema()`, finalized."""
        schema = cls.define_schema()
        schema.finalize()
        return schema

    @final
    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802
        """The validated, finalized schema; also fills in the V1 attributes not yet known."""
        cls.VALIDATE_CLASS()
        schema = cls.FINALIZE_SCHEMA()
        schema.validate()
        # QUIRK(docs/execution.md §1.9): the attributes are kept on the class once known, and a
        # subclass sees its parent's.
        for private, value in (("_DESCRIPTION", schema.description), ("_CATEGORY", schema.category),
                               ("_EXPERIMENTAL", schema.is_experimental), ("_DEPRECATED", schema.is_deprecated),
                               ("_API_NODE", schema.is_api_node), ("_OUTPUT_NODE", schema.is_output_node),
                               ("_INPUT_IS_LIST", schema.is_input_list),
                               ("_NOT_IDEMPOTENT", schema.not_idempotent)):
            if getattr(cls, private) is None:
                setattr(cls, private, value)
        if cls._RETURN_TYPES is None:
            outputs = schema.outputs or []
            cls._RETURN_TYPES = [o.io_type for o in outputs]
            cls._RETURN_NAMES = [o.display_name if o.display_name else o.io_type for o in outputs]
            cls._OUTPUT_IS_LIST = [o.is_output_list for o in outputs]
            cls._OUTPUT_TOOLTIPS = [o.tooltip if o.tooltip else None for o in outputs]
        cls.SCHEMA = schema
        return schema


class ComfyNode(_ComfyNodeBaseInternal):
    """The base class of V3 nodes."""

    @classmethod
    @abstractmethod
    def define_schema(cls) -> Schema:
        """Return this node's Schema."""
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        """Run the node; hidden values are on `cls.hidden`."""
        raise NotImplementedError

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        """Optional (V1 VALIDATE_INPUTS): True, False, or a message."""
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        """Optional (V1 IS_CHANGED): a value that changes when the node must run again."""
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        """Optional: the lazy inputs still needed (an input not evaluated yet is None)."""
        return [name for name in kwargs if kwargs[name] is None]

    @final
    @classmethod
    def GET_BASE_CLASS(cls) -> type:  # noqa: N802
        return ComfyNode
