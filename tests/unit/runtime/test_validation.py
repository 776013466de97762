"""Prompt validation against docs/execution.md §2, docs/protocol.md §6 and the recorded ComfyUI responses."""

from __future__ import annotations

import asyncio
import copy
import enum
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.context import get_executing_context
from toucan_nb.runtime.errors import PromptValidationError
from toucan_nb.runtime.graph_utils import ExecutionBlocker
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.validation import ValidationResult, validate_node_input, validate_prompt

# -- test nodes ------------------------------------------------------------------------------------------------

class Source:
    """IMAGE source with a ranged INT."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 10})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"


class LatentSource:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"


class Invert:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"


class Sink:
    """Output node; `prefix` is required so that defaults are never filled in."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE", {"tooltip": "The images to save."}),
                             "prefix": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True


class PassOutput:
    """An output node that also feeds others."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    OUTPUT_NODE = True


class TruthyOutput:
    """OUTPUT_NODE == True but not `is True`: not an output for validation."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = 1


class Widgets:
    """Output node with one of each constant kind."""

    BIG = [f"opt{i}" for i in range(25)]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "i": ("INT", {"default": 0, "min": 0, "max": 10}),
                "f": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}),
            },
            "optional": {
                "s": ("STRING", {}),
                "b": ("BOOLEAN", {}),
                "legacy": (["a", "b"],),
                "combo": ("COMBO", {"options": ["x", "y"]}),
                "combo_empty": ("COMBO", {}),
                "big": (cls.BIG, {}),
                "union": ("IMAGE,FLOAT", {"min": 0}),
                "anything": ("*",),
                "listy": ("LISTY",),
            },
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True


def widgets(**inputs: Any) -> dict[str, Any]:
    return {"9": {"class_type": "Widgets", "inputs": {"i": 1, "f": 0.5, **inputs}}}


class Variadic:
    """Declares input1 only; takes more through **kwargs (docs/execution.md §1.4)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    OUTPUT_NODE = True


class Boom(Exception):
    pass


class Recorder:
    """Base for validator nodes: records every VALIDATE_INPUTS call."""

    calls: list[dict[str, Any]]
    result: Any = True


def recording(name: str, inputs: dict[str, Any], validator: Any, *, output: bool = True,
              returns: tuple[str, ...] = ("IMAGE",), **attrs: Any) -> type:
    """A node class whose VALIDATE_INPUTS is `validator` (wrapped by the caller as needed)."""
    namespace: dict[str, Any] = {
        "INPUT_TYPES": classmethod(lambda cls: inputs),
        "RETURN_TYPES": returns,
        "FUNCTION": "run",
        "OUTPUT_NODE": output,
        "VALIDATE_INPUTS": validator,
        "calls": [],
        **attrs,
    }
    return type(name, (Recorder,), namespace)


RANGED = {"required": {"image": ("IMAGE",), "a": ("INT", {"min": 0, "max": 5}), "b": ("INT", {"min": 0, "max": 5})},
          "optional": {"c": (["p", "q"],)},
          "hidden": {"prompt": "PROMPT", "dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID",
                     "extra_pnginfo": "EXTRA_PNGINFO", "loop_value": ("*",)}}


def registry(*extra: tuple[str, type]) -> NodeRegistry:
    reg = NodeRegistry()
    for cls in (Source, LatentSource, Invert, Sink, PassOutput, TruthyOutput, Widgets, Variadic):
        reg.register(cls.__name__, cls)
    for name, cls in extra:
        reg.register(name, cls)
    return reg


def wire(obj: Any) -> Any:
    """What the client sees: JSON, tracebacks blanked, set-ordered lists sorted."""
    data = json.loads(json.dumps(obj))

    def scrub(node_errors: dict[str, Any]) -> dict[str, Any]:
        for entry in node_errors.values():
            entry["dependent_outputs"] = sorted(entry["dependent_outputs"])
            for err in entry["errors"]:
                if "traceback" in err["extra_info"]:
                    assert isinstance(err["extra_info"]["traceback"], list)
                    err["extra_info"]["traceback"] = []
        return node_errors

    if "node_errors" in data:
        scrub(data["node_errors"])
    return data


def fail(prompt: dict[str, Any], reg: NodeRegistry | None = None, targets: list[str] | None = None) -> dict[str, Any]:
    with pytest.raises(PromptValidationError) as info:
        validate_prompt(prompt, reg or registry(), targets)
    return wire({"error": info.value.error, "node_errors": info.value.node_errors})


def ok(prompt: dict[str, Any], reg: NodeRegistry | None = None, targets: list[str] | None = None) -> ValidationResult:
    return validate_prompt(prompt, reg or registry(), targets)


def err(kind: str, message: str, details: str, **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def failed_outputs(details: str = "") -> dict[str, Any]:
    return err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)


def node_error(class_type: str, outputs: list[str], *errors: dict[str, Any]) -> dict[str, Any]:
    return {"errors": list(errors), "dependent_outputs": sorted(outputs), "class_type": class_type}


MISSING_IMAGE = err("required_input_missing", "Required input is missing", "image", input_name="image")


def chain(*, source_value: Any = 1) -> dict[str, Any]:
    return {
        "1": {"class_type": "Source", "inputs": {"value": source_value}},
        "2": {"class_type": "Invert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "v"}},
    }


# -- validate_node_input (docs/execution.md §2.4) ---------------------------------------------------------------------

class IO(str, enum.Enum):
    """Like ComfyUI's IO: `*` matches anything and comma sets are equal when one contains the other."""

    ANY = "*"
    IMAGE = "IMAGE"
    IMAGE_MASK = "IMAGE,MASK"

    def __ne__(self, value: object) -> bool:
        if self == "*" or value == "*":
            return False
        if not isinstance(value, str):
            return True
        a, b = frozenset(self.split(",")), frozenset(value.split(","))
        return not (b.issubset(a) or a.issubset(b))


