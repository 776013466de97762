"""Prompt validation exactly as ComfyUI's POST /prompt does it (docs/execution.md §2, docs/protocol.md §6).

`validate_prompt` checks every node's class, picks the output nodes, then validates each output
and everything it reaches through *declared* linked inputs, sharing one memo. It mutates the
prompt the way ComfyUI does (`__value__` unwrap, INT/FLOAT/STRING/BOOLEAN coercion) and either
returns a `ValidationResult` (good outputs + node_errors of dropped outputs) or raises
`PromptValidationError` carrying the exact wire dicts.

ComfyUI recurses upstream; we walk with an explicit stack of per-node generators instead, so
5,000-node chains validate and static cycles end the way ComfyUI's RecursionError ends them.
Exceptions other than PromptValidationError mean ComfyUI itself would have crashed (HTTP 500),
e.g. a prompt that is a list; a node that is not an object is an `invalid_prompt` here.

V3 schema classes (docs/execution.md §1.9) are validated by the same rules: their declared inputs are
those of `INPUT_TYPES()` with dynamic inputs expanded for the node's own inputs, and their validator
is `validate_inputs` (when really defined), run on a prepared clone like `execute`.

Pure apart from the node code it calls (INPUT_TYPES, VALIDATE_INPUTS); any thread may call it.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from toucan_nb.runtime import v3
from toucan_nb.runtime.asynccall import call_node_method
from toucan_nb.runtime.errors import PromptValidationError
from toucan_nb.runtime.graph_utils import ExecutionBlocker, is_link
from toucan_nb.runtime.registry import NodeRegistry

__all__ = ["ValidationResult", "validate_node_input", "validate_prompt"]

# (valid, errors, node_id): the memo entry shape of ComfyUI's validate_inputs.
_Outcome = tuple[bool, list[dict[str, Any]], Any]
# What a node's check yields to ask for a linked source: (source id, input name, input_config, link).
_Request = tuple[Any, str, tuple[Any, Any] | None, list[Any]]

# What a link into a node that is still being validated (a static cycle) yields. ComfyUI recurses
# until RecursionError; while its stack unwinds every node of the cycle is re-stored as invalid with
# only its own errors, which is what treating the back edge as "invalid source, no error" gives.
_IN_CYCLE: _Outcome = (False, [], None)

_NO_ERRORS: list[dict[str, Any]] = []  # shared by every valid memo entry; never mutated

_COERCE = (("INT", int), ("FLOAT", float), ("STRING", str), ("BOOLEAN", bool))
_MATCHTYPE = "COMFY_MATCHTYPE_V3"


@dataclass(frozen=True)
class ValidationResult:
    """A prompt that may be queued: the output node ids to run, and the errors of dropped outputs."""

    outputs: list[str]
    node_errors: dict[str, Any]


def validate_node_input(received_type: Any, input_type: Any, strict: bool = False) -> bool:
    """Whether an output of `received_type` may feed an input of `input_type` (docs/execution.md §2.4)."""
    # The left operand's __ne__ decides first: the IO StrEnum and the testing-pack's SmartType
    # are str subclasses that widen equality this way.
    if not received_type != input_type:  # noqa: SIM202 (the __ne__ call is the point)
        return True
    if received_type == "*" or input_type == "*":
        return True
    if received_type == _MATCHTYPE or input_type == _MATCHTYPE:
        return True  # checked by the frontend
    if isinstance(received_type, list) and input_type == "COMBO":
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    accepted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in accepted:
        return True
    if strict:
        return received <= accepted
    return not received.isdisjoint(accepted)


def validate_prompt(prompt: dict[str, Any], registry: NodeRegistry,
                    partial_execution_targets: list[str] | None = None, *,
                    prompt_id: str = "") -> ValidationResult:
    """Validate `prompt` in place (docs/execution.md §2.2); raises PromptValidationError on failure."""
    if not isinstance(prompt, dict):
        raise TypeError(f"a prompt maps node ids to nodes; got {type(prompt).__name__}")
    classes = registry.classes()
    outputs = _select_outputs(prompt, classes, partial_execution_targets)
    if not outputs:
        raise PromptValidationError(_error("prompt_no_outputs", "Prompt has no outputs", ""), {})

    walk = _Validation(prompt, classes, prompt_id)
    good: list[str] = []
    failed: list[list[dict[str, Any]]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            valid, reasons, _ = walk.validate(output)
        except Exception as exc:
            valid = False
            reasons = [_error("exception_during_validation", "Exception when validating node", str(exc),
                              exception_type=_type_name(exc), traceback=_tb(exc))]
            walk.memo[output] = (False, reasons, output)
        if valid is True:
            good.append(output)
            continue
        failed.append(reasons)
        # QUIRK(docs/execution.md §2.2 step 4): the whole memo is scanned, so a node with errors also
        # lists failing outputs that do not depend on it.
        for node_id, (node_valid, node_reasons, _) in walk.memo.items():
            if node_valid is not True and len(node_reasons) > 0:
                entry = node_errors.get(node_id)
                if entry is None:
                    entry = node_errors[node_id] = {"errors": node_reasons, "dependent_outputs": [],
                                                    "class_type": prompt[node_id]["class_type"]}
                entry["dependent_outputs"].append(output)

    if not good:
        details = "\n".join(f"{r['message']}: {r['details']}" for reasons in failed for r in reasons)
        raise PromptValidationError(
            _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), node_errors)
    return ValidationResult(outputs=good, node_errors=node_errors)


# -- outputs -----------------------------------------------------------------------------------------------

def _select_outputs(prompt: Any, classes: dict[str, type], targets: list[str] | None) -> list[Any]:
    """Class check of every node, in dict order, then the output nodes (docs/execution.md §2.2 steps 1-2)."""
    outputs = []
    for node_id in prompt:
        node = prompt[node_id]
        # Deviation: ComfyUI tests `"class_type" not in node`, which crashes (HTTP 500) for a number,
        # null or bool and for a string or list holding "class_type"; any node that is not an object
        # lacks the property, so it gets the answer ComfyUI gives a list or a string.
        if not isinstance(node, dict) or "class_type" not in node:
            raise PromptValidationError(_error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'"), {})
        class_type = node["class_type"]
        # Deviation: a class_type that is not a string (a list, an object) is unknown here; an
        # unhashable one is a 500 in ComfyUI.
        cls = classes.get(class_type) if isinstance(class_type, str) else None
        if cls is None:
            raise PromptValidationError(_error(
                "invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'"), {})
        # Identity on purpose: ComfyUI tests `OUTPUT_NODE is True` here.
        if getattr(cls, "OUTPUT_NODE", None) is True and (targets is None or node_id in targets):
            outputs.append(node_id)
    return outputs


# -- per-class facts ---------------------------------------------------------------------------------------

class _ClassFacts:
    """What validation reads from a node class, computed once per class per validate_prompt call."""

    __slots__ = ("cls", "inputs", "sections", "declared", "hidden", "validator", "validator_name",
                 "validator_args", "validator_kwargs", "wants_input_types", "input_is_list", "return_types",
                 "is_v3", "dynamic")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.inputs: dict[str, Any] = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # V1 node classes declare INPUT_TYPES
        self.is_v3 = v3.is_v3(cls)
        self.dynamic = self.is_v3 and v3.has_dynamic_inputs(self.inputs)
        # What inputs are looked up in: a V3 class's hidden values are not inputs (§1.9).
        self.sections: dict[str, Any] = self.inputs
        self.hidden: dict[str, Any] = self.inputs.get("hidden", {})
        if self.is_v3:
            self.sections = {k: v for k, v in self.inputs.items() if k != "hidden"}
            self.hidden = {}
        self.declared = _declare(self.sections)
        if self.is_v3:
            self.validator_name = "validate_inputs"
            self.validator = v3.first_real_override(cls, "validate_inputs")
        else:
            self.validator_name = "VALIDATE_INPUTS"
            self.validator = getattr(cls, "VALIDATE_INPUTS", None)
        self.validator_args: list[str] = []
        self.validator_kwargs = False
        if self.validator is not None:
            # Fetched from the class and called unbound (the testing-pack's VariantSupport stores
            # a plain function); for a classmethod `args` includes `cls`.
            spec = inspect.getfullargspec(self.validator)
            self.validator_args = spec.args
            self.validator_kwargs = spec.varkw is not None
        self.wants_input_types = "input_types" in self.validator_args
        self.input_is_list = getattr(cls, "INPUT_IS_LIST", False)

    def for_node(self, inputs: dict[str, Any]) -> tuple[list[_Declared], dict[str, Any]]:
        """The declared inputs and the sections of one node: its own when it has dynamic inputs."""
        if not self.dynamic:
            return self.declared, self.sections
        sections: dict[str, Any] = v3.finalize_inputs(self.inputs, inputs).sections
        return _declare(sections), sections


def _lookup(sections: dict[str, Any], name: str) -> tuple[str | None, Any]:
    """(category, spec) of an input name: required, then optional, then hidden (§1.2)."""
    for category in ("required", "optional", "hidden"):
        section = sections.get(category)
        if section is not None and name in section:
            return category, section[name]
    return None, None


def _declare(sections: dict[str, Any]) -> list[_Declared]:
    required = sections.get("required", {})
    optional = sections.get("optional", {})
    # ComfyUI walks a set of the names; we keep declaration order (required first).
    declared = [_Declared(name, True, required[name]) for name in required]
    declared += [_Declared(name, False, optional[name]) for name in optional if name not in required]
    return declared


class _Declared:
    """One declared input: its spec split once, as ComfyUI's get_input_info reads it."""

    __slots__ = ("name", "required", "spec", "input_type", "extra_info", "info", "coerce")

    def __init__(self, name: str, required: bool, spec: Any) -> None:
        self.name = name
        self.required = required
        self.spec = spec
        try:
            self.input_type, self.extra_info = _split_spec(spec)
        except Exception:
            self.info = None  # a malformed spec raises when the input is checked, per node
            return
        self.info = (self.input_type, self.extra_info)
        # Each test in turn, with ==, as ComfyUI does (a str subclass may equal several).
        self.coerce = [convert for type_name, convert in _COERCE if self.input_type == type_name]


