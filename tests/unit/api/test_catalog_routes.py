"""/workflow_templates, /i18n, /global_subgraphs, /experiment/models and /internal/*
(docs/protocol.md §11-§12)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import time

from PIL import Image

from tests.support.vectors import load

from .support import FakePack, FakeReport, png_bytes, write

MISC = load("misc_routes.json")


def test_empty_catalogs_match_the_vectors(server):
    assert server.get("/workflow_templates").json() == MISC["GET /workflow_templates"]["body"]
    assert server.get("/global_subgraphs").json() == MISC["GET /global_subgraphs"]["body"]
    assert server.get("/i18n").json() == {}


def test_pack_contributions(server, runtime):
    root = runtime.folders.custom_nodes_dirs[0]
    pack = os.path.join(root, "mypack")
    write(os.path.join(pack, "example_workflows", "demo.json"), '{"nodes": []}')
    write(os.path.join(pack, "workflows", "other.json"), "{}")
    write(os.path.join(pack, "locales", "en", "main.json"), '{"a": {"x": 1}, "l": [1]}')
    write(os.path.join(pack, "locales", "en", "nodeDefs.json"), '{"Node": {"display_name": "N"}}')
    write(os.path.join(root, "zpack", "locales", "en", "main.json"), '{"a": {"y": 2}, "l": [2]}')
    sub = write(os.path.join(pack, "subgraphs", "blur chain.json"), '{"definitions": {}}')
    runtime.load_report = FakeReport((FakePack("mypack", pack),))

    assert server.get("/workflow_templates").json() == {"mypack": ["demo", "other"]}
    assert server.get("/api/workflow_templates/mypack/demo.json").json() == {"nodes": []}
    assert server.get("/api/workflow_templates/mypack/other.json").json() == {}
    assert server.get("/api/workflow_templates/mypack/..%2F..%2Fx.json").status == 404
    assert server.get("/workflow_templates/mypack/demo.json").status == 404  # no un-prefixed twin

    assert server.get("/i18n").json() == {"en": {"a": {"x": 1, "y": 2}, "l": [1, 2],
                                                 "nodeDefs": {"Node": {"display_name": "N"}}}}

    entry_id = hashlib.sha256(f"custom_node{sub}".encode()).hexdigest()
    listing = server.get("/global_subgraphs").json()
    assert listing == {entry_id: {"source": "custom_node", "name": "blur chain",
                                  "info": {"node_pack": "custom_nodes.mypack"}}}
    one = server.get(f"/global_subgraphs/{entry_id}").json()
    assert one["data"] == '{"definitions": {}}' and list(one) == ["source", "name", "info", "data"]
    unknown = server.get("/global_subgraphs/nope")
    assert unknown.status == 200 and unknown.body == b"null"


def test_disabled_custom_nodes_contribute_nothing(server, runtime):
    write(os.path.join(runtime.folders.custom_nodes_dirs[0], "p", "examples", "x.json"), "{}")
    runtime.config.disable_all_custom_nodes = True
    assert server.get("/workflow_templates").json() == {}


def _safetensors(path: str, header: dict) -> None:
    raw = json.dumps(header).encode()
    write(path, struct.pack("<Q", len(raw)) + raw)


def test_experiment_models(server, runtime):
    folders = server.get("/experiment/models").json()
    names = [f["name"] for f in folders]
    assert "configs" not in names and "custom_nodes" not in names and names[0] == "checkpoints"
    assert folders[0]["folders"] == runtime.folders.get_folder_paths("checkpoints")
    root = runtime.folders.get_folder_paths("loras")[0]
    write(os.path.join(root, "a.safetensors"), b"x" * 5)
    write(os.path.join(root, ".hidden.safetensors"), b"x")
    write(os.path.join(root, "readme.md"), b"x")
    files = server.get("/experiment/models/loras").json()
    assert [(f["name"], f["pathIndex"], f["size"]) for f in files] == [("a.safetensors", 0, 5)]
    assert set(files[0]) == {"name", "pathIndex", "modified", "created", "size"}
    assert server.get("/experiment/models/nope").status == 404


def test_experiment_model_previews(server, runtime):
    root = runtime.folders.get_folder_paths("loras")[0]
    write(os.path.join(root, "a.safetensors"), b"x")
    Image.new("RGB", (4, 4), (255, 0, 0)).save(os.path.join(root, "a.preview.png"))
    resp = server.get("/experiment/models/preview/loras/0/a.safetensors")
    assert resp.status == 200 and resp.content_type == "image/webp" and resp.body[:4] == b"RIFF"
    import base64

    cover = base64.b64encode(png_bytes()).decode()
    _safetensors(os.path.join(root, "b.safetensors"), {"__metadata__": {"ssmd_cover_images": json.dumps([cover])}})
    assert Image.open(io.BytesIO(server.get("/experiment/models/preview/loras/0/b.safetensors").body)).size == (8, 8)
    for bad in ("/experiment/models/preview/loras/0/c.safetensors", "/experiment/models/preview/loras/9/a.safetensors",
                "/experiment/models/preview/loras/x/a.safetensors", "/experiment/models/preview/nope/0/a.safetensors",
                "/experiment/models/preview/loras/0/..%2F..%2F..%2Fa.safetensors"):
        assert server.get(bad).status == 404, bad


def test_internal_files_newest_first(server, runtime):
    out = runtime.folders.output_dir
    write(os.path.join(out, "old.png"), b"1")
    write(os.path.join(out, ".hidden"), b"1")
    os.makedirs(os.path.join(out, "dir"))
    past = time.time() - 100
    os.utime(os.path.join(out, "old.png"), (past, past))
    write(os.path.join(out, "new.png"), b"1")
    assert server.get("/internal/files/output").json() == ["new.png", "old.png"]
    bad = server.get("/internal/files/models")
    assert bad.status == 400 and bad.json() == {"error": "Invalid directory type"}


def test_internal_folder_paths(server, runtime):
    paths = server.get("/internal/folder_paths").json()
    assert list(paths) == runtime.folders.model_folder_names()
    assert paths["checkpoints"] == runtime.folders.get_folder_paths("checkpoints")


def test_internal_logs(server):
    logging.getLogger("toucan_nb.test").warning("hello from the test")
    raw = server.get("/internal/logs/raw").json()
    assert set(raw) == {"entries", "size"} and set(raw["size"]) == {"cols", "rows"}
    entry = [e for e in raw["entries"] if e["m"] == "hello from the test\n"]
    assert entry and set(entry[0]) == {"t", "m"}
    text = server.get("/internal/logs").json()
    assert isinstance(text, str) and f"{entry[0]['t']} - hello from the test\n" in text


def test_logs_subscription_sends_ws_events(server):
    ws = server.ws("?clientId=logclient")
    ws.recv()
    assert server.request("PATCH", "/internal/logs/subscribe",
                          body=json.dumps({"clientId": "logclient", "enabled": True})).status == 200
    logging.getLogger("toucan_nb.test").warning("streamed line")
    while True:
        msg = json.loads(ws.recv())
        if msg["type"] == "logs" and msg["data"]["entries"][0]["m"] == "streamed line\n":
            break
    assert msg["data"]["size"] is None
    assert server.request("PATCH", "/internal/logs/subscribe", body=json.dumps({"clientId": "x"})).status == 400
    ws.close()