class SmartType(str):
    """The testing-pack's SmartType: equal when this side is a subset of the other."""

    def __ne__(self, other: object) -> bool:
        if self == "*" or other == "*":
            return False
        return not set(self.split(",")).issubset(set(str(other).split(",")))


class Loose(str):
    """Equal to everything by __ne__ alone: shows the __ne__ call is what decides first."""

    def __ne__(self, other: object) -> bool:
        return False


@pytest.mark.parametrize(("received", "accepted", "strict", "expected"), [
    ("IMAGE", "IMAGE", False, True),
    ("IMAGE", "MASK", False, False),
    ("*", "MASK", False, True),
    ("IMAGE", "*", False, True),
    ("COMFY_MATCHTYPE_V3", "MASK", False, True),
    ("IMAGE", "COMFY_MATCHTYPE_V3", False, True),
    (["a", "b"], "COMBO", False, True),
    (["a", "b"], ["a", "b"], False, True),
    (["a", "b"], ["a"], False, False),
    ("COMBO", ["a", "b"], False, False),
    (None, "IMAGE", False, False),
    ("IMAGE,FLOAT", "FLOAT", False, True),
    ("IMAGE, FLOAT", "MASK,FLOAT ", False, True),
    ("IMAGE,FLOAT", "MASK,INT", False, False),
    ("IMAGE,*", "MASK", False, True),
    ("IMAGE,FLOAT", "FLOAT", True, False),
    ("FLOAT", "IMAGE,FLOAT", True, True),
    (Loose("FOO"), "BAR", False, True),
    (IO.IMAGE, "IMAGE", False, True),
    (IO.ANY, "LATENT", False, True),
    (IO.IMAGE_MASK, "MASK", False, True),
    (SmartType("IMAGE"), "IMAGE,MASK", True, True),
    (SmartType("IMAGE,MASK"), "LATENT", False, False),
])
def test_validate_node_input(received: Any, accepted: Any, strict: bool, expected: bool) -> None:
    assert validate_node_input(received, accepted, strict) is expected


def test_validate_node_input_asks_the_left_operand_first() -> None:
    class Spy(str):
        asked: list[object] = []

        def __ne__(self, other: object) -> bool:
            Spy.asked.append(other)
            return True

    assert validate_node_input(Spy("A"), "B") is False
    assert Spy.asked == ["B"]


# -- class checks and outputs (docs/execution.md §2.2 steps 1-3) ------------------------------------------------------

def test_unknown_class_is_invalid_prompt_even_when_unused() -> None:
    prompt = chain()
    prompt["7"] = {"class_type": "NoSuchNode", "inputs": {}}
    assert fail(prompt) == {"error": err("invalid_prompt", "Cannot execute because node NoSuchNode does not exist.",
                                         "Node ID '#7'"), "node_errors": {}}


def test_missing_class_type_is_invalid_prompt() -> None:
    prompt = chain()
    prompt["7"] = {"inputs": {}}
    assert fail(prompt)["error"] == err(
        "invalid_prompt", "Cannot execute because a node is missing the class_type property.", "Node ID '#7'")


@pytest.mark.parametrize("node", [0, 1.5, None, True, "x", "class_type", [], ["class_type"], [1, 2]])
def test_a_node_that_is_not_an_object_is_missing_its_class_type(node: Any) -> None:
    # ComfyUI answers this for a list or a string without "class_type"; for the others it crashes.
    prompt = chain()
    prompt["7"] = node
    assert fail(prompt) == {"error": err(
        "invalid_prompt", "Cannot execute because a node is missing the class_type property.", "Node ID '#7'"),
        "node_errors": {}}


