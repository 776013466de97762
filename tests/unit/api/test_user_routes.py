"""/users, /settings, /userdata and /v2/userdata (docs/protocol.md §10) replayed against the recorded
sequence of vectors/misc_routes.json, plus multi-user and path rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.vectors import load

from .support import write

MISC = load("misc_routes.json")
WORKFLOW = json.dumps(MISC["GET /userdata/workflows%2Ftest.json"]["body"]).encode()


def check(resp, key: str, *, ignore: tuple[str, ...] = ()) -> None:
    vec = MISC[key]
    assert resp.status == vec["status"], key
    assert resp.content_type == vec["content_type"], key
    if "body" in vec:
        assert _strip(resp.json(), ignore) == _strip(vec["body"], ignore), key
    else:
        assert resp.body.decode() == vec["body_text"], key


def _strip(value, keys):
    if isinstance(value, list):
        return [_strip(v, keys) for v in value]
    if isinstance(value, dict):
        return {k: _strip(v, keys) for k, v in value.items() if k not in keys}
    return value


def test_recorded_sequence(server):
    check(server.get("/users"), "GET /users")
    check(server.get("/settings"), "GET /settings")
    check(server.get("/settings/Comfy.Nonexistent"), "GET /settings/Comfy.Nonexistent")
    check(server.get("/v2/userdata"), "GET /v2/userdata")
    check(server.get("/userdata?dir=workflows"), "GET /userdata?dir=workflows (before any POST)")
    # The stock UI posts settings as text/plain (docs/frontend.md §2.2).
    check(server.post("/settings/Comfy.TestSetting", {"a": 1}, headers={"Content-Type": "text/plain;charset=UTF-8"}),
          "POST /settings/Comfy.TestSetting")
    check(server.post("/settings", {"Comfy.Other": "x", "Comfy.Num": 3}), "POST /settings")
    check(server.get("/settings"), "GET /settings (after POST)")
    check(server.get("/settings/Comfy.TestSetting"), "GET /settings/Comfy.TestSetting")
    check(server.get("/users"), "GET /users (after settings written)")
    check(server.post("/userdata/workflows%2Ftest.json", raw=WORKFLOW), "POST /userdata/workflows%2Ftest.json")
    check(server.post("/userdata/workflows%2Ftest.json?overwrite=false", raw=WORKFLOW),
          "POST /userdata/workflows%2Ftest.json?overwrite=false")
    check(server.post("/userdata/workflows%2Fsub%2Fother.json?full_info=true", raw=WORKFLOW),
          "POST /userdata/workflows%2Fsub%2Fother.json?full_info=true", ignore=("modified", "created"))
    check(server.get("/userdata?dir=workflows"), "GET /userdata?dir=workflows")
    check(server.get("/userdata?dir=workflows&recurse=true"), "GET /userdata?dir=workflows&recurse=true")
    check(server.get("/userdata?dir=workflows&recurse=true&split=true"),
          "GET /userdata?dir=workflows&recurse=true&split=true")
    check(server.get("/userdata?dir=workflows&recurse=true&full_info=true"),
          "GET /userdata?dir=workflows&recurse=true&full_info=true", ignore=("modified", "created"))
    check(server.get("/userdata?dir=nonexistent"), "GET /userdata?dir=nonexistent")
    check(server.get("/userdata"), "GET /userdata (no dir)")
    check(server.get("/v2/userdata"), "GET /v2/userdata (after)", ignore=("modified", "size"))
    check(server.get("/v2/userdata?path=workflows"), "GET /v2/userdata?path=workflows", ignore=("modified",))
    got = server.get("/userdata/workflows%2Ftest.json")
    assert got.status == 200 and got.json() == MISC["GET /userdata/workflows%2Ftest.json"]["body"]
    assert got.content_type == "application/json"


def test_settings_file_is_indented(server, runtime):
    server.post("/settings/a", {"b": 1})
    text = Path(runtime.folders.user_dir, "default", "comfy.settings.json").read_text()
    assert text == json.dumps({"a": {"b": 1}}, indent=4)


def test_plain_slashes_and_moves(server, runtime):
    # jupyter-server-proxy decodes %2F (docs/frontend.md §6.2)
    assert server.post("/api/userdata/workflows/a.json", raw=b"{}").json() == "workflows/a.json"
    assert server.get("/api/userdata/workflows/a.json").body == b"{}"
    moved = server.post("/api/userdata/workflows/a.json/move/workflows/b.json?overwrite=false")
    assert moved.status == 200 and moved.json() == "workflows/b.json"
    assert server.post("/api/userdata/workflows%2Fb.json/move/workflows%2Fc.json?full_info=true").json()["path"] == \
        "workflows/c.json"
    server.post("/userdata/workflows%2Fd.json", raw=b"1")
    conflict = server.post("/userdata/workflows%2Fc.json/move/workflows%2Fd.json?overwrite=false")
    assert (conflict.status, conflict.body) == (409, b"File already exists")
    assert server.post("/userdata/workflows%2Fnope.json/move/workflows%2Fe.json").status == 404
    assert server.request("DELETE", "/userdata/workflows%2Fc.json").status == 204
    assert server.request("DELETE", "/userdata/workflows%2Fc.json").status == 404
    assert server.get("/userdata/workflows%2Fc.json").status == 404


def test_double_decoding_quirk(server):
    # QUIRK(docs/protocol.md §10): a segment that still contains % is decoded again.
    assert server.post("/userdata/workflows%252Fx.json", raw=b"1").json() == "workflows/x.json"


def test_range_requests_on_user_files(server):
    server.post("/userdata/big.bin", raw=bytes(range(256)))
    part = server.get("/userdata/big.bin", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == bytes(range(10, 20))
    etag = part.headers["ETag"]
    assert server.get("/userdata/big.bin", headers={"If-None-Match": etag}).status == 304


@pytest.mark.parametrize("path", ["/userdata/..%2F..%2Fescape.json", "/userdata/%2Fetc%2Fpasswd",
                                  "/userdata/..%252F..%252Fescape.json", "/userdata/a%00b.json",
                                  "/userdata/sub/..%2F..%2F..%2Fescape.json"])
def test_userdata_escapes_are_refused(server, runtime, path):
    for method in ("GET", "POST", "DELETE"):
        resp = server.request(method, path, body=b"x" if method == "POST" else None)
        assert resp.status in (400, 403), (method, path, resp.status)
        assert resp.content_type == "application/json; charset=utf-8"
    assert not os.path.exists(os.path.join(runtime.folders.base_dir, "escape.json"))


def test_listing_refuses_escapes(server):
    assert server.get("/userdata?dir=..%2F..").status == 403
    assert server.get("/v2/userdata?path=..%2F..").status in (400, 403)
    server.post("/userdata/x.json", raw=b"1")
    assert server.get("/v2/userdata?path=..").status == 400
    assert server.get("/v2/userdata?path=x.json").status == 400
    assert server.get("/v2/userdata?path=missing").status == 404


def test_symlinks_pointing_out_are_refused(server, runtime, tmp_path):
    secret = write(str(tmp_path / "outside" / "secret.txt"), "top secret")
    root = os.path.join(runtime.folders.user_dir, "default")
    os.makedirs(root, exist_ok=True)
    os.symlink(secret, os.path.join(root, "link.txt"))
    os.symlink(os.path.dirname(secret), os.path.join(root, "linkdir"))
    assert server.get("/userdata/link.txt").status == 403
    assert server.get("/userdata/linkdir%2Fsecret.txt").status == 403
    assert server.post("/userdata/linkdir%2Fnew.txt", raw=b"x").status == 403
    listing = json.dumps(server.get("/v2/userdata").json())
    assert "secret" not in listing and "link.txt" not in listing
    assert server.get("/userdata?dir=linkdir").status == 403


def test_multi_user(make_server, runtime):
    srv = make_server(multi_user=True)
    assert srv.get("/users").json() == {"storage": "server", "users": {}}
    user_id = srv.post("/users", {"username": "Alice Smith"}).json()
    assert user_id.startswith("Alice-Smith_")
    assert srv.post("/users", {"username": "Alice Smith"}).json() == {"error": "Duplicate username."}
    assert srv.post("/users", {"username": "  "}).json() == {"error": "username not provided"}
    assert srv.post("/users", {"username": "__sys"}).json() == {"error": "System User prefix not allowed"}
    assert srv.get("/users").json()["users"] == {user_id: "Alice Smith"}
    assert srv.get("/settings").status == 401  # no header: "default" is not a user here
    assert srv.get("/settings", headers={"Comfy-User": "__system"}).status == 401
    assert srv.get("/v2/userdata", headers={"Comfy-User": "nobody"}).status == 403
    hdr = {"Comfy-User": user_id}
    assert srv.post("/settings/x", {"y": 1}, headers=hdr).status == 200
    assert srv.get("/settings", headers=hdr).json() == {"x": {"y": 1}}
    assert os.path.isfile(os.path.join(runtime.folders.user_dir, user_id, "comfy.settings.json"))
    users_file = json.loads(Path(runtime.folders.user_dir, "users.json").read_text())
    assert users_file == {user_id: "Alice Smith"}


def test_single_user_ignores_the_header(server):
    assert server.post("/settings/a", 1, headers={"Comfy-User": "someone"}).status == 200
    assert server.get("/settings", headers={"Comfy-User": ""}).json() == {"a": 1}


LONG_NAME = "a" * 300
PATHS_NO_FILE_CAN_HAVE = {
    "a name over 255 bytes": LONG_NAME,
    "a path over 4095 bytes": "/".join(["a" * 250] * 20),
    "too deep for a walk": "a/" * 3000 + "x.json",
    "deeper than the limit": "d/" * 101 + "x.json",
}


@pytest.mark.parametrize("rel", PATHS_NO_FILE_CAN_HAVE.values(), ids=PATHS_NO_FILE_CAN_HAVE.keys())
@pytest.mark.parametrize("encode", [lambda p: p.replace("/", "%2F"), lambda p: p], ids=["%2F", "slash"])
def test_paths_no_file_can_have_are_404_to_read_and_400_to_write(server, runtime, rel, encode):
    # ComfyUI answers these with a 500 (OSError ENAMETOOLONG from os.makedirs, or RecursionError),
    # except a single long name, where its reads find nothing (404) and its write fails (400).
    path = encode(rel)
    server.post("/userdata/x.json", raw=b"1")
    listing = server.get("/userdata?dir=" + rel.replace("/", "%2F"))
    assert (listing.status, listing.body) == (404, b"Directory not found")
    reads = {"get": server.get("/userdata/" + path), "delete": server.request("DELETE", "/userdata/" + path),
             "move from": server.post("/userdata/" + path + "/move/y.json")}
    assert {what: (r.status, r.json()) for what, r in reads.items()} == {
        "get": (404, {"error": "file not found"}), "delete": (404, {"error": "file not found"}),
        "move from": (404, {"error": "source not found"})}
    for what, resp in {"post": server.post("/userdata/" + path, raw=b"1"),
                       "move to": server.post("/userdata/x.json/move/" + path)}.items():
        assert resp.status == 400, (what, resp.status, resp.body)
        assert resp.content_type == "application/json; charset=utf-8"
        assert resp.json()["error"].startswith(("File name too long", "Path too long", "Path nested too deeply"))
    # Nothing was created on the way (os.makedirs used to create parents until it failed).
    assert os.listdir(os.path.join(runtime.folders.user_dir, "default")) == ["x.json"]


def test_a_path_at_the_limits_still_works(server):
    name = "b" * 255
    assert server.post(f"/userdata/{name}", raw=b"1").status == 200
    deep = "d/" * 99 + "x.json"
    assert server.post("/userdata/" + deep.replace("/", "%2F"), raw=b"2").json() == deep
    assert server.get("/userdata/" + deep).body == b"2"
    assert server.get("/userdata?dir=" + "d%2F" * 99).json() == ["x.json"]


def test_a_parent_that_is_a_file(server):
    # os.makedirs fails (ENOTDIR): a read finds nothing, a write is refused, nothing is a 500.
    server.post("/userdata/f.json", raw=b"1")
    assert server.get("/userdata/f.json%2Fsub%2Fx.json").status == 404
    assert server.get("/userdata?dir=f.json%2Fsub").status == 404
    assert server.request("DELETE", "/userdata/f.json%2Fsub%2Fx.json").status == 404
    assert server.post("/userdata/f.json%2Fsub%2Fx.json", raw=b"2").status == 400
    assert server.post("/userdata/f.json/move/f.json%2Fsub%2Fx.json").status == 400
