"""UI-format workflow (the frontend's saved .json) -> API prompt, as the frontend's graphToPrompt does."""

from __future__ import annotations

import copy
import json
import pathlib

import pytest

from toucan_nb.notebook.loader import load_workflow
from toucan_nb.notebook.spec import registry_spec
from toucan_nb.notebook.ui_workflow import WorkflowConversionError, map_widget_values, ui_to_api

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "ui_workflow.json"

EXPECTED = {
    "1": {"inputs": {"image": "b.png", "channel": "red"}, "class_type": "LoadImg", "_meta": {"title": "LoadImg"}},
    "4": {"inputs": {"factor": 0.75, "mode": "multiply", "lambda": 7, "clip l": "clip text", "strength": 0.9,
                     "image1": ["1", 0], "image2": ["1", 0], "mask": ["1", 1]},
          "class_type": "Blend", "_meta": {"title": "Blend Images"}},
    "6": {"inputs": {"filename_prefix": "final", "images": ["4", 0]}, "class_type": "Save",
          "_meta": {"title": "Save"}},
    "9": {"inputs": {"a": 5, "b": 6}, "class_type": "Add", "_meta": {"title": "Add"}},
    "10": {"inputs": {"seed": 42, "steps": 30, "sampler_name": "dpm", "denoise": 0.8, "tags": "t"},
           "class_type": "Sampler", "_meta": {"title": "Sampler"}},
    "11": {"inputs": {"seed": 1, "steps": 10, "sampler_name": "euler", "denoise": 0.5, "tags": "z"},
           "class_type": "Sampler", "_meta": {"title": "Sampler"}},
    "13": {"inputs": {"width": 16, "label": "hi"}, "class_type": "Source", "_meta": {"title": "Source"}},
    "14": {"inputs": {"value": 3}, "class_type": "Number", "_meta": {"title": "My number"}},
    "15": {"inputs": {"a": 1, "b": ["14", 0]}, "class_type": "Add", "_meta": {"title": "Add"}},
}


@pytest.fixture
def ui() -> dict:
    return json.loads(FIXTURE.read_text())


def test_fixture_converts_to_the_expected_prompt(ui, registry):
    assert ui_to_api(ui, registry) == EXPECTED


def test_each_rule_of_the_conversion(ui, registry):
    prompt = ui_to_api(ui, registry)
    # control_after_generate / upload-button values are skipped, not mapped onto the next input.
    assert prompt["1"]["inputs"] == {"image": "b.png", "channel": "red"}
    assert prompt["10"]["inputs"]["steps"] == 30
    # Reroute followed; PrimitiveNode value wins over the target's stale widget value.
    assert prompt["4"]["inputs"]["image1"] == ["1", 0] and prompt["4"]["inputs"]["factor"] == 0.75
    # The bypassed Blend passes its matching IMAGE input through; it is not in the prompt.
    assert prompt["6"]["inputs"]["images"] == ["4", 0] and "5" not in prompt
    # Muted nodes vanish; a widget linked to one keeps its widget value (frontend behaviour).
    assert "7" not in prompt and "8" not in prompt and prompt["9"]["inputs"]["a"] == 5
    # Virtual nodes are not emitted.
    assert not {"2", "3", "12"} & set(prompt)
    # Pre-1.16 files: the dummy value saved for a forceInput input is dropped.
    assert "offset" not in prompt["11"]["inputs"] and prompt["11"]["inputs"]["tags"] == "z"


def test_links_as_objects_convert_the_same(ui, registry):
    ui["links"] = [{"id": k[0], "origin_id": k[1], "origin_slot": k[2], "target_id": k[3], "target_slot": k[4],
                    "type": k[5]} for k in ui["links"]]
    assert ui_to_api(ui, registry) == EXPECTED


def test_widgets_values_as_a_dict_are_read_by_name(ui, registry):
    node = next(n for n in ui["nodes"] if n["id"] == 14)
    node["widgets_values"] = {"value": 9, "not_an_input": 1}
    assert ui_to_api(ui, registry)["14"]["inputs"] == {"value": 9}


