"""The V3 node-class contract as the executor sees it (docs/execution.md §1.9).

A V3 class (`comfy_api.latest.io.ComfyNode`) describes itself with a schema and runs as a classmethod
on a per-call clone of itself that carries the call's hidden values. ComfyUI's executor recognises
such classes by subclassing; here they are recognised by the internal names that contract is made of
(`GET_SCHEMA`, `PREPARE_CLASS_CLONE`, `VALIDATE_CLASS`, `GET_NODE_INFO_V1`, `GET_BASE_CLASS`), so the
compat layer's classes and the classes of a real ComfyUI checkout take the same path. Nothing here
imports either of them.

What this module owns:
- `is_v3` / `first_real_override`: which classes are V3, and which optional classmethods
  (`validate_inputs`, `fingerprint_inputs`, `check_lazy_status`) a class really defines;
- dynamic inputs (Autogrow, DynamicCombo, DynamicSlot): a node's declared inputs depend on the
  inputs its prompt entry has, as flat dotted ids (`images.image0`), which `finalize_inputs` works
  out and `nest_inputs` turns back into the nested dicts `execute` receives;
- the per-call data (`call_data`): hidden values and dynamic paths, keyed as ComfyUI's holder reads them;
- `bind`: a class method bound to a locked clone prepared with that data (one per call).

Pure functions; any thread may call them. Node code runs only inside what `bind` returns.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toucan_nb.runtime.prompt import DynamicPrompt

__all__ = [
    "FinalInputs",
    "bind",
    "call_data",
    "change_method",
    "finalize_inputs",
    "first_real_override",
    "has_dynamic_inputs",
    "is_node_output",
    "is_v3",
    "lock",
    "nest_inputs",
]

AUTOGROW = "COMFY_AUTOGROW_V3"
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
DYNAMIC_SLOT = "COMFY_DYNAMICSLOT_V3"
DYNAMIC_TYPES = frozenset({AUTOGROW, DYNAMIC_COMBO, DYNAMIC_SLOT})

_CONTRACT = ("GET_SCHEMA", "PREPARE_CLASS_CLONE", "VALIDATE_CLASS", "GET_NODE_INFO_V1", "GET_BASE_CLASS")

# How each hidden input (the key of the class's `hidden` section) gets its value; the values are
# keyed by the marker, which is how a `Hidden` member (a str enum) hashes and compares.
_HIDDEN = {
    "unique_id": "UNIQUE_ID",
    "prompt": "PROMPT",
    "extra_pnginfo": "EXTRA_PNGINFO",
    "dynprompt": "DYNPROMPT",
    "auth_token_comfy_org": "AUTH_TOKEN_COMFY_ORG",
    "api_key_comfy_org": "API_KEY_COMFY_ORG",
}

def is_v3(cls: Any) -> bool:
    """Whether `cls` is a V3 schema class (any implementation of the contract)."""
    return isinstance(cls, type) and all(callable(getattr(cls, name, None)) for name in _CONTRACT)


def first_real_override(cls: type, name: str, *, base: type | None = None) -> Callable[..., Any] | None:
    """`cls.<name>` if a class below `base` (default: the class's `GET_BASE_CLASS()`) really
    defines it, else None (the base's own version is a placeholder that only raises)."""
    if base is None:
        get_base = getattr(cls, "GET_BASE_CLASS", None)
        if get_base is None:
            raise ValueError(f"{cls!r} has no GET_BASE_CLASS; pass the base class")
        base = get_base()
    placeholder = getattr(base, name, None)
    if placeholder is None:
        return None
    placeholder = getattr(placeholder, "__func__", placeholder)
    for klass in cls.__mro__:
        if klass is base:
            break
        if name in klass.__dict__:
            found = getattr(klass, name)
            if getattr(found, "__func__", found) is not placeholder:
                return getattr(cls, name)  # type: ignore[no-any-return]
    return None


def change_method(cls: type) -> str | None:
    """The name of the method whose result keys a node's cache entry, or None (docs/execution.md §1.6)."""
    if is_v3(cls) and first_real_override(cls, "fingerprint_inputs") is not None:
        return "fingerprint_inputs"
    return "IS_CHANGED" if hasattr(cls, "IS_CHANGED") else None


def is_node_output(value: Any) -> bool:
    """Whether a node call returned a V3 `NodeOutput` (args, ui, expand, block_execution)."""
    return hasattr(value, "block_execution") and hasattr(value, "expand") and hasattr(value, "args")


# -- dynamic inputs ------------------------------------------------------------------------------

def has_dynamic_inputs(input_types: Mapping[str, Any]) -> bool:
    """Whether any declared input is dynamic, so that the declared inputs depend on the prompt."""
    for category, entries in input_types.items():
        if category == "hidden" or not isinstance(entries, Mapping):
            continue
        for spec in entries.values():
            if _io_type(spec) in DYNAMIC_TYPES:
                return True
    return False


@dataclass(slots=True)
class FinalInputs:
    """A node's declared inputs for its live inputs: `sections` ({"required": {id: spec},
    "optional": {...}}, hidden left out) and `paths` (dotted id -> nested path)."""

    sections: dict[str, dict[str, Any]]
    paths: dict[str, str]

    def categories(self) -> dict[str, tuple[str, Any]]:
        """{id: (category, options or None)}: optional first, so required wins as in a lookup."""
        out: dict[str, tuple[str, Any]] = {}
        for category in ("optional", "required"):
            for name, spec in self.sections.get(category, {}).items():
                out[name] = (category, spec[1] if isinstance(spec, (tuple, list)) and len(spec) > 1 else None)
        return out


def finalize_inputs(input_types: Mapping[str, Any], live_inputs: Mapping[str, Any]) -> FinalInputs:
    """The inputs a node declares given the inputs its prompt entry has (dynamic ones expanded)."""
    final = FinalInputs({"required": {}, "optional": {}}, {})
    for category, entries in input_types.items():
        if category != "hidden" and isinstance(entries, Mapping):
            _expand(final, live_inputs, category, entries, ())
    return final


def _io_type(spec: Any) -> Any:
    io_type = spec[0] if isinstance(spec, (tuple, list)) and spec else None
    return io_type if isinstance(io_type, str) else None


def _expand(final: FinalInputs, live: Mapping[str, Any], category: str, entries: Mapping[str, Any],
            prefix: tuple[str, ...]) -> None:
    for input_id, spec in entries.items():
        io_type = _io_type(spec)
        path = (*prefix, input_id)
        if io_type == AUTOGROW:
            _expand_autogrow(final, live, spec[1]["template"], path)
        elif io_type == DYNAMIC_COMBO:
            _expand_combo(final, live, category, spec, path)
        elif io_type == DYNAMIC_SLOT:
            _expand_slot(final, live, category, spec, path)
        else:
            dotted = ".".join(path)
            final.sections.setdefault(category, {})[dotted] = spec
            if prefix:
                final.paths[dotted] = dotted


def _expand_autogrow(final: FinalInputs, live: Mapping[str, Any], template: Mapping[str, Any],
                     path: tuple[str, ...]) -> None:
    """One input per connected name: the first `min` required, the rest optional."""
    if "names" in template:
        names = list(template["names"])
    else:
        names = [f"{template['prefix']}{i}" for i in range(template["max"])]
    minimum = template["min"]
    # The template's input: the first entry of its (last) section.
    spec = None
    for section in template["input"].values():
        spec = next(iter(section.values()))
    grown: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        if ".".join((*path, name)) in live:
            grown.setdefault("required" if i < minimum else "optional", {})[name] = spec
    for category, entries in grown.items():
        _expand(final, live, category, entries, path)


def _expand_combo(final: FinalInputs, live: Mapping[str, Any], category: str, spec: Any,
                  path: tuple[str, ...]) -> None:
    """The combo itself plus the inputs of the option its value selects."""
    dotted = ".".join(path)
    if dotted not in live:
        return
    key = live[dotted]
    for option in spec[1]["options"]:
        if option["key"] == key:
            for option_category, entries in option["inputs"].items():
                _expand(final, live, option_category, entries, path)
            final.sections.setdefault(category, {})[dotted] = spec
            final.paths[dotted] = ".".join((*path, path[-1]))
            return


def _expand_slot(final: FinalInputs, live: Mapping[str, Any], category: str, spec: Any,
                 path: tuple[str, ...]) -> None:
    """A connected slot brings its extra inputs."""
    dotted = ".".join(path)
    if dotted not in live:
        return
    for slot_category, entries in spec[1]["inputs"].items():
        _expand(final, live, slot_category, entries, path)
    final.sections.setdefault(category, {})[dotted] = spec
    final.paths[dotted] = ".".join((*path, path[-1]))


def nest_inputs(values: dict[str, Any], data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Call arguments with dotted dynamic ids folded into nested dicts (`{"images": {"image0": ...}}`).

    With `create_dynamic_tuple` (what check_lazy_status gets) each nested value is `(value, dotted id)`.
    """
    paths = data.get("dynamic_paths") if data else None
    if not paths:
        return values
    values = dict(values)
    as_pairs = data.get("create_dynamic_tuple", False)  # type: ignore[union-attr]
    nested: dict[str, Any] = {}
    for key, path in paths.items():
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        value = values.pop(key, None)
        node[leaf] = (value, key) if as_pairs else value
    values.update(nested)
    return values


# -- per-call data -------------------------------------------------------------------------------

def call_data(input_types: Mapping[str, Any], live_inputs: Mapping[str, Any], unique_id: str,
              dynprompt: DynamicPrompt | None, extra_data: Mapping[str, Any],
              dynamic: bool | None = None) -> dict[str, Any]:
    """ComfyUI's `V3Data` for one node call: `hidden_inputs` and `dynamic_paths`.

    Hidden values are those the class declares; `dynprompt` is None (and `prompt` therefore `{}`)
    outside execution, in validation and fingerprinting, as in ComfyUI (docs/execution.md §1.3).
    """
    if dynamic is None:
        dynamic = has_dynamic_inputs(input_types)
    paths = finalize_inputs(input_types, live_inputs).paths if dynamic else {}
    hidden: dict[str, Any] = {}
    for name in input_types.get("hidden") or ():
        marker = _HIDDEN.get(name)
        if marker == "PROMPT":
            hidden[marker] = dynprompt.get_original_prompt() if dynprompt is not None else {}
        elif marker == "DYNPROMPT":
            hidden[marker] = dynprompt
        elif marker == "UNIQUE_ID":
            hidden[marker] = unique_id
        elif marker is not None:
            hidden[marker] = extra_data.get(name)
    return {"dynamic_paths": paths, "hidden_inputs": hidden}


# -- binding -------------------------------------------------------------------------------------

_locked_metas: dict[type, type] = {}
_locked_lock = threading.Lock()
_LOCK_FLAG = "_toucan_v3_locked_"


def _locked_meta(meta: type) -> type:
    """A subclass of `meta` whose classes refuse attribute assignment once built."""
    locked = _locked_metas.get(meta)
    if locked is None:
        with _locked_lock:
            locked = _locked_metas.get(meta)
            if locked is None:
                def __setattr__(cls: type, name: str, value: Any) -> None:  # noqa: N807
                    if cls.__dict__.get(_LOCK_FLAG):
                        raise AttributeError(f"Cannot modify class attribute '{name}' on locked class "
                                             f"'{cls.__name__}'")
                    meta.__setattr__(cls, name, value)  # type: ignore[arg-type,call-arg]  # a metaclass's __setattr__ takes the class

                locked = _locked_metas[meta] = types.new_class(
                    f"Locked{meta.__name__}", (meta,), exec_body=lambda ns: ns.update(__setattr__=__setattr__))
    return locked


def lock(clone: type) -> type:
    """A subclass of `clone` whose class attributes cannot be assigned."""
    namespace = {"__module__": clone.__module__, "__qualname__": clone.__qualname__, "__doc__": clone.__doc__}
    locked = _locked_meta(type(clone))(clone.__name__, (clone,), namespace)
    type.__setattr__(locked, _LOCK_FLAG, True)
    return locked  # type: ignore[no-any-return]  # the metaclass call builds a class


def bind(cls: type, name: str, data: Mapping[str, Any] | None) -> Callable[..., Any]:
    """`cls.<name>` bound to a fresh locked clone prepared with `data` (hidden values), so that the
    node reads `cls.hidden.unique_id` and cannot change the class other calls see."""
    cls.VALIDATE_CLASS()  # type: ignore[attr-defined]
    locked = lock(cls.PREPARE_CLASS_CLONE(data))  # type: ignore[attr-defined]
    method = getattr(cls, name)
    func = getattr(method, "__func__", None)
    if func is None:  # not a classmethod (ComfyUI fails on these): call it as the class has it
        return getattr(locked, name)  # type: ignore[no-any-return]
    return types.MethodType(func, locked)

