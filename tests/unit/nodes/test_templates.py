"""The frontend's SD1.5 and SDXL templates (comfyui-workflow-templates, a dependency) use only node
classes the built-in library has, and the "SD1.5 default" template runs on the test checkpoint.

The templates are UI-format workflows; they go through the notebook API's UI -> API conversion,
as the frontend's own conversion would produce them, with the sizes made small for the CPU.
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
SD_TEMPLATES = ["default", "sdxl_simple_example", "sdxl_refiner_prompt_example", "sdxlturbo_example"]


def template(name: str) -> dict[str, Any]:
    files = resources.files("comfyui_workflow_templates_media_image") / "templates"
    return json.loads((files / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", SD_TEMPLATES)
def test_template_needs_only_builtin_nodes(name: str) -> None:
    builtin = {class_type for class_type, *_ in BUILTIN_NODES}
    needed = {node["type"] for node in template(name)["nodes"]} - FRONTEND_ONLY
    assert needed - builtin == set()


def test_default_template_runs_on_the_test_checkpoint(rt: Any) -> None:  # noqa: F811
    from toucan_nb.notebook import Workflow
    from toucan_nb.notebook.ui_workflow import ui_to_api

    prompt = ui_to_api(template("default"), rt.registry)
    by_class = {node["class_type"]: node for node in prompt.values()}
    assert by_class["CheckpointLoaderSimple"]["inputs"]["ckpt_name"].endswith(".safetensors")
    by_class["CheckpointLoaderSimple"]["inputs"]["ckpt_name"] = wc.CHECKPOINT
    by_class["EmptyLatentImage"]["inputs"].update(width=64, height=64)
    by_class["KSampler"]["inputs"]["steps"] = 2
    wf = Workflow.from_api(prompt, registry=rt.registry)
    decode = next(node_id for node_id, node in prompt.items() if node["class_type"] == "VAEDecode")
    save = next(node_id for node_id, node in prompt.items() if node["class_type"] == "SaveImage")
    result = wf.run(wf[decode].out(0), wf[save], runtime=rt, timeout=240, progress=False, display_images=False)
    image = result[wf[decode].out(0)]
    assert tuple(image.shape) == (1, 64, 64, 3)
    assert float(image.std()) > 0.02, "the decoded image is flat"
    assert result.image_paths(), "SaveImage wrote no file"
