"""The frontend's SD templates (comfyui-workflow-templates, a dependency) use only node classes the
built-in library has, and the SDXL base + refiner template runs end to end on the test checkpoint.

The templates are UI-format workflows (PrimitiveNode widgets, notes); they go through the notebook
API's UI -> API conversion, as the frontend's own conversion would produce them, with sizes and
steps made small for the CPU. The SD1.5 text-to-image graph, the default workflow of older
frontends, is the "default" case of test_workflow_goldens.py; the template packages that match the
current frontend no longer carry a copy of it, and frontend 1.58's own default workflow is Z-Image
Turbo (a model family the built-in engine does not have). The browser runs the SDXL Turbo template
on an SDXL checkpoint (tests/browser/test_browser_standalone.py).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from tests.unit.nodes import workflow_cases as wc
from tests.unit.nodes.test_workflow_goldens import rt  # noqa: F401  (the started runtime fixture)
from toucan_nb.nodes import BUILTIN_NODES

# Frontend-only node types: notes and the widget-value primitive never reach the backend.
FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}
SD_TEMPLATES = ["image_sdxl_simple", "sdxl_simple_example", "sdxl_refiner_prompt_example", "sdxlturbo_example"]


def template(name: str) -> dict[str, Any]:
    files = resources.files("comfyui_workflow_templates_json") / "templates"
    return json.loads((files / f"{name}.json").read_text(encoding="utf-8"))


def node_types(workflow: dict[str, Any]) -> set[str]:
    types = {node["type"] for node in workflow["nodes"]}
    for subgraph in (workflow.get("definitions") or {}).get("subgraphs", []):
        types |= {node["type"] for node in subgraph.get("nodes", [])}
        types.discard(subgraph["id"])
    return types


@pytest.mark.parametrize("name", SD_TEMPLATES)
def test_template_needs_only_builtin_nodes(name: str) -> None:
    builtin = {class_type for class_type, *_ in BUILTIN_NODES}
    assert node_types(template(name)) - FRONTEND_ONLY - builtin == set()


def test_sdxl_base_and_refiner_template_runs(rt: Any) -> None:  # noqa: F811
    from toucan_nb.notebook import Workflow
    from toucan_nb.notebook.ui_workflow import ui_to_api

    prompt = ui_to_api(template("sdxl_simple_example"), rt.registry)
    by_class: dict[str, list[dict[str, Any]]] = {}
    for node in prompt.values():
        by_class.setdefault(node["class_type"], []).append(node["inputs"])
    assert len(by_class["CheckpointLoaderSimple"]) == 2 and len(by_class["KSamplerAdvanced"]) == 2
    for loader in by_class["CheckpointLoaderSimple"]:  # base and refiner: the one test file here
        loader["ckpt_name"] = wc.CHECKPOINT
    by_class["EmptyLatentImage"][0].update(width=64, height=64)
    base, refiner = sorted(by_class["KSamplerAdvanced"], key=lambda inputs: inputs["start_at_step"])
    assert (base["add_noise"], refiner["add_noise"]) == ("enable", "disable")
    assert base["end_at_step"] == refiner["start_at_step"]  # the PrimitiveNode's value reached both
    base.update(steps=3, end_at_step=2)
    refiner.update(steps=3, start_at_step=2)
    wf = Workflow.from_api(prompt, registry=rt.registry)
    decode = next(node_id for node_id, node in prompt.items() if node["class_type"] == "VAEDecode")
    save = next(node_id for node_id, node in prompt.items() if node["class_type"] == "SaveImage")
    result = wf.run(wf[decode].out(0), wf[save], runtime=rt, timeout=240, progress=False, display_images=False)
    image = result[wf[decode].out(0)]
    assert tuple(image.shape) == (1, 64, 64, 3)
    assert float(image.std()) > 0.02, "the decoded image is flat"
    assert result.image_paths(), "SaveImage wrote no file"
