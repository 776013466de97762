"""V3 schema classes in the executor, validation and cache keys (docs/execution.md §1.9, toucan_nb.runtime.v3).

The classes are written against toucan_nb.compat.v3 (`io`, `ui`) imported directly, without the
ComfyUI aliases; one class implements the contract by hand, so the runtime's detection is shown to
rest on the contract's names, as it must for the classes of a real ComfyUI checkout.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
import torch

from toucan_nb.compat.v3 import io, ui
from toucan_nb.runtime import events as ev
from toucan_nb.runtime import folders, v3
from toucan_nb.runtime.errors import PromptValidationError
from toucan_nb.runtime.executor import PromptExecutor
from toucan_nb.runtime.graph_utils import ExecutionBlocker, GraphBuilder
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.validation import validate_prompt

from .executor_nodes import Const, Output

CACHE_MODES = [("classic", 0), ("lru", 100), ("none", 0)]
SEEN: list[Any] = []  # what the nodes below observed, in call order


# -- node classes ------------------------------------------------------------------------------------

class Number(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Number", inputs=[io.Float.Input("value", min=-10.0, max=10.0)],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        SEEN.append(("Number", value))
        return io.NodeOutput(value)


class Hidden(io.ComfyNode):
    """Records its hidden values and class; tries to write to its class."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Hidden", inputs=[io.Float.Input("value")], outputs=[io.Float.Output()],
                         hidden=[io.Hidden.unique_id, io.Hidden.prompt, io.Hidden.extra_pnginfo, io.Hidden.dynprompt,
                                 io.Hidden.auth_token_comfy_org])

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        try:
            cls.leak = value
            locked = False
        except AttributeError:
            locked = True
        h = cls.hidden
        SEEN.append({"cls": cls, "value": value, "unique_id": h.unique_id, "prompt": h.prompt,
                     "extra_pnginfo": h.extra_pnginfo, "dynprompt": h.dynprompt, "auth": h.auth_token_comfy_org,
                     "api_key": h.api_key_comfy_org, "locked": locked})
        return io.NodeOutput(value)


class Checked(io.ComfyNode):
    """validate_inputs on one input; the other keeps its min/max check."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Checked", hidden=[io.Hidden.unique_id, io.Hidden.prompt],
                         inputs=[io.Int.Input("a", min=0, max=5), io.Int.Input("b", min=0, max=5)],
                         outputs=[io.Int.Output()])

    @classmethod
    def validate_inputs(cls, a: int) -> bool | str:
        SEEN.append(("validate", a, cls.hidden.unique_id, cls.hidden.prompt))
        return True if a % 2 == 0 else f"a must be even, not {a}"

    @classmethod
    def execute(cls, a: int, b: int) -> io.NodeOutput:
        return io.NodeOutput(a + b)


class Fingerprinted(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Fingerprinted", hidden=[io.Hidden.unique_id],
                         inputs=[io.Float.Input("value"), io.String.Input("stamp")], outputs=[io.Float.Output()])

    @classmethod
    def fingerprint_inputs(cls, value: Any, stamp: str) -> Any:
        SEEN.append(("fingerprint", value, stamp, cls.hidden.unique_id))
        if stamp == "fail":
            raise RuntimeError("no fingerprint")
        return stamp

    @classmethod
    def execute(cls, value: float, stamp: str) -> io.NodeOutput:
        SEEN.append(("Fingerprinted", value))
        return io.NodeOutput(value)


class Switch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        template = io.MatchType.Template("switch")
        return io.Schema(node_id="V3Switch", hidden=[io.Hidden.unique_id],
                         inputs=[io.Boolean.Input("switch"),
                                 io.MatchType.Input("on_false", template=template, lazy=True),
                                 io.MatchType.Input("on_true", template=template, lazy=True)],
                         outputs=[io.MatchType.Output(template=template, display_name="output")])

    @classmethod
    def check_lazy_status(cls, switch: bool, on_false: Any = None, on_true: Any = None) -> list[str]:
        SEEN.append(("lazy", cls.hidden.unique_id, on_false, on_true))
        name = "on_true" if switch else "on_false"
        return [name] if (on_true if switch else on_false) is None else []

    @classmethod
    def execute(cls, switch: bool, on_true: Any = None, on_false: Any = None) -> io.NodeOutput:
        return io.NodeOutput(on_true if switch else on_false)


class Spread(io.ComfyNode):
    """One value -> a list of `count` values."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Spread", inputs=[io.Float.Input("value"), io.Int.Input("count", min=1, max=9)],
                         outputs=[io.Float.Output(is_output_list=True)])

    @classmethod
    def execute(cls, value: float, count: int) -> io.NodeOutput:
        return io.NodeOutput([value + i for i in range(count)])