def _split_spec(spec: Any) -> tuple[Any, Any]:
    """(input_type, extra_info) of an input spec, as ComfyUI's get_input_info reads it."""
    if spec is None:
        raise AssertionError  # ComfyUI asserts that a declared input has a spec
    extra_info = spec[1] if len(spec) > 1 else {}
    if extra_info is None:
        raise AssertionError  # ComfyUI asserts the spec's options are not None
    return spec[0], extra_info


# -- the walk ----------------------------------------------------------------------------------------------

class _Validation:
    """One validate_prompt call: the shared memo and the explicit-stack walk over linked sources."""

    def __init__(self, prompt: dict[str, Any], classes: dict[str, type], prompt_id: str) -> None:
        self.prompt = prompt
        self.classes = classes
        self.prompt_id = prompt_id
        self.memo: dict[Any, _Outcome] = {}
        self.active: set[Any] = set()  # nodes whose check is suspended on the stack
        self._facts: dict[Any, _ClassFacts] = {}

    def facts(self, class_type: Any) -> _ClassFacts:
        facts = self._facts.get(class_type)
        if facts is None:
            # Not cached when it raises, so every node of the class raises again, as in ComfyUI.
            facts = self._facts[class_type] = _ClassFacts(self.classes[class_type])
        return facts

    def validate(self, root: Any) -> _Outcome:
        """ComfyUI's validate_inputs for `root`; an exception of root's own check escapes."""
        memo = self.memo
        if root in memo:
            return memo[root]
        active = self.active
        # Frames: (node id, its generator, the request of the parent that started it).
        stack: list[tuple[Any, Generator[_Request, _Outcome, _Outcome], _Request | None]] = [
            (root, self._check(root), None)]
        active.add(root)
        message: Any = None
        while True:
            node_id, gen, request = stack[-1]
            try:
                ask = gen.send(message)
            except StopIteration as done:
                stack.pop()
                active.discard(node_id)
                outcome: _Outcome = done.value
                memo[node_id] = outcome
                if not stack:
                    return outcome
                message = outcome
                continue
            except Exception as exc:
                stack.pop()
                active.discard(node_id)
                if request is None:
                    raise
                # The parent's try around its recursive call records the failure on *this* node.
                _, input_name, input_config, link = request
                memo[node_id] = message = (False, [_error(
                    "exception_during_inner_validation", "Exception when validating inner node", str(exc),
                    input_name=input_name, input_config=input_config, exception_message=str(exc),
                    exception_type=_type_name(exc), traceback=_tb(exc), linked_node=link)], node_id)
                continue
            # The check asks only for sources that are neither validated nor on the stack.
            source = ask[0]
            stack.append((source, self._check(source), ask))
            active.add(source)
            message = None

    def _check(self, node_id: Any) -> Generator[_Request, _Outcome, _Outcome]:
        """One node's checks (docs/execution.md §2.3); yields a request per linked source to validate."""
        prompt = self.prompt
        memo = self.memo
        node = prompt[node_id]
        inputs = node["inputs"]
        facts = self.facts(node["class_type"])
        classes = self.classes
        errors: list[dict[str, Any]] = []
        valid = True
        received_types: dict[str, Any] = {}
        skip_value_checks = facts.validator_kwargs
        validator_args = facts.validator_args
        declared_inputs, sections = facts.for_node(inputs)

        for declared in declared_inputs:
            info = declared.info
            if info is None:
                _split_spec(declared.spec)  # raises, as get_input_info/the assert does in ComfyUI
            name = declared.name
            if name not in inputs:
                if declared.required:
                    # A V3 class names the last part of a dotted (dynamic) input id.
                    errors.append(_error("required_input_missing", "Required input is missing",
                                         name.split(".")[-1] if facts.is_v3 else name, input_name=name))
                continue
            val = inputs[name]
            input_type = declared.input_type
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(_error(
                        "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name, input_name=name, input_config=info, received_value=val))
                    continue
                source = val[0]
                # Raises KeyError / IndexError out of this node, as in ComfyUI (docs/execution.md §2.3 step 2).
                received_type = classes[prompt[source]["class_type"]].RETURN_TYPES[val[1]]  # type: ignore[attr-defined]  # V1 node classes declare RETURN_TYPES
                received_types[name] = received_type
                # `!=` first inlines validate_node_input's own first test for the common exact match.
                if (not facts.wants_input_types and received_type != input_type
                        and not validate_node_input(received_type, input_type)):
                    errors.append(_error(
                        "return_type_mismatch", "Return type mismatch between linked nodes",
                        f"{name}, received_type({received_type}) mismatch input_type({input_type})",
                        input_name=name, input_config=info, received_type=received_type, linked_node=val))
                    continue
                outcome = memo.get(source)
                if outcome is None:
                    outcome = _IN_CYCLE if source in self.active else (yield (source, name, info, val))
                if outcome[0] is False:
                    valid = False  # the source carries its own errors
                continue

            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = inputs[name] = val["__value__"]
                for convert in declared.coerce:
                    val = inputs[name] = convert(val)
            except Exception as exc:
                errors.append(_error(
                    "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                    f"{name}, {val}, {exc}", input_name=name, input_config=info, received_value=val,
                    exception_message=str(exc)))
                continue

            if skip_value_checks or name in validator_args:
                continue
            extra_info = declared.extra_info
            if "min" in extra_info and val < extra_info["min"]:
                errors.append(_error("value_smaller_than_min",
                                     "Value {} smaller than min of {}".format(val, extra_info["min"]), name,
                                     input_name=name, input_config=info, received_value=val))
                continue
            if "max" in extra_info and val > extra_info["max"]:
                errors.append(_error("value_bigger_than_max",
                                     "Value {} bigger than max of {}".format(val, extra_info["max"]), name,
                                     input_name=name, input_config=info, received_value=val))
                continue
            if isinstance(input_type, list) or input_type == "COMBO":
                options = extra_info.get("options", []) if input_type == "COMBO" else input_type
                if val not in options:
                    config: Any = info
                    if len(options) > 20:  # ComfyUI keeps long model lists out of the response
                        listed = f"(list of length {len(options)})"
                        config = None
                    else:
                        listed = str(options)
                    errors.append(_error("value_not_in_list", "Value not in list", f"{name}: '{val}' not in {listed}",
                                         input_name=name, input_config=config, received_value=val))
                    continue

        if validator_args or facts.validator_kwargs:
            errors += self._run_validator(node_id, inputs, facts, sections, received_types)

        if errors or valid is not True:
            return (False, errors, node_id)
        return (True, _NO_ERRORS, node_id)

    def _run_validator(self, node_id: Any, inputs: dict[str, Any], facts: _ClassFacts, sections: dict[str, Any],
                       received_types: dict[str, Any]) -> list[dict[str, Any]]:
        """VALIDATE_INPUTS through ComfyUI's mapper, inputs assembled without an execution list (§1.7)."""
        args = self._validator_inputs(node_id, inputs, facts, sections)
        if facts.wants_input_types:
            args["input_types"] = [received_types]

        blocker = _find_blocker(args, facts.input_is_list)
        if blocker is not None:
            result: Any = blocker
        else:
            index: int | None = 0
            if facts.input_is_list:
                call_args = args
            elif not args:
                call_args, index = {}, None
            else:
                # Every assembled value is a one-item list here, so the mapper makes exactly one call.
                call_args = {k: v[0] for k, v in args.items()}
            validator = facts.validator
            if facts.is_v3:
                # Hidden values as outside execution: no DynamicPrompt, no extra data (§1.3).
                data = v3.call_data(facts.inputs, inputs, node_id, None, {}, facts.dynamic)
                validator = v3.bind(facts.cls, facts.validator_name, data)
                call_args = v3.nest_inputs(call_args, data)
            result = call_node_method(validator, call_args, self.prompt_id, node_id, index)  # type: ignore[arg-type]

        if result is True or isinstance(result, ExecutionBlocker):
            return []
        suffix = "" if result is False else f" - {result}"
        # QUIRK(docs/execution.md §1.7): one error per passed argument (input_types included); with no
        # argument passed, a failure is ignored.
        return [_error("custom_validation_failed", "Custom validation failed for node", f"{name}{suffix}",
                       input_name=name) for name in args]

    def _validator_inputs(self, node_id: Any, inputs: dict[str, Any], facts: _ClassFacts,
                          sections: dict[str, Any]) -> dict[str, Any]:
        """get_input_data with no execution list, filtered to the validator's arguments."""
        everything = facts.validator_kwargs
        wanted = facts.validator_args
        assembled: dict[str, Any] = {}
        for name, value in inputs.items():
            category, spec = _lookup(sections, name)
            extra_info = None
            if spec is None:
                category = None  # get_input_info treats a None spec as undeclared
            else:
                extra_info = spec[1] if len(spec) > 1 else {}
            if is_link(value) and (not extra_info or not extra_info.get("rawLink", False)):
                # Links (declared or not) arrive as None: nothing has run yet.
                if everything or name in wanted:
                    assembled[name] = (None,)
            elif category is not None and (everything or name in wanted):
                assembled[name] = [value]
        # Hidden markers override prompt values; there is no DynamicPrompt or extra_data here (§1.3).
        for name, marker in facts.hidden.items():
            if not (everything or name in wanted):
                continue
            if marker == "PROMPT":
                assembled[name] = [{}]
            elif marker in ("DYNPROMPT", "EXTRA_PNGINFO", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG"):
                assembled[name] = [None]
            elif marker == "UNIQUE_ID":
                assembled[name] = [node_id]
        return assembled


def _find_blocker(args: dict[str, Any], input_is_list: Any) -> ExecutionBlocker | None:
    for value in args.values():
        for item in (value if input_is_list else value[:1]):
            if isinstance(item, ExecutionBlocker):
                return item
    return None


# -- error records -----------------------------------------------------------------------------------------

def _error(kind: str, message: str, details: str, **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _tb(exc: BaseException) -> list[str]:
    return traceback.format_tb(exc.__traceback__)