def test_list_widget_values_are_wrapped(ui, registry):
    node = next(n for n in ui["nodes"] if n["id"] == 13)
    node["widgets_values_named"] = {"width": 16, "label": ["a", 1]}
    assert ui_to_api(ui, registry)["13"]["inputs"]["label"] == {"__value__": ["a", 1]}


def test_bypass_without_a_matching_input_drops_the_link(ui, registry):
    bypassed = next(n for n in ui["nodes"] if n["id"] == 5)
    for slot in bypassed["inputs"]:
        slot["type"] = "LATENT"
    prompt = ui_to_api(ui, registry)
    assert "images" not in prompt["6"]["inputs"]


def test_counts_from_other_frontend_versions_fall_back_to_looking_at_values(registry):
    spec = registry_spec(registry, "Sampler")
    # An older frontend saved no filter-list value after the combo's control widget.
    assert map_widget_values(spec, [42, "randomize", 30, "dpm", "increment", 0.8, "t"]) == {
        "seed": 42, "steps": 30, "sampler_name": "dpm", "denoise": 0.8, "tags": "t"}
    # No control value at all after the seed.
    assert map_widget_values(spec, [42, 30, "dpm", 0.8]) == {"seed": 42, "steps": 30, "sampler_name": "dpm",
                                                            "denoise": 0.8}
    spec = registry_spec(registry, "LoadImg")
    assert map_widget_values(spec, ["a.png", "alpha"]) == {"image": "a.png", "channel": "alpha"}


def test_unknown_classes_keep_their_links(ui, registry):
    ui["nodes"].append({"id": 20, "type": "NotInstalled", "mode": 0, "order": 20,
                        "inputs": [{"name": "x", "type": "INT", "link": 12}], "outputs": [],
                        "widgets_values": [1, 2]})
    ui["links"].append([12, 14, 0, 20, 0, "INT"])
    assert ui_to_api(ui, registry)["20"] == {"inputs": {"x": ["14", 0]}, "class_type": "NotInstalled",
                                             "_meta": {"title": "NotInstalled"}}


def test_subgraphs_and_group_nodes_are_refused_clearly(ui, registry):
    sub = copy.deepcopy(ui)
    sub["definitions"] = {"subgraphs": [{"id": "9d0c-sub", "nodes": [], "links": []}]}
    sub["nodes"].append({"id": 30, "type": "9d0c-sub", "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(WorkflowConversionError, match="subgraph"):
        ui_to_api(sub, registry)
    group = copy.deepcopy(ui)
    group["nodes"].append({"id": 31, "type": "workflow>My group", "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(WorkflowConversionError, match="group node"):
        ui_to_api(group, registry)
    with pytest.raises(WorkflowConversionError, match="nodes"):
        ui_to_api({"1": {"class_type": "Add"}}, registry)


def test_load_workflow_reads_every_format(tmp_path, ui, registry):
    wf = load_workflow(FIXTURE, registry=registry)
    assert wf.to_api() == EXPECTED
    assert wf["4"]["IMAGE"] == wf["4"][0]  # class facts bound from the registry

    api_file = tmp_path / "api.json"
    api_file.write_text(json.dumps(EXPECTED))
    assert load_workflow(api_file, registry=registry).to_api() == EXPECTED
    assert load_workflow({"prompt": EXPECTED, "client_id": "x"}, registry=registry).to_api() == EXPECTED

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(EXPECTED))
    info.add_text("workflow", json.dumps(ui))
    png = tmp_path / "ComfyUI_00001_.png"
    Image.new("RGB", (2, 2)).save(png, pnginfo=info)
    assert load_workflow(png, registry=registry).to_api() == EXPECTED
    bare = tmp_path / "bare.png"
    Image.new("RGB", (2, 2)).save(bare)
    with pytest.raises(WorkflowConversionError, match="metadata"):
        load_workflow(bare, registry=registry)