@pytest.mark.parametrize(("class_type", "shown"), [([], "[]"), ({"a": 1}, "{'a': 1}"), (0, "0"), (None, "None")])
def test_a_class_type_that_names_no_class_is_unknown(class_type: Any, shown: str) -> None:
    prompt = chain()
    prompt["7"] = {"class_type": class_type, "inputs": {}}
    assert fail(prompt) == {"error": err("invalid_prompt", f"Cannot execute because node {shown} does not exist.",
                                         "Node ID '#7'"), "node_errors": {}}


def test_class_checks_stop_at_the_first_bad_node_in_dict_order() -> None:
    prompt = {"5": {"class_type": "Nope", "inputs": {}}, "4": {"inputs": {}}, **chain()}
    assert fail(prompt)["error"]["details"] == "Node ID '#5'"
    prompt = {"4": {"inputs": {}}, "5": {"class_type": "Nope", "inputs": {}}, **chain()}
    assert fail(prompt)["error"]["message"].endswith("missing the class_type property.")


def test_no_output_node() -> None:
    prompt = {"1": {"class_type": "Source", "inputs": {"value": 1}}}
    assert fail(prompt) == {"error": err("prompt_no_outputs", "Prompt has no outputs", ""), "node_errors": {}}
    assert fail({})["error"]["type"] == "prompt_no_outputs"


def test_output_node_must_be_identical_to_true() -> None:
    assert fail({"1": {"class_type": "TruthyOutput", "inputs": {}}})["error"]["type"] == "prompt_no_outputs"


@pytest.mark.parametrize("targets", [[], ["2"], ["42"]])
def test_targets_without_output_nodes_mean_no_outputs(targets: list[str]) -> None:
    assert fail(chain(), targets=targets)["error"]["type"] == "prompt_no_outputs"


def test_targets_select_outputs_and_pull_in_untargeted_output_dependencies() -> None:
    prompt = {
        "1": {"class_type": "Source", "inputs": {"value": 1}},
        "2": {"class_type": "PassOutput", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "v"}},
        "4": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "w"}},
    }
    assert ok(prompt, targets=["3"]).outputs == ["3"]
    assert sorted(ok(prompt).outputs) == ["2", "3", "4"]
    # The untargeted output node 2 is still validated as a dependency of 3.
    prompt["2"]["inputs"] = {}
    assert fail(prompt, targets=["3"]) == {"error": failed_outputs(), "node_errors": {
        "2": node_error("PassOutput", ["3"], MISSING_IMAGE)}}


# -- required inputs and links (docs/execution.md §2.3 steps 1-2) ----------------------------------------------------

def test_valid_chain() -> None:
    result = ok(chain())
    assert result == ValidationResult(outputs=["3"], node_errors={})


def test_missing_required_input_upstream_gives_empty_details() -> None:
    prompt = chain()
    prompt["2"]["inputs"] = {}
    assert fail(prompt) == {"error": failed_outputs(), "node_errors": {
        "2": node_error("Invert", ["3"], MISSING_IMAGE)}}


def test_missing_required_input_on_the_output_lists_its_own_errors_in_details() -> None:
    prompt = chain()
    del prompt["3"]["inputs"]["prefix"]
    assert fail(prompt) == {"error": failed_outputs("Required input is missing: prefix"), "node_errors": {
        "3": node_error("Sink", ["3"], err("required_input_missing", "Required input is missing", "prefix",
                                           input_name="prefix"))}}


def test_optional_input_may_be_absent() -> None:
    assert ok(widgets()).outputs == ["9"]


@pytest.mark.parametrize("link", [["1"], ["1", 0, 0], []])
def test_bad_linked_input(link: list[Any]) -> None:
    prompt = chain()
    prompt["2"]["inputs"]["image"] = link
    assert fail(prompt)["node_errors"] == {"2": node_error("Invert", ["3"], err(
        "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", "image",
        input_name="image", input_config=["IMAGE", {}], received_value=link))}


def test_return_type_mismatch() -> None:
    prompt = {"1": {"class_type": "LatentSource", "inputs": {}},
              "3": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "v"}}}
    details = "images, received_type(LATENT) mismatch input_type(IMAGE)"
    assert fail(prompt) == {
        "error": failed_outputs(f"Return type mismatch between linked nodes: {details}"),
        "node_errors": {"3": node_error("Sink", ["3"], err(
            "return_type_mismatch", "Return type mismatch between linked nodes", details, input_name="images",
            input_config=["IMAGE", {"tooltip": "The images to save."}], received_type="LATENT",
            linked_node=["1", 0]))}}


