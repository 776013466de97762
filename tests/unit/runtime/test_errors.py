"""What a user reads from the runtime's errors: `str()` of PromptValidationError and
NodeExecutionError names each failing node, input and reason; the wire attributes stay as they are."""

from __future__ import annotations

import os
import traceback
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime import errors
from toucan_nb.runtime.errors import NodeExecutionError, PromptValidationError, node_frames
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.validation import validate_prompt

CASES = {case["case"]: case["response"]["body"] for case in load("validation_errors.json")["cases"]
         if case["response"]["status"] == 400 and isinstance(case["response"].get("body"), dict)}


def from_vector(name: str) -> PromptValidationError:
    body = CASES[name]
    return PromptValidationError(body["error"], body["node_errors"])


# -- PromptValidationError, on the bodies recorded from ComfyUI ----------------------------------------------

@pytest.mark.parametrize(("case", "lines"), [
    ("value_below_min", ["EmptyImage (node 1): width: Value 0 smaller than min of 1"]),
    ("value_above_max", ["EmptyImage (node 1): width: Value 20000 bigger than max of 16384"]),
    ("missing_required_input", ["ImageInvert (node 2): image: Required input is missing"]),
    ("combo_value_not_in_list_classic", [
        "ImageScale (node 2): upscale_method: Value not in list: "
        "'bogus' not in ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"]),
    ("invalid_int_value", ["EmptyImage (node 1): width: Failed to convert an input value to a INT value: "
                           "abc, invalid literal for int() with base 10: 'abc'"]),
    ("wrong_type_link", ["SaveImage (node 3): images: Return type mismatch between linked nodes: "
                         "received_type(LATENT) mismatch input_type(IMAGE)"]),
    ("loadimage_missing_file", ["LoadImage (node 1): image: Custom validation failed for node: "
                                "Invalid image file: nope.png"]),
    ("bad_linked_input_len1", ["ImageInvert (node 2): image: Bad linked input, must be a length-2 list of "
                               "[node_id, slot_index]"]),
    ("link_to_missing_node_from_output_node", ["SaveImage (node 3): Exception when validating node: KeyError: '99'"]),
    ("link_to_nonexistent_output_index", ["ImageInvert (node 2): images: Exception when validating inner node: "
                                          "IndexError: tuple index out of range"]),
])
def test_failed_outputs_list_each_node_input_and_reason(case: str, lines: list[str]) -> None:
    assert str(from_vector(case)).splitlines() == ["Prompt outputs failed validation", *lines]


@pytest.mark.parametrize(("case", "text"), [
    ("unknown_class_type", "Cannot execute because node NoSuchNode does not exist: Node ID '#2'"),
    ("missing_class_type", "Cannot execute because a node is missing the class_type property: Node ID '#2'"),
    ("no_output_node", "Prompt has no outputs"),
    ("no_prompt_key", "No prompt provided"),
])
def test_prompt_level_errors_are_one_line_with_their_details(case: str, text: str) -> None:
    assert str(from_vector(case)) == text


def test_the_wire_attributes_are_untouched() -> None:
    exc = from_vector("value_below_min")
    assert exc.error == CASES["value_below_min"]["error"]
    assert exc.node_errors == CASES["value_below_min"]["node_errors"]
    assert exc.args == ("Prompt outputs failed validation",)


class Sized:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"width": ("INT", {"min": 1, "max": 64}), "height": ("INT", {"min": 1, "max": 64}),
                             "mode": (["a", "b"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    OUTPUT_NODE = True


def test_every_failing_input_of_every_node_gets_its_line() -> None:
    registry = NodeRegistry()
    registry.register("Sized", Sized)
    prompt = {"1": {"class_type": "Sized", "inputs": {"width": -5, "height": 100, "mode": "c"}},
              "2": {"class_type": "Sized", "inputs": {"width": 8, "height": 8}}}
    with pytest.raises(PromptValidationError) as info:
        validate_prompt(prompt, registry)
    assert str(info.value).splitlines() == [
        "Prompt outputs failed validation",
        "Sized (node 1): width: Value -5 smaller than min of 1",
        "Sized (node 1): height: Value 100 bigger than max of 64",
        "Sized (node 1): mode: Value not in list: 'c' not in ['a', 'b']",
        "Sized (node 2): mode: Required input is missing",
    ]


# -- NodeExecutionError ------------------------------------------------------------------------------------

def runtime_frame(name: str) -> str:
    path = os.path.join(os.path.dirname(errors.__file__), name)
    return f'  File "{path}", line 10, in run\n    call()\n'


def node_code(depth: int) -> None:
    if depth:
        node_code(depth - 1)
    raise ValueError("width must be positive")


def formatted_tb(depth: int) -> list[str]:
    try:
        node_code(depth)
    except ValueError as exc:
        return traceback.format_tb(exc.__traceback__)
    raise AssertionError("unreachable")


def test_execution_error_names_the_node_the_exception_and_the_node_frames() -> None:
    own = formatted_tb(0)[1:]  # the node function's frame (not this test's call into it)
    exc = NodeExecutionError("7", "width must be positive\n", "ValueError",
                             [runtime_frame("executor.py"), runtime_frame("invoke.py"), *own], {"width": [-5]},
                             node_type="EmptyImage")
    text = str(exc)
    lines = text.splitlines()
    assert lines[:2] == ["EmptyImage (node 7): ValueError: width must be positive",
                         "Traceback of the node (most recent call last):"]
    assert "in node_code" in lines[2] and lines[3].strip() == 'raise ValueError("width must be positive")'
    assert "executor.py" not in text and "invoke.py" not in text
    assert (exc.node_id, exc.exception_type, exc.current_inputs) == ("7", "ValueError", {"width": [-5]})
    assert exc.exception_message == "width must be positive\n"


def test_only_the_last_node_frames_are_shown() -> None:
    tb = [runtime_frame("executor.py"), *formatted_tb(20)]
    frames = node_frames(tb)
    assert len(frames) == 6 and frames == tb[-6:]


def test_a_failure_inside_the_runtime_still_shows_where() -> None:
    tb = [runtime_frame("executor.py"), runtime_frame("caches.py")]
    assert node_frames(tb) == tb
    text = str(NodeExecutionError("3", "boom", "KeyError", tb, {}, node_type="X"))
    assert text.startswith("X (node 3): KeyError: boom\nTraceback of the node") and "caches.py" in text


def test_without_node_or_traceback_the_message_stands_alone() -> None:
    assert str(NodeExecutionError("", "prompt p failed", "", [], {})) == "prompt p failed"
    assert str(NodeExecutionError("4", "gone", "KernelStopped", [], {})) == "Node 4: KernelStopped: gone"
