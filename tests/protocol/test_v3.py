"""V3 node packs through `toucan-nb serve` (docs/execution.md §1.9, §1.10; docs/protocol.md §5, §13-§16).

The server loads tests/packs as a custom_nodes folder: the V3-only pack (`comfy_entrypoint`) and the
mixed V1+V3 pack. Two scenarios recorded from ComfyUI 0.8.0 with the V3 nodes it ships
(ws_transcripts/v3_*.json, tests/vectors/record_v3.py) are replayed: the same prompt must give the
same frames, binary progress text included, and the same history entry. The pack's own V3 nodes
then run through the route: hidden values, async execute, expansion, blocked outputs, validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.vectors import load

from .support import REPO, ServeProcess, new_client_id, normalize, wait_idle

PACKS = f"{REPO}/tests/packs"
SCENARIOS = ["v3_switch_mask_preview", "v3_image_size_text"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("serve_v3")
    config = base / "extra_model_paths.yaml"
    config.write_text(f"testing:\n  custom_nodes: {PACKS}\n")
    proc = ServeProcess(str(base), "--extra-model-paths-config", str(config))
    yield proc
    proc.stop()


def frame(ws: Any) -> Any:
    """A frame as the recorder kept it: JSON, or a binary frame's bytes as hex."""
    opcode, data = ws.recv_data()
    return {"binary_hex": data.hex()} if opcode == 2 else json.loads(data)


def post_and_collect(server: ServeProcess, prompt: dict[str, Any],
                     extra: dict[str, Any] | None = None) -> tuple[list[Any], str]:
    wait_idle(server)
    client_id = new_client_id()
    ws = server.ws(client_id)
    try:
        messages = [frame(ws)]
        resp = server.post("/prompt", {"prompt": prompt, "client_id": client_id, **(extra or {})})
        assert resp.status == 200, resp.body
        prompt_id = resp.json()["prompt_id"]
        while messages[-1] != {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}:
            messages.append(frame(ws))
        return messages, prompt_id
    finally:
        ws.close()


def test_v3_packs_are_in_object_info(server):
    info = server.get("/object_info").json()
    recorded = load("object_info_v3.json")["object_info"]
    for name in ("ComfySwitchNode", "ResizeImageMaskNode", "OpenAIDalle2", "Epsilon Scaling", "MaskPreview"):
        assert info[name] == {**recorded[name], "python_module": "custom_nodes.v3_pack"}, name
    assert info["MixedV1Join"]["python_module"] == info["MixedV3Upper"]["python_module"] == \
        "custom_nodes.mixed_v1_v3_pack"
    assert "MixedIgnored" not in info and info["V3TestExpandPower"]["category"] == "testing/v3"
    one = server.get("/object_info/Epsilon%20Scaling").json()
    assert list(one) == ["Epsilon Scaling"] and one["Epsilon Scaling"]["name"] == "Epsilon Scaling"


@pytest.mark.parametrize("name", SCENARIOS)
def test_recorded_v3_scenarios(server, name):
    vec = load(f"ws_transcripts/{name}.json")
    messages, prompt_id = post_and_collect(server, vec["prompt_posted"]["prompt"])
    recorded_id = vec["post_prompt_response"]["body"]["prompt_id"]
    theirs = {recorded_id: "<P>", vec["messages"][0]["data"]["sid"]: "<S>"}
    ours = {prompt_id: "<P>", messages[0]["data"]["sid"]: "<S>"}
    assert normalize(messages, ours) == normalize(vec["messages"], theirs)

    entry = server.get(f"/history/{prompt_id}").json()[prompt_id]
    want = normalize(vec["history"][recorded_id], {recorded_id: "<P>"})
    have = normalize(entry, {prompt_id: "<P>"})
    for side in (want, have):
        side["prompt"][0] = "<n>"  # the queue number of another session
        side["prompt"][3].pop("client_id")
    assert have == want


def test_pack_nodes_run_through_the_route(server):
    prompt = {
        "1": {"class_type": "V3TestHiddenEcho", "inputs": {"label": "hi"}},
        "2": {"class_type": "V3TestExpandPower", "inputs": {"value": 1.5, "factor": 2.0, "times": 2}},
        "3": {"class_type": "V3TestFloatText", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "V3TestAsyncScale", "inputs": {"value": 3.0, "factor": 2.0, "seconds": 0.05}},
        "5": {"class_type": "V3TestFloatText", "inputs": {"value": ["4", 0]}},
        "6": {"class_type": "V3TestMakeToken", "inputs": {"text": "tok", "block": True}},
        "7": {"class_type": "V3TestShowToken", "inputs": {"token": ["6", 0]}},
        "8": {"class_type": "MixedV1Join", "inputs": {"a": "x", "b": "y"}},
        "9": {"class_type": "MixedV3Upper", "inputs": {"text": ["8", 0]}},
    }
    messages, prompt_id = post_and_collect(server, prompt, {"extra_data": {"extra_pnginfo": {"workflow": {}}}})
    shown = {m["data"]["node"]: m["data"]["output"] for m in messages if m.get("type") == "executed"}
    assert shown == {
        "1": {"text": ["hi id=1 prompt_nodes=['1', '2', '3', '4', '5', '6', '7', '8', '9'] workflow=True "
                       "dynprompt=True"]},
        "3": {"text": ["6"]}, "5": {"text": ["6"]}, "9": {"text": ["XY"]},
    }
    # The blocked token: a notice for its consumer, which then does not run; the prompt succeeds.
    notices = [m["data"] for m in messages if m.get("type") == "execution_error"]
    assert [(n["node_id"], n["exception_message"], n["exception_type"]) for n in notices] == [
        ("7", "Execution Blocked: the token is blocked", "ExecutionBlocked")]
    # Expanded nodes run under prefixed ids and show on the node that expanded.
    expanded = [m["data"] for m in messages if m.get("type") == "executing" and "." in (m["data"]["node"] or "")]
    assert len(expanded) == 2 and all(e["display_node"] == "2" for e in expanded)
    entry = server.get(f"/history/{prompt_id}").json()[prompt_id]
    assert entry["status"]["status_str"] == "success" and entry["outputs"] == shown


def test_v3_validation_errors_through_the_route(server):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "ResizeImageMaskNode", "inputs": {"input": ["1", 0], "resize_type": "scale width",
                                                                    "scale_method": "area"}},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
              "4": {"class_type": "RegexReplace", "inputs": {"string": "a", "regex_pattern": "a", "replace": "b",
                                                             "count": 101}},
              "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}}}
    resp = server.post("/prompt", {"prompt": prompt})
    assert resp.status == 400
    body = resp.json()
    errors = {node: [(e["type"], e["details"], e["extra_info"]["input_name"]) for e in entry["errors"]]
              for node, entry in body["node_errors"].items()}
    assert errors == {"2": [("required_input_missing", "width", "resize_type.width")],
                      "4": [("value_bigger_than_max", "count", "count")]}