def test_mismatched_source_is_not_validated() -> None:
    prompt = {"1": {"class_type": "LatentSource", "inputs": {}},
              "2": {"class_type": "Invert", "inputs": {"image": ["1", 0]}},
              "5": {"class_type": "Invert", "inputs": {}},
              "3": {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "v"}}}
    assert list(fail(prompt)["node_errors"]) == ["2"]


def test_invalid_upstream_makes_downstream_invalid_without_errors_of_its_own() -> None:
    out = fail(chain(source_value=11))
    assert list(out["node_errors"]) == ["1"]
    assert out["error"]["details"] == ""


def test_undeclared_linked_inputs_are_neither_type_checked_nor_validated() -> None:
    # QUIRK(docs/execution.md §1.4): only declared inputs are validated.
    prompt = {
        "1": {"class_type": "Source", "inputs": {"value": 1}},
        "2": {"class_type": "Invert", "inputs": {}},  # invalid, but only linked through input2
        "4": {"class_type": "LatentSource", "inputs": {}},
        "3": {"class_type": "Variadic", "inputs": {"input1": ["1", 0], "input2": ["2", 0], "input3": ["99", 0],
                                                     "input4": ["4", 0], "input5": [1, 2, 3]}},
    }
    assert ok(prompt) == ValidationResult(outputs=["3"], node_errors={})


def test_link_to_missing_node_is_recorded_on_the_node_holding_it() -> None:
    prompt = chain()
    prompt["2"]["inputs"]["image"] = ["99", 0]
    out = fail(prompt)
    assert out == {"error": failed_outputs(), "node_errors": {"2": node_error("Invert", ["3"], err(
        "exception_during_inner_validation", "Exception when validating inner node", "'99'",
        input_name="images", input_config=["IMAGE", {"tooltip": "The images to save."}], exception_message="'99'",
        exception_type="KeyError", traceback=[], linked_node=["2", 0]))}}


def test_link_to_missing_output_slot_is_recorded_on_the_node_holding_it() -> None:
    prompt = chain()
    prompt["2"]["inputs"]["image"] = ["1", 5]
    error = fail(prompt)["node_errors"]["2"]["errors"][0]
    assert (error["type"], error["details"], error["extra_info"]["exception_type"]) == (
        "exception_during_inner_validation", "tuple index out of range", "IndexError")


def test_exception_on_the_output_node_itself() -> None:
    prompt = chain()
    prompt["3"]["inputs"]["images"] = ["99", 0]
    assert fail(prompt) == {"error": failed_outputs("Exception when validating node: '99'"), "node_errors": {
        "3": node_error("Sink", ["3"], err("exception_during_validation", "Exception when validating node", "'99'",
                                           exception_type="KeyError", traceback=[]))}}


def test_node_without_inputs_key() -> None:
    out = fail({"3": {"class_type": "Sink"}})
    assert out["error"]["details"] == "Exception when validating node: 'inputs'"
    prompt = chain()
    del prompt["2"]["inputs"]
    error = fail(prompt)["node_errors"]["2"]["errors"][0]
    assert (error["type"], error["details"], error["extra_info"]["input_name"]) == (
        "exception_during_inner_validation", "'inputs'", "images")


def test_exception_type_names_carry_their_module() -> None:
    def validator(cls: type, image: Any) -> bool:
        raise Boom("no")

    node = recording("Exploder", {"required": {"image": ("IMAGE",)}}, classmethod(validator), output=False)
    prompt = chain()
    prompt["2"]["class_type"] = "Exploder"
    error = fail(prompt, registry(("Exploder", node)))["node_errors"]["2"]["errors"][0]
    assert error["extra_info"]["exception_type"] == f"{__name__}.Boom"
    assert error["details"] == "no"


# -- constants (docs/execution.md §2.3 step 3) ------------------------------------------------------------------------

def test_coercion_rewrites_the_prompt() -> None:
    prompt = widgets(i="8", f="0.25", s=5, b="false", union=5, anything="7")
    prompt["9"]["inputs"]["i"] = 3.9
    assert ok(prompt).outputs == ["9"]
    inputs = prompt["9"]["inputs"]
    assert inputs == {"i": 3, "f": 0.25, "s": "5", "b": True, "union": 5, "anything": "7"}
    assert type(inputs["i"]) is int and type(inputs["union"]) is int


def test_int_string_coerced() -> None:
    prompt = widgets(i="8")
    ok(prompt)
    assert prompt["9"]["inputs"]["i"] == 8