class Gather(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Gather", is_input_list=True, inputs=[io.Float.Input("values")],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, values: list[float]) -> io.NodeOutput:
        SEEN.append(("Gather", list(values)))
        return io.NodeOutput(sum(values))


class AsyncDouble(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3AsyncDouble", hidden=[io.Hidden.unique_id], inputs=[io.Float.Input("value")],
                         outputs=[io.Float.Output()])

    @classmethod
    async def execute(cls, value: float) -> io.NodeOutput:
        await asyncio.sleep(0.01)
        SEEN.append(("AsyncDouble", cls.hidden.unique_id))
        return io.NodeOutput(value * 2)


class Expand(io.ComfyNode):
    """Expands into `Number -> AsyncDouble`."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Expand", enable_expand=True, inputs=[io.Float.Input("value")],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        graph = GraphBuilder()
        number = graph.node("V3Number", value=value)
        doubled = graph.node("V3AsyncDouble", value=number.out(0))
        return io.NodeOutput(doubled.out(0), expand=graph.finalize())


class NotExpandable(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3NotExpandable", inputs=[io.Float.Input("value")], outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        graph = GraphBuilder()
        return io.NodeOutput(graph.node("V3Number", value=value).out(0), expand=graph.finalize())


class Returns(io.ComfyNode):
    """Returns each form `execute` may return, by `form`."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Returns", inputs=[io.String.Input("form")], outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, form: str) -> Any:
        if form == "tuple":
            return (1.5,)
        if form == "dict":
            return {"result": (2.5,), "ui": {"text": ["from a dict"]}}
        if form == "none":
            return None
        if form == "blocker":
            return ExecutionBlocker("returned blocker")
        if form == "blocked":
            return io.NodeOutput(3.5, block_execution="blocked output")
        if form == "list":
            return [1.0]
        return io.NodeOutput(0.5, ui=ui.PreviewText("node output"))


class Batch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        template = io.Autogrow.TemplatePrefix(io.Float.Input("value"), prefix="value", min=2, max=5)
        return io.Schema(node_id="V3Batch", inputs=[io.Autogrow.Input("values", template=template)],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, values: dict[str, float]) -> io.NodeOutput:
        SEEN.append(("Batch", dict(values)))
        return io.NodeOutput(sum(values.values()))


class Mode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Mode", inputs=[io.DynamicCombo.Input("mode", options=[
            io.DynamicCombo.Option("scale", [io.Float.Input("factor", min=0.0, max=4.0)]),
            io.DynamicCombo.Option("offset", [io.Float.Input("amount"), io.Float.Input("extra", optional=True)]),
        ]), io.Float.Input("value")], outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, mode: dict[str, Any], value: float) -> io.NodeOutput:
        SEEN.append(("Mode", mode))
        if mode["mode"] == "scale":
            return io.NodeOutput(value * mode["factor"])
        return io.NodeOutput(value + mode["amount"])


class Unique(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Unique", not_idempotent=True, inputs=[io.Float.Input("value")],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        SEEN.append("Unique")
        return io.NodeOutput(value)


class Preview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3Preview", inputs=[io.Float.Input("value", force_input=True)],
                         is_output_node=True)

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        image = torch.full((1, 4, 6, 3), value)
        return io.NodeOutput(ui=ui.PreviewImage(image, cls=cls))


