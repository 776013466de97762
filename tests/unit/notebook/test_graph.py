"""Graph building and the API format (docs/protocol.md §6): links, list constants, round trips."""

from __future__ import annotations

import json

import pytest

from toucan_nb.notebook.graph import Output, RawLink, Workflow, WorkflowNode, active_workflow
from toucan_nb.notebook.namespace import NodeNamespace


@pytest.fixture
def nodes(registry):
    return NodeNamespace(registry)


def test_outputs_are_indexable_by_position_and_name_and_unpack(nodes):
    src = nodes.Source(width=8)
    assert isinstance(src, WorkflowNode)
    assert src[0] == src["image"] == Output(src, 0)
    assert src[1] == src["mask"] == src["MASK"]  # a unique RETURN_TYPES entry works too
    assert src[-1] == src[1]
    image, mask = src
    assert (image.index, mask.index) == (0, 1)
    assert (image.name, image.type) == ("image", "IMAGE")
    with pytest.raises(KeyError, match="outputs: \\['image', 'mask'\\]"):
        src["depth"]
    with pytest.raises(IndexError):
        src[2]


def test_a_node_output_used_as_input_becomes_a_link(nodes):
    src = nodes.Source(width=8)
    out = nodes.Blend(src["image"], src["image"], mask=src["mask"])
    prompt = out.workflow.to_api()
    assert prompt == {
        src.id: {"inputs": {"width": 8}, "class_type": "Source", "_meta": {"title": "Source"}},
        out.node.id: {"inputs": {"image1": [src.id, 0], "factor": 0.5, "image2": [src.id, 0], "mode": "normal",
                                 "lambda": 1, "clip l": "", "mask": [src.id, 1]},
                      "class_type": "Blend", "_meta": {"title": "Blend Images"}},
    }


def test_a_multi_output_node_cannot_be_linked_whole(nodes):
    src = nodes.Source()
    out = nodes.Blend(src, src[0])
    with pytest.raises(TypeError, match="has 2 outputs"):
        out.workflow.to_api()


def test_list_constants_are_wrapped_and_tuples_too(nodes):
    wf = Workflow()
    node = wf.add("Concat", {"items": ["a", 1], "sep": "-"})
    wf.add("Concat", {"items": ("x", "y")})
    prompt = wf.to_api()
    # ["a", 1] has a link's shape: unwrapped it would be read as a link (docs/execution.md vocabulary).
    assert prompt[node.id]["inputs"]["items"] == {"__value__": ["a", 1]}
    assert prompt["2"]["inputs"]["items"] == {"__value__": ["x", "y"]}


def test_nodes_join_the_active_workflow_else_their_inputs_else_a_new_one(nodes):
    with Workflow() as wf:
        assert active_workflow() is wf
        a = nodes.Number(value=1)
        with Workflow() as inner:
            b = nodes.Number(value=2)
        c = nodes.Number(value=3)
    assert active_workflow() is None
    assert [n.id for n in wf] == [a.node.id, c.node.id] and list(inner.nodes) == [b.node.id]
    lone = nodes.Number(value=4)
    assert lone.workflow is not wf
    child = nodes.Add(a=lone)
    assert child.workflow is lone.workflow


def test_linking_two_workflows_merges_them_and_renumbers_clashing_ids(nodes):
    a = nodes.Number(value=1)
    b = nodes.Number(value=2)  # a separate workflow, also node "1"
    assert a.node.id == b.node.id == "1"
    total = nodes.Add(a=a, b=b)
    wf = total.workflow
    assert a.workflow is wf and b.workflow is wf
    assert len(wf) == 3 and b.node.id != a.node.id
    prompt = wf.to_api()
    assert prompt[total.node.id]["inputs"] == {"a": [a.node.id, 0], "b": [b.node.id, 0]}
    # The merged-away Workflow object follows the merge.
    old = b.node.workflow
    assert old.to_api() == prompt


def test_add_validates_ids_and_remove_breaks_links_loudly():
    wf = Workflow()
    n1 = wf.add("Number", {"value": 1}, node_id="10")
    with pytest.raises(ValueError, match="already"):
        wf.add("Number", node_id="10")
    n2 = wf.add("Add", {"a": n1, "b": 2})
    assert n2.id == "11"  # numbering continues after explicit numeric ids
    wf.remove(n1)
    with pytest.raises(ValueError, match="not in this workflow"):
        wf.to_api()


def test_set_input_sets_links_and_none_removes(nodes):
    a = nodes.Number(value=1)
    s = nodes.Add(a=a)
    other = nodes.Number(value=5)
    s.node.set_input("b", other)
    assert other.workflow is s.workflow
    assert s.workflow.to_api()[s.node.id]["inputs"]["b"] == [other.node.id, 0]
    s.node.set_input("b", None)
    assert "b" not in s.node.inputs


API = {
    "4": {"inputs": {"ckpt_name": "model.safetensors"}, "class_type": "Source", "_meta": {"title": "Load"}},
    "6": {"inputs": {"image1": ["4", 0], "image2": ["4", 0], "mask": ["4", 1], "factor": 0.25, "mode": "multiply",
                     "lambda": 2, "clip l": "x"},
          "class_type": "Blend", "_meta": {"title": "Blend"}, "is_changed": [1.5]},
    "7": {"inputs": {"items": {"__value__": [1, 2]}, "sep": ["99", 0]}, "class_type": "Concat"},
    "9": {"inputs": {"images": ["6", 0], "filename_prefix": "x"}, "class_type": "Save"},
}


def test_from_api_round_trips_exactly(registry):
    wf = Workflow.from_api(API, registry=registry)
    assert wf.to_api() == API
    assert json.loads(wf.to_json()) == API
    assert Workflow.from_api(json.dumps(API)).to_api() == API


def test_from_api_makes_outputs_raw_links_and_lists(registry):
    wf = Workflow.from_api(API, registry=registry)
    blend = wf["6"]
    assert blend.inputs["image1"] == wf["4"]["image"]
    assert blend.inputs["mask"] == wf["4"][1]
    assert wf["7"].inputs["items"] == [1, 2]
    assert wf["7"].inputs["sep"] == RawLink("99", 0)  # a link to a node the prompt lacks stays as is
    assert blend.title == "Blend" and wf["9"].title == "Save"
    assert wf["4"].spec.outputs[1].name == "mask"


def test_from_api_without_registry_knows_no_outputs_but_still_round_trips():
    wf = Workflow.from_api(API)
    assert wf["4"].spec is None
    with pytest.raises(TypeError, match="unknown"):
        wf["4"]["image"]
    assert wf["4"].out(1) == Output(wf["4"], 1)
    assert wf.to_api() == API


def test_from_api_rejects_what_is_not_an_api_prompt():
    with pytest.raises(ValueError, match="class_type"):
        Workflow.from_api({"1": {"inputs": {}}})
    with pytest.raises(ValueError):
        Workflow.from_api("[1, 2]")


def test_building_on_a_loaded_workflow_continues_numbering(registry, nodes):
    wf = Workflow.from_api(API, registry=registry)
    with wf:
        extra = nodes.Save(wf["6"][0])
    assert extra.id == "10"
    assert wf.to_api()["10"]["inputs"]["images"] == ["6", 0]