def test_value_wrapper_is_unwrapped_and_written_back() -> None:
    prompt = widgets(legacy={"__value__": "a"}, listy={"__value__": [1, 2]})
    ok(prompt)
    assert prompt["9"]["inputs"]["legacy"] == "a"
    assert prompt["9"]["inputs"]["listy"] == [1, 2]


def test_invalid_input_type() -> None:
    out = fail(widgets(i="abc"))
    assert out["node_errors"]["9"]["errors"] == [err(
        "invalid_input_type", "Failed to convert an input value to a INT value",
        "i, abc, invalid literal for int() with base 10: 'abc'", input_name="i",
        input_config=["INT", {"default": 0, "min": 0, "max": 10}], received_value="abc",
        exception_message="invalid literal for int() with base 10: 'abc'")]
    assert out["error"]["details"] == ("Failed to convert an input value to a INT value: "
                                      "i, abc, invalid literal for int() with base 10: 'abc'")


def test_min_and_max() -> None:
    errors = fail(widgets(i=-1, f=1.5))["node_errors"]["9"]["errors"]
    assert errors == [
        err("value_smaller_than_min", "Value -1 smaller than min of 0", "i", input_name="i",
            input_config=["INT", {"default": 0, "min": 0, "max": 10}], received_value=-1),
        err("value_bigger_than_max", "Value 1.5 bigger than max of 1.0", "f", input_name="f",
            input_config=["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}], received_value=1.5),
    ]


def test_min_applies_to_uncoerced_union_types() -> None:
    error = fail(widgets(union=-1))["node_errors"]["9"]["errors"][0]
    assert error["type"] == "value_smaller_than_min"


def test_combo_checks() -> None:
    errors = fail(widgets(legacy="z", combo="z", combo_empty="x", big="nope"))["node_errors"]["9"]["errors"]
    assert errors == [
        err("value_not_in_list", "Value not in list", "legacy: 'z' not in ['a', 'b']", input_name="legacy",
            input_config=[["a", "b"], {}], received_value="z"),
        err("value_not_in_list", "Value not in list", "combo: 'z' not in ['x', 'y']", input_name="combo",
            input_config=["COMBO", {"options": ["x", "y"]}], received_value="z"),
        err("value_not_in_list", "Value not in list", "combo_empty: 'x' not in []", input_name="combo_empty",
            input_config=["COMBO", {}], received_value="x"),
        err("value_not_in_list", "Value not in list", "big: 'nope' not in (list of length 25)", input_name="big",
            input_config=None, received_value="nope"),
    ]
    assert ok(widgets(legacy="b", combo="y", big="opt24")).outputs == ["9"]


# -- VALIDATE_INPUTS (docs/execution.md §1.7, §2.3 step 4) -----------------------------------------------------------

def ranged_prompt(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {
        "1": {"class_type": "Source", "inputs": {"value": 1}},
        "2": {"class_type": class_type, "inputs": {"image": ["1", 0], "a": 1, "b": 1, **inputs}},
    }


def test_validator_receives_named_inputs_links_as_none_and_hidden_values() -> None:
    def validator(cls: type, image: Any, a: Any, prompt: Any, dynprompt: Any, unique_id: Any, extra_pnginfo: Any,
                  loop_value: Any = "unset") -> bool:
        ctx = get_executing_context()
        cls.calls.append({"image": image, "a": a, "prompt": prompt, "dynprompt": dynprompt, "unique_id": unique_id,
                          "extra_pnginfo": extra_pnginfo, "loop_value": loop_value,
                          "ctx": (ctx.prompt_id, ctx.node_id, ctx.list_index) if ctx else None})
        return True

    node = recording("Named", RANGED, classmethod(validator))
    validate_prompt(ranged_prompt("Named", a="4", loop_value=7), registry(("Named", node)), prompt_id="p-1")
    assert node.calls == [{"image": None, "a": 4, "prompt": {}, "dynprompt": None, "unique_id": "2",
                           "extra_pnginfo": None, "loop_value": 7, "ctx": ("p-1", "2", 0)}]


def test_named_inputs_skip_range_and_combo_checks_but_not_coercion() -> None:
    def validator(cls: type, a: Any = None, c: Any = None) -> bool:
        cls.calls.append({"a": a, "c": c})
        return True

    node = recording("Skips", RANGED, classmethod(validator))
    reg = registry(("Skips", node))
    prompt = ranged_prompt("Skips", a="99", c="zzz")
    ok(prompt, reg)
    assert node.calls == [{"a": 99, "c": "zzz"}]
    # b is not named: its range check still runs; the required check still runs for all.
    prompt = ranged_prompt("Skips", b=99, c="p")
    del prompt["2"]["inputs"]["a"]
    errors = fail(prompt, reg)["node_errors"]["2"]["errors"]
    assert [e["type"] for e in errors] == ["required_input_missing", "value_bigger_than_max"]
    assert fail(ranged_prompt("Skips", a="x"), reg)["node_errors"]["2"]["errors"][0]["type"] == "invalid_input_type"


def test_kwargs_validator_skips_every_range_check_and_gets_everything() -> None:
    def validator(cls: type, **kwargs: Any) -> bool:
        cls.calls.append(kwargs)
        return True

    node = recording("Kw", RANGED, classmethod(validator))
    prompt = ranged_prompt("Kw", a=99, b=-5, c="nope", extra=["1", 0], dropped=3)
    ok(prompt, registry(("Kw", node)))
    assert node.calls == [{"image": None, "a": 99, "b": -5, "c": "nope", "extra": None, "prompt": {},
                           "dynprompt": None, "unique_id": "2", "extra_pnginfo": None}]


def test_validator_failures_one_error_per_passed_argument() -> None:
    def validator(cls: type, a: Any, b: Any) -> Any:
        return cls.result

    node = recording("Fails", RANGED, classmethod(validator), result=False)
    reg = registry(("Fails", node))
    out = fail(ranged_prompt("Fails"), reg)
    custom = "Custom validation failed for node"
    assert out == {"error": failed_outputs(f"{custom}: a\n{custom}: b"), "node_errors": {"2": node_error(
        "Fails", ["2"], err("custom_validation_failed", custom, "a", input_name="a"),
        err("custom_validation_failed", custom, "b", input_name="b"))}}
    node.result = "too big"
    assert [e["details"] for e in fail(ranged_prompt("Fails"), reg)["node_errors"]["2"]["errors"]] == [
        "a - too big", "b - too big"]
    node.result = None
    assert fail(ranged_prompt("Fails"), reg)["node_errors"]["2"]["errors"][0]["details"] == "a - None"
    node.result = ExecutionBlocker("blocked")
    assert ok(ranged_prompt("Fails"), reg).outputs == ["2"]


def test_validator_failure_ignored_when_no_argument_is_passed() -> None:
    # QUIRK(docs/execution.md §1.7): `cls` alone is an argument name, so the validator runs, with nothing.
    def validator(cls: type, not_an_input: Any = None) -> bool:
        cls.calls.append({})
        return False

    node = recording("Ignored", RANGED, classmethod(validator))
    assert ok(ranged_prompt("Ignored"), registry(("Ignored", node))).outputs == ["2"]
    assert node.calls == [{}]


def test_validator_with_only_hidden_arguments_still_fails() -> None:
    def validator(cls: type, unique_id: Any) -> str:
        return f"bad {unique_id}"

    node = recording("HiddenOnly", RANGED, classmethod(validator))
    error = fail(ranged_prompt("HiddenOnly"), registry(("HiddenOnly", node)))["node_errors"]["2"]["errors"]
    assert error == [err("custom_validation_failed", "Custom validation failed for node", "unique_id - bad 2",
                         input_name="unique_id")]


def test_input_types_turns_off_link_type_matching() -> None:
    def validator(cls: type, input_types: Any) -> Any:
        cls.calls.append(input_types)
        return cls.result

    node = recording("Typed", {"required": {"image": ("IMAGE",), "n": ("INT", {"max": 3})}}, classmethod(validator))
    reg = registry(("Typed", node))
    prompt = {"1": {"class_type": "LatentSource", "inputs": {}},
              "2": {"class_type": "Typed", "inputs": {"image": ["1", 0], "n": 1}}}
    assert ok(prompt, reg).outputs == ["2"]
    assert node.calls == [{"image": "LATENT"}]
    # input_types is a passed argument too, so a failure reports it.
    node.result = False
    assert [e["details"] for e in fail(prompt, reg)["node_errors"]["2"]["errors"]] == ["input_types"]


def test_variant_support_plain_function_called_unbound() -> None:
    def validate_inputs(input_types: Any) -> Any:
        seen.append(input_types)
        if input_types["image"] == "LATENT":
            return "Invalid input type"
        return True

    seen: list[Any] = []
    node = recording("Variant", {"required": {"image": ("IMAGE",)}}, validate_inputs)
    prompt = {"1": {"class_type": "LatentSource", "inputs": {}},
              "2": {"class_type": "Variant", "inputs": {"image": ["1", 0]}}}
    out = fail(prompt, registry(("Variant", node)))
    assert out["node_errors"]["2"]["errors"][0]["details"] == "input_types - Invalid input type"
    assert seen == [{"image": "LATENT"}]


def test_async_validator() -> None:
    async def validator(cls: type, a: Any) -> Any:
        await asyncio.sleep(0)
        ctx = get_executing_context()
        cls.calls.append({"a": a, "node": ctx.node_id if ctx else None})
        return True if a < 3 else "async says no"

    node = recording("Async", RANGED, classmethod(validator))
    reg = registry(("Async", node))
    assert ok(ranged_prompt("Async", a=2), reg).outputs == ["2"]
    out = fail(ranged_prompt("Async", a=4), reg)
    assert out["error"]["details"] == "Custom validation failed for node: a - async says no"
    assert node.calls == [{"a": 2, "node": "2"}, {"a": 4, "node": "2"}]


def test_async_validator_from_a_running_event_loop() -> None:
    async def validator(cls: type, a: Any) -> Any:
        await asyncio.sleep(0)
        return a < 3

    node = recording("AsyncInLoop", RANGED, classmethod(validator))

    async def submit() -> Any:
        return validate_prompt(ranged_prompt("AsyncInLoop", a=2), registry(("AsyncInLoop", node)))

    assert asyncio.run(submit()).outputs == ["2"]


def test_input_is_list_validator_gets_whole_lists() -> None:
    def validator(cls: type, a: Any, image: Any, input_types: Any) -> bool:
        cls.calls.append({"a": a, "image": image, "input_types": input_types})
        return True

    node = recording("Lists", RANGED, classmethod(validator), INPUT_IS_LIST=True)
    ok(ranged_prompt("Lists"), registry(("Lists", node)))
    assert node.calls == [{"a": [1], "image": (None,), "input_types": [{"image": "IMAGE"}]}]


def test_validator_exception_on_an_upstream_node_is_an_inner_exception() -> None:
    def validator(cls: type, a: Any) -> bool:
        raise Boom("kaput")

    node = recording("Raises", RANGED, classmethod(validator), output=False)
    reg = registry(("Raises", node))
    prompt = ranged_prompt("Raises")
    prompt["3"] = {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "p"}}
    out = fail(prompt, reg)
    assert out["node_errors"]["2"]["errors"][0]["type"] == "exception_during_inner_validation"
    assert out["node_errors"]["2"]["errors"][0]["extra_info"]["linked_node"] == ["2", 0]
    assert out["error"]["details"] == ""


# -- several outputs (docs/execution.md §2.2 steps 4-5) ---------------------------------------------------------------

def test_one_good_output_is_enough() -> None:
    prompt = chain()
    prompt["4"] = {"class_type": "Sink", "inputs": {"images": ["1", 0]}}
    result = ok(prompt)
    assert result.outputs == ["3"]
    assert wire(result.node_errors) == {"4": node_error("Sink", ["4"], err(
        "required_input_missing", "Required input is missing", "prefix", input_name="prefix"))}


def test_memo_scan_lists_outputs_that_do_not_depend_on_the_node() -> None:
    # QUIRK(docs/execution.md §2.2 step 4): every failing output is appended to every errored memo entry.
    prompt = {
        "1": {"class_type": "Invert", "inputs": {}},
        "2": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "a"}},
        "3": {"class_type": "Sink", "inputs": {"prefix": "b"}},
    }
    out = fail(prompt)
    assert out["node_errors"]["1"]["dependent_outputs"] == ["2", "3"]
    assert out["node_errors"]["3"]["dependent_outputs"] == ["3"]
    assert out["error"]["details"] == "Required input is missing: images"


