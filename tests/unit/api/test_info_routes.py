"""Server-info routes against docs/protocol.md §4-§5 and vectors/misc_routes.json."""

from __future__ import annotations

import json
import os
import struct

from tests.support.vectors import load

from .support import write

MISC = load("misc_routes.json")


def test_features_match_the_vector(server):
    resp = server.get("/features")
    vec = MISC["GET /features"]
    assert resp.status == vec["status"] and resp.content_type == vec["content_type"]
    assert resp.body.decode() == json.dumps(vec["body"])  # int max_upload_size by default


def test_features_float_when_the_limit_is_given_as_float(make_server):
    # vectors README §1: the flag is a float only when --max-upload-size is given.
    assert make_server(max_upload_size_mb=100.0).get("/features").json()["max_upload_size"] == 104857600.0
    assert isinstance(make_server(max_upload_size_mb=100.0).get("/features").json()["max_upload_size"], float)


def test_system_stats_shape(make_server):
    resp = make_server(argv=("main.py", "--listen")).get("/system_stats")
    body, vec = resp.json(), MISC["GET /system_stats"]["body"]
    assert list(vec["system"]) == [k for k in body["system"] if k in vec["system"]]
    assert body["system"]["argv"] == ["main.py", "--listen"]
    assert isinstance(body["system"]["ram_total"], int) and body["system"]["os"] == vec["system"]["os"]
    assert len(body["devices"]) == 1
    assert list(body["devices"][0]) == list(vec["devices"][0])
    assert body["devices"][0]["type"] in ("cpu", "cuda")


def test_models_and_folders(server, runtime):
    assert server.get("/models").json() == MISC["GET /models"]["body"]
    assert server.get("/models/checkpoints").json() == []
    missing = server.get("/models/nonexistent")
    assert missing.status == 404
    assert server.get("/models/unet").status == 404  # legacy alias is not a key (§4)
    root = runtime.folders.get_folder_paths("checkpoints")[0]
    write(os.path.join(root, "b.safetensors"), b"x")
    write(os.path.join(root, "sub", "a.ckpt"), b"x")
    write(os.path.join(root, "notes.txt"), b"x")
    assert server.get("/models/checkpoints").json() == ["b.safetensors", "sub/a.ckpt"]


def test_embeddings_drop_extensions(server, runtime):
    root = runtime.folders.get_folder_paths("embeddings")[0]
    write(os.path.join(root, "easynegative.safetensors"), b"x")
    write(os.path.join(root, "sub", "foo.pt"), b"x")
    assert sorted(server.get("/embeddings").json()) == ["easynegative", "sub/foo"]


def _safetensors(path: str, header: dict) -> None:
    raw = json.dumps(header).encode()
    write(path, struct.pack("<Q", len(raw)) + raw)


def test_view_metadata(server, runtime):
    root = runtime.folders.get_folder_paths("loras")[0]
    _safetensors(os.path.join(root, "x.safetensors"), {"__metadata__": {"ss_name": "x"}})
    _safetensors(os.path.join(root, "nometa.safetensors"), {"w": {}})
    assert server.get("/view_metadata/loras?filename=x.safetensors").json() == {"ss_name": "x"}
    for bad in ("/view_metadata/loras", "/view_metadata/loras?filename=nometa.safetensors",
                "/view_metadata/loras?filename=x.ckpt", "/view_metadata/loras?filename=missing.safetensors",
                "/view_metadata/nofolder?filename=x.safetensors",
                "/view_metadata/loras?filename=..%2Fmodels_outside.safetensors"):
        assert server.get(bad).status == 404, bad
    # `..` is clamped at the folder root (as ComfyUI's get_full_path): it never leaves the folder.
    _safetensors(os.path.join(os.path.dirname(root), "models_outside.safetensors"), {"__metadata__": {"a": "b"}})
    assert server.get("/view_metadata/loras?filename=..%2Fmodels_outside.safetensors").status == 404
    assert server.get("/view_metadata/loras?filename=..%2F..%2Fx.safetensors").json() == {"ss_name": "x"}


def test_extensions_list_pack_scripts(server, runtime, tmp_path):
    web = tmp_path / "packweb"
    write(str(web / "main.js"), "export {}")
    write(str(web / "sub" / "x.js"), "export {}")
    write(str(web / "style.css"), "")
    runtime.registry.web_dirs["my pack"] = str(web)
    assert sorted(server.get("/extensions").json()) == ["/extensions/my%20pack/main.js",
                                                        "/extensions/my%20pack/sub/x.js"]
    script = server.get("/extensions/my%20pack/sub/x.js")
    assert script.status == 200 and script.body == b"export {}"
    assert script.headers["Cache-Control"] == "no-cache"  # .js rule of §3.1
    assert server.get("/extensions/my%20pack/../../etc/passwd").status == 404
    assert server.get("/extensions/other/x.js").status == 404


def test_object_info(server):
    info = server.get("/object_info").json()
    assert list(info) == ["ImageSource", "ImageSink"]
    one = server.get("/object_info/ImageSource").json()
    assert one["ImageSource"]["input"]["required"]["mode"] == [["a", "b"], {"tooltip": "which"}]
    assert one["ImageSource"]["display_name"] == "Image Source"
    unknown = server.get("/object_info/NoSuchNode")
    assert unknown.status == 200 and unknown.json() == {}
