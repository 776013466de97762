#!/usr/bin/env python3
"""Record the V3 WebSocket scenarios (ws_transcripts/v3_*.json) from a running real ComfyUI.

Each scenario is a prompt of nodes ComfyUI ships as V3 classes (`comfy_extras`), posted with a
fresh `/ws?clientId=` socket that is read until `executing` with node null; then `/history/<id>`.
Binary frames are kept whole as hex (progress text carries the node id and text). Run against
ComfyUI 0.8.0 started with `--cpu` and its own directories:

    python main.py --cpu --port 8351 --base-directory <dir> --database-url sqlite:///:memory:
    VEC_PORT=8351 python tests/vectors/record_v3.py

stdlib + websocket-client. Writes next to this file, under ws_transcripts/.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid

import websocket

PORT = int(os.environ.get("VEC_PORT", "8351"))
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_transcripts")

SCENARIOS = {
    "v3_switch_mask_preview": (
        "V3 nodes: a lazy ComfySwitchNode picks one of two PrimitiveFloat values (the other never runs), "
        "SolidMask makes a mask of it and MaskPreview (an output node with hidden prompt/extra_pnginfo) shows it.",
        {"1": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
         "2": {"class_type": "PrimitiveFloat", "inputs": {"value": 0.25}},
         "3": {"class_type": "PrimitiveFloat", "inputs": {"value": 0.75}},
         "4": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["1", 0], "on_false": ["3", 0],
                                                           "on_true": ["2", 0]}},
         "5": {"class_type": "SolidMask", "inputs": {"value": ["4", 0], "width": 8, "height": 6}},
         "6": {"class_type": "MaskPreview", "inputs": {"mask": ["5", 0]}}},
    ),
    "v3_image_size_text": (
        "V3 GetImageSize (hidden unique_id) sends its progress text for the node, then PreviewAny shows its "
        "width output.",
        {"1": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 12, "height": 5}},
         "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 0]}},
         "3": {"class_type": "GetImageSize", "inputs": {"image": ["2", 0]}},
         "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}},
    ),
}


def http(method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, json.loads(resp.read())


def frame(ws: websocket.WebSocket) -> object:
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_BINARY:
        return {"binary_hex": data.hex()}
    return json.loads(data)


def record(name: str, description: str, prompt: dict) -> None:
    client_id = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{PORT}/ws?clientId={client_id}", timeout=60)
    messages = [frame(ws)]
    body = {"prompt": prompt, "client_id": client_id}
    status, response = http("POST", "/prompt", body)
    prompt_id = response["prompt_id"]
    while True:
        msg = frame(ws)
        messages.append(msg)
        if msg == {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}:
            break
    ws.close()
    _, history = http("GET", f"/history/{prompt_id}")
    out = {"scenario": name, "description": description, "ws_path": f"/ws?clientId={client_id}",
           "ws_client_id_param": client_id, "prompt_posted": body,
           "post_prompt_response": {"status": status, "body": response}, "messages": messages,
           "history": history}
    with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {name}: {len(messages)} messages")


if __name__ == "__main__":
    for scenario, (text, graph) in SCENARIOS.items():
        record(scenario, text, graph)