def test_shared_memo_validates_each_node_once() -> None:
    def validator(cls: type, a: Any) -> bool:
        cls.calls.append(a)
        return True

    node = recording("Once", RANGED, classmethod(validator), output=False)
    prompt = ranged_prompt("Once")
    for out_id in ("3", "4", "5"):
        prompt[out_id] = {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": out_id}}
    assert sorted(ok(prompt, registry(("Once", node))).outputs) == ["3", "4", "5"]
    assert node.calls == [1]


def test_input_types_called_once_per_class() -> None:
    calls = []

    class Counted(Invert):
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            calls.append(1)
            return {"required": {"image": ("IMAGE",)}}

    prompt: dict[str, Any] = {"0": {"class_type": "Source", "inputs": {"value": 1}}}
    for i in range(1, 50):
        prompt[str(i)] = {"class_type": "Counted", "inputs": {"image": [str(i - 1), 0]}}
    prompt["out"] = {"class_type": "Sink", "inputs": {"images": ["49", 0], "prefix": "p"}}
    ok(prompt, registry(("Counted", Counted)))
    assert len(calls) == 1


# -- cycles and depth --------------------------------------------------------------------------------------------

def test_static_cycle() -> None:
    prompt = {"1": {"class_type": "Invert", "inputs": {"image": ["2", 0]}},
              "2": {"class_type": "Invert", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "v"}}}
    assert fail(prompt) == {"error": failed_outputs(""), "node_errors": {}}