class HandWritten:
    """The V3 contract implemented without toucan_nb.compat: detection must not depend on a base class."""

    hidden: Any = None

    @classmethod
    def GET_BASE_CLASS(cls) -> type:  # noqa: N802
        return HandWritten

    @classmethod
    def VALIDATE_CLASS(cls) -> None:  # noqa: N802
        SEEN.append("VALIDATE_CLASS")

    @classmethod
    def GET_SCHEMA(cls) -> Any:  # noqa: N802
        return None

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict[str, Any]:  # noqa: N802
        return {"name": "HandWritten", "python_module": "somewhere"}

    @classmethod
    def PREPARE_CLASS_CLONE(cls, v3_data: Any) -> type:  # noqa: N802
        clone = type("HandWrittenClone", (cls,), {})
        clone.hidden = dict(v3_data["hidden_inputs"])
        return clone

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802
        return {"required": {"value": ("FLOAT", {})}, "hidden": {"unique_id": ("UNIQUE_ID",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    @classmethod
    def run(cls, value: float) -> tuple[float]:
        SEEN.append(("HandWritten", cls.hidden))
        return (value + 1,)


NODES: dict[str, type] = {
    "Const": Const, "Output": Output, "V3Number": Number, "V3Hidden": Hidden, "V3Checked": Checked,
    "V3Fingerprinted": Fingerprinted, "V3Switch": Switch, "V3Spread": Spread, "V3Gather": Gather,
    "V3AsyncDouble": AsyncDouble, "V3Expand": Expand, "V3NotExpandable": NotExpandable, "V3Returns": Returns,
    "V3Batch": Batch, "V3Mode": Mode, "V3Unique": Unique, "V3Preview": Preview, "HandWritten": HandWritten,
}


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for name, cls in NODES.items():
        reg.register(name, cls)
    return reg


@pytest.fixture(params=CACHE_MODES, ids=[m for m, _ in CACHE_MODES])
def executor(request, registry, tmp_path):
    mode, size = request.param
    previous = folders.active()
    active = folders.Folders(str(tmp_path))
    active.ensure_dirs()
    folders.set_active(active)
    bus = ev.EventBus()
    ex = PromptExecutor(registry, bus, mode, size)
    ex.events = []
    bus.subscribe(ex.events.append)
    SEEN.clear()
    yield ex
    folders.set_active(previous)


def run(ex: PromptExecutor, prompt: dict[str, Any], extra: dict[str, Any] | None = None, prompt_id: str = "p"):
    ex.events.clear()
    result = validate_prompt(prompt, ex.registry)
    return ex.execute(prompt, prompt_id, {"client_id": "client", **(extra or {})}, result.outputs)


def errors(ex: PromptExecutor) -> list[ev.ExecutionError]:
    return [e for e in ex.events if isinstance(e, ev.ExecutionError)]


def ran(ex: PromptExecutor) -> list[str]:
    return [e.node for e in ex.events if isinstance(e, ev.Executing) and e.node is not None]


def out(node: str, value: str) -> dict[str, Any]:
    return {node: {"class_type": "Output", "inputs": {"value": [value, 0]}}}


# -- detection and object_info -------------------------------------------------------------------

def test_v3_classes_are_recognised_by_their_contract():
    assert v3.is_v3(Number) and v3.is_v3(HandWritten)
    assert not v3.is_v3(Const) and not v3.is_v3(Number())  # a V1 class; an instance
    assert v3.first_real_override(Checked, "validate_inputs") is not None
    assert v3.first_real_override(Number, "validate_inputs") is None  # the base's placeholder
    assert v3.first_real_override(Number, "check_lazy_status") is None
    assert v3.change_method(Fingerprinted) == "fingerprint_inputs" and v3.change_method(Number) is None


def test_object_info_is_the_class_description_with_the_registry_module(registry):
    registry.register("RegisteredElsewhere", Number, python_module="custom_nodes.pack")
    info = registry.node_info("RegisteredElsewhere")
    expected = Number.GET_NODE_INFO_V1()
    expected["python_module"] = "custom_nodes.pack"
    assert info == expected
    # QUIRK(docs/execution.md §1.9): the name is the schema's node_id, not the registered key.
    assert info["name"] == "V3Number" and info["display_name"] is None
    assert registry.node_info("HandWritten") == {"name": "HandWritten", "python_module": "nodes"}


# -- hidden values and the per-call clone ----------------------------------------------------------

def test_each_call_runs_on_a_locked_clone_with_its_hidden_values(executor):
    prompt = {"1": {"class_type": "V3Spread", "inputs": {"value": 1.0, "count": 2}},
              "2": {"class_type": "V3Hidden", "inputs": {"value": ["1", 0]}}, **out("3", "2")}
    result = run(executor, prompt, {"extra_pnginfo": {"workflow": {"nodes": []}}, "auth_token_comfy_org": "tok",
                                    "api_key_comfy_org": "key"})
    assert result.success, errors(executor)
    calls = [s for s in SEEN if isinstance(s, dict)]
    assert [c["value"] for c in calls] == [1.0, 2.0]
    first, second = calls
    assert first["cls"] is not second["cls"] and all(issubclass(c["cls"], Hidden) for c in calls)
    assert first["unique_id"] == "2" and first["extra_pnginfo"] == {"workflow": {"nodes": []}}
    assert first["prompt"] == prompt and first["dynprompt"].get_node("2")["class_type"] == "V3Hidden"
    assert first["auth"] == "tok" and first["api_key"] is None  # only what the schema asks for
    assert first["locked"] and second["locked"] and not hasattr(Hidden, "leak")
    assert Hidden.hidden is None  # the original class never carries a call's values


def test_hidden_values_are_not_inputs(executor):
    # A prompt value named like a hidden input is not passed to execute (no such parameter).
    prompt = {"1": {"class_type": "V3Hidden", "inputs": {"value": 2.0, "unique_id": "forged"}}, **out("2", "1")}
    assert run(executor, prompt).success, errors(executor)
    assert SEEN[-1]["unique_id"] == "1"


def test_a_hand_written_contract_class_runs_the_same_way(executor):
    prompt = {"1": {"class_type": "HandWritten", "inputs": {"value": 1.0}}, **out("2", "1")}
    result = run(executor, prompt)
    assert result.success and result.outputs["2"] == {"value": [2.0]}
    assert SEEN == ["VALIDATE_CLASS", ("HandWritten", {"UNIQUE_ID": "1"})]


# -- validation, fingerprints, laziness ------------------------------------------------------------

def test_validate_inputs_replaces_the_checks_of_the_inputs_it_names(executor):
    good = {"1": {"class_type": "V3Checked", "inputs": {"a": 8, "b": 5}}, **out("2", "1")}
    assert run(executor, good).success  # a=8 is over max, but validate_inputs names `a`
    assert ("validate", 8, "1", {}) in SEEN  # hidden as outside execution: no prompt
    with pytest.raises(PromptValidationError) as failed:
        validate_prompt({"1": {"class_type": "V3Checked", "inputs": {"a": 3, "b": 6}}, **out("2", "1")},
                        executor.registry)
    reasons = failed.value.node_errors["1"]["errors"]
    assert [(r["type"], r["details"]) for r in reasons] == [
        ("value_bigger_than_max", "b"), ("custom_validation_failed", "a - a must be even, not 3")]


def test_fingerprint_inputs_keys_the_cache_like_is_changed(executor):
    def prompt(stamp: str) -> dict[str, Any]:
        return {"1": {"class_type": "V3Fingerprinted", "inputs": {"value": 1.0, "stamp": stamp}}, **out("2", "1")}

    run(executor, prompt("x"))
    if executor.cache_mode == "none":  # nothing is keyed, so nothing is fingerprinted
        assert SEEN == [("Fingerprinted", 1.0)]
        return
    assert SEEN == [("fingerprint", 1.0, "x", "1"), ("Fingerprinted", 1.0)]
    SEEN.clear()
    run(executor, prompt("x"))
    assert SEEN == [("fingerprint", 1.0, "x", "1")]  # the same fingerprint: cached
    SEEN.clear()
    run(executor, prompt("y"))
    assert SEEN == [("fingerprint", 1.0, "y", "1"), ("Fingerprinted", 1.0)]
    # A failing fingerprint is NaN: never equal, so the node runs every time (docs/execution.md §1.6).
    for _ in range(2):
        SEEN.clear()
        failing = prompt("fail")
        run(executor, failing)
        assert SEEN == [("fingerprint", 1.0, "fail", "1"), ("Fingerprinted", 1.0)]
    assert math.isnan(failing["1"]["is_changed"])
    # QUIRK(docs/execution.md §1.6): a value already in the prompt is used, and the method not called.
    for expected in ([("Fingerprinted", 1.0)], []):
        SEEN.clear()
        given = prompt("fail")
        given["1"]["is_changed"] = ["pinned"]
        run(executor, given)
        assert expected == SEEN


def test_linked_inputs_reach_fingerprint_inputs_as_none(executor):
    if executor.cache_mode == "none":
        pytest.skip("nothing is fingerprinted without a cache")
    prompt = {"1": {"class_type": "V3Number", "inputs": {"value": 2.0}},
              "2": {"class_type": "V3Fingerprinted", "inputs": {"value": ["1", 0], "stamp": "s"}}, **out("3", "2")}
    run(executor, prompt)
    assert ("fingerprint", None, "s", "2") in SEEN


def test_check_lazy_status_is_a_classmethod_with_hidden_values(executor):
    prompt = {"1": {"class_type": "V3Number", "inputs": {"value": 1.0}},
              "2": {"class_type": "V3Number", "inputs": {"value": 2.0}},
              "3": {"class_type": "V3Switch", "inputs": {"switch": True, "on_false": ["1", 0], "on_true": ["2", 0]}},
              **out("4", "3")}
    result = run(executor, prompt)
    assert result.success and result.outputs["4"] == {"value": [2.0]}
    assert ("Number", 1.0) not in SEEN  # the unused branch never ran
    assert [s for s in SEEN if s[0] == "lazy"] == [("lazy", "3", None, None), ("lazy", "3", None, 2.0)]


# -- lists, async, expansion -----------------------------------------------------------------------

def test_output_lists_map_and_is_input_list_gathers(executor):
    prompt = {"1": {"class_type": "V3Spread", "inputs": {"value": 1.0, "count": 3}},
              "2": {"class_type": "V3Number", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "V3Gather", "inputs": {"values": ["2", 0]}}, **out("4", "3")}
    result = run(executor, prompt)
    assert result.success and result.outputs["4"] == {"value": [6.0]}
    assert [s for s in SEEN if s[0] == "Number"] == [("Number", 1.0), ("Number", 2.0), ("Number", 3.0)]
    assert ("Gather", [1.0, 2.0, 3.0]) in SEEN


def test_async_execute(executor):
    prompt = {"1": {"class_type": "V3AsyncDouble", "inputs": {"value": 1.5}},
              "2": {"class_type": "V3AsyncDouble", "inputs": {"value": ["1", 0]}}, **out("3", "2")}
    result = run(executor, prompt)
    assert result.success and result.outputs["3"] == {"value": [6.0]}
    assert [s for s in SEEN if s[0] == "AsyncDouble"] == [("AsyncDouble", "1"), ("AsyncDouble", "2")]


def test_expansion_needs_enable_expand(executor):
    prompt = {"1": {"class_type": "V3Expand", "inputs": {"value": 1.25}}, **out("2", "1")}
    result = run(executor, prompt)
    assert result.success and result.outputs["2"] == {"value": [2.5]}
    expanded = [s for s in SEEN if s[0] == "AsyncDouble"]
    assert len(expanded) == 1 and expanded[0][1].startswith("1.")  # an expanded node's prefixed id
    result = run(executor, {"1": {"class_type": "V3NotExpandable", "inputs": {"value": 1.0}}, **out("2", "1")})
    assert not result.success
    # The message names the call's clone, as ComfyUI's does.
    assert errors(executor)[0].exception_message.startswith(
        "Node NotExpandableClone is not expandable, but expand included in NodeOutput; developer should set "
        "enable_expand=True on node's Schema to allow this.")


# -- return forms, blocking, ui --------------------------------------------------------------------

@pytest.mark.parametrize(("form", "value"), [("tuple", 1.5), ("dict", 2.5), ("node_output", 0.5)])
def test_return_values_are_normalised(executor, form, value):
    prompt = {"1": {"class_type": "V3Returns", "inputs": {"form": form}}, **out("2", "1")}
    result = run(executor, prompt)
    assert result.success and result.outputs["2"] == {"value": [value]}
    # The ui of every call is merged into lists (docs/execution.md §3.5), so PreviewText's tuple is a list.
    shown = {"dict": {"text": ["from a dict"]}, "node_output": {"text": ["node output"]}}.get(form)
    assert result.outputs.get("1") == shown


def test_a_node_returning_something_else_fails(executor):
    result = run(executor, {"1": {"class_type": "V3Returns", "inputs": {"form": "list"}}, **out("2", "1")})
    assert not result.success
    assert errors(executor)[0].exception_message.startswith("Invalid return type from node: <class 'list'>")


def test_block_execution_blocks_consumers_with_a_notice(executor):
    result = run(executor, {"1": {"class_type": "V3Returns", "inputs": {"form": "blocked"}}, **out("2", "1")})
    assert result.success and "2" not in result.outputs  # the consumer was blocked
    notices = errors(executor)
    assert len(notices) == 1 and notices[0].is_blocker_notice and notices[0].node_id == "2"
    assert notices[0].exception_message == "Execution Blocked: blocked output"


def test_an_output_with_only_block_execution_has_no_outputs(executor):
    # QUIRK(docs/execution.md §1.9): a returned ExecutionBlocker becomes NodeOutput(block_execution=...),
    # which makes no outputs, so the consumer runs with the input missing (None).
    result = run(executor, {"1": {"class_type": "V3Returns", "inputs": {"form": "blocker"}}, **out("2", "1")})
    assert result.success and result.outputs["2"] == {"value": [None]} and not errors(executor)
    result = run(executor, {"1": {"class_type": "V3Returns", "inputs": {"form": "none"}}, **out("2", "1")})
    assert result.success and result.outputs["2"] == {"value": [None]}


def test_ui_previews_land_in_history_and_executed(executor):
    result = run(executor, {"1": {"class_type": "V3Number", "inputs": {"value": 0.5}},
                            "2": {"class_type": "V3Preview", "inputs": {"value": ["1", 0]}}},
                 {"extra_pnginfo": {"workflow": {"id": "w"}}})
    assert result.success, errors(executor)
    shown = result.outputs["2"]
    assert list(shown) == ["images", "animated"] and shown["animated"] == [False]
    (image,) = shown["images"]
    assert image["type"] == "temp" and image["subfolder"] == "" and image["filename"].endswith("_00001_.png")
    assert image["filename"].startswith("ComfyUI_temp_") and len(image["filename"]) == len("ComfyUI_temp_abcde_00001_.png")
    executed = [e for e in executor.events if isinstance(e, ev.Executed)]
    assert [(e.node, e.output) for e in executed] == [("2", shown)]
    from PIL import Image

    with Image.open(folders.active().temp_dir + "/" + image["filename"]) as saved:
        assert saved.size == (6, 4) and saved.text["workflow"] == '{"id": "w"}' and "prompt" in saved.text


# -- dynamic inputs, caching ----------------------------------------------------------------------

def test_autogrow_inputs_arrive_nested_and_validate_by_their_last_part(executor):
    prompt = {"1": {"class_type": "V3Number", "inputs": {"value": 1.0}},
              "2": {"class_type": "V3Batch", "inputs": {"values.value0": ["1", 0], "values.value1": 2.0,
                                                        "values.value2": 3.0}}, **out("3", "2")}
    result = run(executor, prompt)
    assert result.success and result.outputs["3"] == {"value": [6.0]}
    assert ("Batch", {"value0": 1.0, "value1": 2.0, "value2": 3.0}) in SEEN
    # Only connected names are declared: the backend does not enforce the template's `min`.
    SEEN.clear()
    assert run(executor, {"2": {"class_type": "V3Batch", "inputs": {"values.value0": 4.0}}, **out("3", "2")}).success
    assert SEEN == [("Batch", {"value0": 4.0})]


def test_dynamic_combo_brings_the_inputs_of_its_choice(executor):
    prompt = {"1": {"class_type": "V3Mode", "inputs": {"mode": "scale", "mode.factor": 3.0, "value": 2.0}},
              **out("2", "1")}
    result = run(executor, prompt)
    assert result.success and result.outputs["2"] == {"value": [6.0]}
    assert ("Mode", {"mode": "scale", "factor": 3.0}) in SEEN
    with pytest.raises(PromptValidationError) as failed:
        validate_prompt({"1": {"class_type": "V3Mode", "inputs": {"mode": "offset", "value": 2.0}}, **out("2", "1")},
                        executor.registry)
    reasons = failed.value.node_errors["1"]["errors"]
    assert [(r["type"], r["details"], r["extra_info"]["input_name"]) for r in reasons] == [
        ("required_input_missing", "amount", "mode.amount")]
    with pytest.raises(PromptValidationError) as failed:
        validate_prompt({"1": {"class_type": "V3Mode", "inputs": {"mode": "scale", "mode.factor": 9.0, "value": 1.0}},
                         **out("2", "1")}, executor.registry)
    assert failed.value.node_errors["1"]["errors"][0]["type"] == "value_bigger_than_max"


def test_not_idempotent_nodes_do_not_share_results(executor):
    prompt = {"1": {"class_type": "V3Unique", "inputs": {"value": 1.0}},
              "2": {"class_type": "V3Unique", "inputs": {"value": 1.0}},
              **out("3", "1"), **out("4", "2")}
    run(executor, prompt)
    assert SEEN.count("Unique") == 2
