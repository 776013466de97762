"""Node functions: signatures, docstrings and what a call builds (docs/execution.md §1.1-§1.3)."""

from __future__ import annotations

import inspect
from typing import Literal

import jedi
import pytest

from toucan_nb.notebook.graph import Output, Workflow, WorkflowNode
from toucan_nb.notebook.namespace import NodeNamespace
from toucan_nb.notebook.node_function import make_node_function, python_name
from toucan_nb.notebook.spec import registry_spec

P = inspect.Parameter


def fn(registry, class_type):
    return make_node_function(registry_spec(registry, class_type))


def test_links_are_positional_and_widgets_keyword_only_with_their_defaults(registry):
    sig = inspect.signature(fn(registry, "Blend"))
    params = sig.parameters
    # Inputs without a default keep declaration order and come first; the rest are keyword-only.
    assert list(params) == ["image1", "image2", "factor", "mode", "lambda_", "clip_l", "mask", "strength"]
    assert [p.kind for p in params.values()] == [P.POSITIONAL_OR_KEYWORD] * 2 + [P.KEYWORD_ONLY] * 6
    assert params["image1"].default is P.empty
    assert params["factor"].default == 0.5
    assert params["mode"].default == "normal"  # a combo defaults to its first choice, as in the frontend
    assert params["lambda_"].default == 1
    assert params["mask"].default is None  # optional link: left out of the prompt
    assert params["strength"].default == 1.0  # optional widget: its declared default is shown
    assert "unique_id" not in params  # hidden inputs are the executor's business


def test_annotations_follow_input_types(registry):
    params = inspect.signature(fn(registry, "Blend")).parameters
    assert params["factor"].annotation is float
    assert params["lambda_"].annotation is int
    assert params["clip_l"].annotation is str
    assert params["mode"].annotation == Literal["normal", "multiply", "screen"]
    assert params["image1"].annotation == "IMAGE"
    assert inspect.signature(fn(registry, "Blend")).return_annotation is Output
    assert inspect.signature(fn(registry, "Source")).return_annotation is WorkflowNode


def test_docstring_lists_description_inputs_ranges_options_and_outputs(registry):
    doc = fn(registry, "Source").__doc__
    assert doc.startswith("Source. Category: test/source.")
    assert "Makes an image and a mask." in doc
    assert "width : INT, default 4" in doc
    assert "min 1, max 64" in doc
    assert "Width in pixels." in doc
    assert "label : STRING, optional" in doc
    assert "[0] 'image' (IMAGE): The image." in doc
    assert "[1] 'mask' (MASK): The mask." in doc
    blend = fn(registry, "Blend").__doc__
    assert blend.startswith("Blend Images (Blend).")
    assert "one of 'normal', 'multiply', 'screen'" in blend
    assert "lambda_ : INT, default 1" in blend and "input 'lambda'" in blend
    assert "clip_l : STRING" in blend and "input 'clip l'" in blend
    assert "image1 : IMAGE" in blend and "a link" in blend
    assert "Output node." in fn(registry, "Save").__doc__


def test_function_name_and_identity(registry):
    f = fn(registry, "Blend")
    assert f.__name__ == "Blend"
    assert f.class_type == "Blend"


def test_python_name_mangles_only_what_it_must():
    taken: set[str] = set()
    assert python_name("seed", taken) == "seed"
    assert python_name("clip l", taken) == "clip_l"
    assert python_name("lambda", taken) == "lambda_"
    assert python_name("3d", taken) == "_3d"
    assert python_name("match", taken) == "match"  # a soft keyword is a valid parameter name
    assert python_name("clip-l", taken) == "clip_l_2"  # unique within the node


def test_call_builds_a_node_with_defaults_filled_and_optionals_left_out(registry):
    with Workflow() as wf:
        src = fn(registry, "Source")(width=8)
        out = fn(registry, "Blend")(src["image"], src[0], mode="screen", lambda_=3)
    assert isinstance(out, Output) and out.index == 0
    node = out.node
    assert node.class_type == "Blend"
    assert node.inputs == {"image1": src[0], "factor": 0.5, "image2": src[0], "mode": "screen", "lambda": 3,
                           "clip l": ""}
    assert wf.to_api()[node.id]["inputs"]["image1"] == [src.id, 0]


def test_optional_none_means_not_connected(registry):
    src = fn(registry, "Source")(label=None)
    assert src.inputs == {"width": 4}
    src2 = fn(registry, "Source")(label="x")
    assert src2.inputs == {"width": 4, "label": "x"}


def test_bad_calls_raise_type_error_like_python(registry):
    blend = fn(registry, "Blend")
    with pytest.raises(TypeError):
        blend()  # image1, image2 missing
    with pytest.raises(TypeError):
        blend(1, 2, 0.3)  # factor is keyword-only
    with pytest.raises(TypeError):
        blend(1, 2, nope=3)


def test_namespace_lists_and_refreshes_with_the_registry(registry):
    nodes = NodeNamespace(registry)
    assert "Blend" in dir(nodes)
    assert "Blend" in nodes and len(nodes) == len(registry)
    assert nodes.Blend.class_type == "Blend"
    with pytest.raises(AttributeError):
        nodes.NotThere  # noqa: B018

    class Later:
        RETURN_TYPES = ("INT",)
        FUNCTION = "f"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT", {"default": 2})}}

    registry.register("Later Node (v2)", Later)
    assert "Later_Node_v2" in dir(nodes)
    assert nodes.Later_Node_v2.class_type == "Later Node (v2)"
    assert nodes["Later Node (v2)"].class_type == "Later Node (v2)"
    with pytest.raises(KeyError):
        nodes["Nope"]


def test_signatures_reach_completion_engines(registry):
    """jedi (what IPython's completer uses) sees the real parameters, no stub files involved."""
    nodes = NodeNamespace(registry)
    script = jedi.Interpreter("nodes.Blend(image1, image2, fac", [{"nodes": nodes}])
    assert "factor=" in [c.name for c in script.complete()]
    sigs = script.get_signatures()
    assert sigs and "factor: float=0.5" in sigs[0].to_string()
    assert "Blend" in [c.name for c in jedi.Interpreter("nodes.Bl", [{"nodes": nodes}]).complete()]


def test_display_probes_do_not_start_a_runtime():
    def no_runtime_yet():
        raise AssertionError("the registry was asked for")

    nodes = NodeNamespace(no_runtime_yet)
    for probe in ("_repr_html_", "_ipython_display_", "__wrapped__"):
        with pytest.raises(AttributeError):
            getattr(nodes, probe)