def test_self_loop_and_cycle_through_the_output() -> None:
    prompt = {"1": {"class_type": "Invert", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "v"}}}
    assert fail(prompt) == {"error": failed_outputs(""), "node_errors": {}}
    prompt = {"1": {"class_type": "PassOutput", "inputs": {"image": ["2", 0]}},
              "2": {"class_type": "PassOutput", "inputs": {"image": ["1", 0]}}}
    assert fail(prompt) == {"error": failed_outputs(""), "node_errors": {}}


def test_cycle_nodes_keep_their_own_errors() -> None:
    def validator(cls: type, a: Any) -> Any:
        return a < 3 or "too big"

    node = recording("CycleNode", RANGED, classmethod(validator), output=False)
    prompt = {"1": {"class_type": "CycleNode", "inputs": {"image": ["2", 0], "a": 5, "b": 1}},
              "2": {"class_type": "CycleNode", "inputs": {"image": ["1", 0], "a": 1, "b": 1}},
              "3": {"class_type": "Sink", "inputs": {"images": ["2", 0], "prefix": "v"}}}
    out = fail(prompt, registry(("CycleNode", node)))
    assert out == {"error": failed_outputs(""), "node_errors": {"1": node_error("CycleNode", ["3"], err(
        "custom_validation_failed", "Custom validation failed for node", "a - too big", input_name="a"))}}


