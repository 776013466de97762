"""`load_workflow`: a `Workflow` from a saved file or dict, whatever the format.

Accepts the frontend's UI-format workflow (`"nodes"` + `"links"`, converted by `ui_workflow.py`),
an API-format prompt (`Export (API)`), a POST /prompt body (`{"prompt": {...}}`), or a PNG that
ComfyUI saved (its `prompt` text chunk, else its `workflow` chunk). The shell thread calls it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from toucan_nb.notebook.graph import Workflow
from toucan_nb.notebook.ui_workflow import WorkflowConversionError, is_ui_workflow, ui_to_api


def _read(source: str | os.PathLike[str]) -> Any:
    path = os.fspath(source)
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89PNG\r\n\x1a\n":
        from PIL import Image

        with Image.open(path) as img:
            text = dict(getattr(img, "text", {}) or img.info)
        for key in ("prompt", "workflow"):
            if isinstance(text.get(key), str):
                return json.loads(text[key])
        raise WorkflowConversionError(f"{path}: the PNG carries no 'prompt' or 'workflow' metadata")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_workflow(source: str | os.PathLike[str] | Mapping[str, Any], registry: Any = None) -> Workflow:
    """A `Workflow` from a path (.json or ComfyUI .png) or a dict, UI or API format.

    `registry` (a `NodeRegistry`) maps widget values and gives nodes their output names; by default
    the session's runtime registry (started if needed). Raises `WorkflowConversionError` (a
    ValueError), `OSError`, `json.JSONDecodeError`.
    """
    data = dict(source) if isinstance(source, Mapping) else _read(source)
    if registry is None:
        from toucan_nb.notebook.session import get_runtime

        registry = get_runtime().registry
    if is_ui_workflow(data):
        return Workflow.from_api(ui_to_api(data, registry), registry=registry)
    if isinstance(data.get("prompt"), Mapping):
        data = dict(data["prompt"])
    return Workflow.from_api(data, registry=registry)