def deep_chain(length: int) -> dict[str, Any]:
    prompt: dict[str, Any] = {"0": {"class_type": "Source", "inputs": {"value": 1}}}
    for i in range(1, length):
        prompt[str(i)] = {"class_type": "Invert", "inputs": {"image": [str(i - 1), 0]}}
    prompt["out"] = {"class_type": "Sink", "inputs": {"images": [str(length - 1), 0], "prefix": "p"}}
    return prompt


def test_deep_chain_validates_without_recursion() -> None:
    prompt = deep_chain(5000)
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(depth + 100)  # prove the walk does not recurse per node
        assert ok(prompt).outputs == ["out"]
        prompt["0"]["inputs"]["value"] = 99
        out = fail(prompt)
    finally:
        sys.setrecursionlimit(limit)
    assert list(out["node_errors"]) == ["0"]
    assert out["node_errors"]["0"]["dependent_outputs"] == ["out"]


# -- malformed prompts (ComfyUI answers 500) --------------------------------------------------------------------

@pytest.mark.parametrize("prompt", [[1, 2, 3], "hello", None])
def test_malformed_prompts_raise_plain_errors(prompt: Any) -> None:
    with pytest.raises(TypeError):
        validate_prompt(prompt, registry())


# -- the recorded ComfyUI responses ------------------------------------------------------------------------------

def _vector_cases() -> list[dict[str, Any]]:
    cases = load("validation_errors.json")["cases"]
    return [c for c in cases if c["response"]["status"] in (200, 400)
            and isinstance(c.get("request_body"), dict) and isinstance(c["request_body"].get("prompt"), dict)]


@pytest.fixture(scope="module")
def builtin_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRegistry]:
    try:
        from toucan_nb.nodes import register_builtin_nodes  # type: ignore[attr-defined]
    except ImportError as exc:
        pytest.skip(f"toucan_nb.nodes.register_builtin_nodes is not importable yet: {exc}")
    from toucan_nb.runtime import folders

    base = tmp_path_factory.mktemp("comfy")
    previous = folders.active()
    box = folders.Folders(str(base))
    box.ensure_dirs()
    folders.set_active(box)
    reg = NodeRegistry()
    register_builtin_nodes(reg)
    yield reg
    folders.set_active(previous)


@pytest.mark.parametrize("case", _vector_cases(), ids=lambda c: c["case"])
def test_recorded_comfyui_response(case: dict[str, Any], builtin_registry: NodeRegistry) -> None:
    body = case["request_body"]
    expected = case["response"]["body"]
    prompt = copy.deepcopy(body["prompt"])
    targets = body.get("partial_execution_targets")
    if case["response"]["status"] == 400:
        assert fail(prompt, builtin_registry, targets) == wire(expected)
    else:
        result = ok(prompt, builtin_registry, targets)
        assert wire({"node_errors": result.node_errors}) == wire({"node_errors": expected["node_errors"]})
        assert result.outputs
