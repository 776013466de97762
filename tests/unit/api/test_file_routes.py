"""/upload/image, /upload/mask and /view (docs/protocol.md §9), uploads replayed from vectors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.support.vectors import load

from .support import multipart, png_bytes, write

UPLOADS = load("misc_routes.json")["upload_image"]


def upload(server, path="/upload/image", fields=None, name="up.png", data=b"", with_file=True):
    body, ctype = multipart(fields or {}, {"image": (name, data)} if with_file else {})
    return server.request("POST", path, body=body, headers={"Content-Type": ctype})


def test_upload_sequence_matches_the_vector(server, runtime):
    write(os.path.join(runtime.folders.input_dir, "example.png"), png_bytes((1, 1, 1, 255)))
    payloads = {75: b"A" * 75, 77: b"B" * 77, 76: b"C" * 76}
    for key in ("1_new_upload", "2_duplicate_identical", "3_same_name_different_content",
                "4_same_name_different_content_again", "4b_same_name_third_content",
                "5_overwrite_true_different_content", "6_subfolder_temp_type", "8_no_image_part",
                "9_subfolder_escape"):
        case = UPLOADS[key]
        data = payloads.get(case.get("file_bytes", 0), b"")
        resp = upload(server, fields=case.get("form_fields"), name=case.get("filename", "x.png"), data=data,
                      with_file="filename" in case)
        assert resp.status == case["response"]["status"], key
        if "body" in case["response"]:
            assert resp.json() == case["response"]["body"], key
    listing = sorted(os.listdir(runtime.folders.input_dir))
    assert listing == load("misc_routes.json")["listing of input dir after uploads"]
    assert Path(runtime.folders.input_dir, "up.png").read_bytes() == payloads[77]
    assert os.path.isfile(os.path.join(runtime.folders.temp_dir, "sub", "dir", "up.png"))


def test_identical_existing_file_is_reused(server, runtime):
    data = png_bytes()
    write(os.path.join(runtime.folders.input_dir, "example.png"), data)
    assert upload(server, name="example.png", data=data).json() == UPLOADS["7_existing_example_png_identical"][
        "response"]["body"]


@pytest.mark.parametrize(("fields", "name"), [
    ({"type": "nope"}, "x.png"),            # Deviation: ComfyUI 500
    ({"subfolder": "../../.."}, "x.png"),
    ({"subfolder": "/etc"}, "x.png"),
    ({}, "../x.png"),
    ({}, "a/b.png"),
    ({}, ".."),
])
def test_bad_uploads_are_400_json(server, runtime, fields, name):
    resp = upload(server, fields=fields, name=name, data=b"x")
    assert resp.status == 400 and resp.json()["error"]
    assert not os.path.exists(os.path.join(runtime.folders.base_dir, "x.png"))


@pytest.mark.parametrize(("fields", "name", "error"), [
    ({}, "a" * 256 + ".png", "File name too long"),           # was a 500 (OSError ENAMETOOLONG)
    ({"subfolder": "a/" * 3000}, "x.png", "Path too long"),   # was a 500 (RecursionError in makedirs)
    ({"subfolder": "d/" * 100}, "x.png", "Path nested too deeply"),
    ({"subfolder": "a" * 300}, "x.png", "File name too long"),
])
def test_uploads_no_file_can_hold_are_400_and_create_nothing(server, runtime, fields, name, error):
    resp = upload(server, fields=fields, name=name, data=b"x")
    assert resp.status == 400 and resp.json()["error"].startswith(error)
    assert os.listdir(runtime.folders.input_dir) == []


def test_an_upload_at_the_limits_is_saved(server, runtime):
    name = "a" * 251 + ".png"
    assert upload(server, fields={"subfolder": "d/" * 98 + "d"}, name=name, data=b"x").status == 200
    assert os.path.isfile(os.path.join(runtime.folders.input_dir, *["d"] * 99, name))
    # A renamed duplicate would grow past 255 bytes: refused, not a 500.
    resp = upload(server, fields={"subfolder": "d/" * 98 + "d"}, name=name, data=b"y")
    assert resp.status == 400 and resp.json()["error"].startswith("File name too long")


def _headers_only(srv, path: str, length: int) -> tuple[int, bytes]:
    """Send a request's headers announcing `length` body bytes, none of the body, read the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), body


def test_upload_limit_is_413_json_before_the_body_is_read(make_server):
    srv = make_server(max_upload_size_mb=1)
    for path in ("/upload/image", "/prompt", "/userdata/x.json"):
        status, body = _headers_only(srv, path, 2 * 1024 * 1024)
        assert status == 413 and b"Maximum request body size" in body, path
    assert srv.get("/features").status == 200
    resp = upload(srv, data=b"x" * 1000)
    assert resp.status == 200


def test_upload_limit_chunked(make_server):
    import http.client

    srv = make_server(max_upload_size_mb=0.01)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.putrequest("POST", "/settings")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(20):
        chunk = b"x" * 1024
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def _rgba_png(path: str, alpha: int, size=(4, 4), text: dict | None = None) -> None:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.new("RGBA", size, (200, 100, 50, alpha)).save(path, pnginfo=info)


def test_upload_mask_replaces_alpha(server, runtime):
    _rgba_png(os.path.join(runtime.folders.input_dir, "photo.png"), 255, text={"prompt": "{}"})
    mask = png_bytes((9, 9, 9, 40), size=(4, 4))
    ref = '{"filename": "photo.png", "subfolder": "", "type": "input"}'
    resp = upload(server, "/upload/mask", {"original_ref": ref}, name="photo.png", data=mask)
    assert resp.status == 200 and resp.json() == {"name": "photo (1).png", "subfolder": "", "type": "input"}
    with Image.open(os.path.join(runtime.folders.input_dir, "photo (1).png")) as out:
        assert out.getpixel((0, 0)) == (200, 100, 50, 40) and out.text == {"prompt": "{}"}


def test_upload_mask_quirks(server, runtime):
    mask = png_bytes()
    # QUIRK(docs/protocol.md §9.2): a missing original writes nothing but answers 200.
    ref = '{"filename": "missing.png", "type": "input"}'
    resp = upload(server, "/upload/mask", {"original_ref": ref}, name="m.png", data=mask)
    assert resp.status == 200 and not os.path.exists(os.path.join(runtime.folders.input_dir, "m.png"))
    escape = '{"filename": "../../etc/passwd", "type": "input"}'
    assert upload(server, "/upload/mask", {"original_ref": escape}, name="m.png", data=mask).status == 200
    assert upload(server, "/upload/mask", {}, name="m.png", data=mask).status == 400  # ComfyUI 500
    _rgba_png(os.path.join(runtime.folders.input_dir, "small.png"), 255, size=(2, 2))
    ref = '{"filename": "small.png", "type": "input"}'
    assert upload(server, "/upload/mask", {"original_ref": ref}, name="n.png", data=mask).status == 400


def test_view_raw_and_annotated(server, runtime):
    data = png_bytes()
    write(os.path.join(runtime.folders.output_dir, "a.png"), data)
    write(os.path.join(runtime.folders.input_dir, "sub", "b.png"), data)
    resp = server.get("/view?filename=a.png")
    assert resp.status == 200 and resp.body == data and resp.content_type == "image/png"
    assert resp.headers["Content-Disposition"] == 'filename="a.png"'
    assert "Cache-Control" not in resp.headers  # §3.1: /view gets none
    assert server.get("/view?filename=b.png&type=input&subfolder=sub").body == data
    assert server.get("/view?filename=b.png%20[input]&type=output&subfolder=sub").body == data
    assert server.get("/api/view?filename=dir/a.png").body == data  # only the basename counts
    assert server.get("/view?filename=a.png", headers={"Range": "bytes=0-3"}).body == data[:4]


def test_view_forces_download_for_active_content(server, runtime):
    write(os.path.join(runtime.folders.output_dir, "x.html"), "<script>alert(1)</script>")
    write(os.path.join(runtime.folders.output_dir, "x.js"), "alert(1)")
    assert server.get("/view?filename=x.html").content_type == "application/octet-stream"
    assert server.get("/view?filename=x.js").content_type == "application/octet-stream"


def test_view_renders(server, runtime):
    path = os.path.join(runtime.folders.output_dir, "c.png")
    Image.new("RGBA", (8, 8), (10, 20, 30, 128)).save(path)
    webp = server.get("/view?filename=c.png&preview=webp;50")
    assert webp.content_type == "image/webp" and webp.body[:4] == b"RIFF"
    jpeg = server.get("/view?filename=c.png&preview=jpeg")
    assert jpeg.content_type == "image/jpeg" and jpeg.body[:2] == b"\xff\xd8"
    assert server.get("/view?filename=c.png&preview=jpeg&channel=a").content_type == "image/webp"
    rgb = Image.open(io.BytesIO(server.get("/view?filename=c.png&channel=rgb").body))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (10, 20, 30)
    alpha = Image.open(io.BytesIO(server.get("/view?filename=c.png&channel=a").body))
    assert alpha.getpixel((0, 0)) == (0, 0, 0, 128)


@pytest.mark.parametrize(("query", "status"), [
    ("", 404), ("?filename=", 400), ("?filename=..%2Fx.png", 400), ("?filename=%2Fetc%2Fpasswd", 400),
    ("?filename=a.png&type=nope", 400), ("?filename=a.png&subfolder=..%2F..", 403),
    ("?filename=a.png&subfolder=%2Fetc", 403), ("?filename=missing.png", 404),
    ("?filename=a%00.png", 400), ("?filename=notes.txt&preview=webp", 400),
])
def test_view_errors(server, runtime, query, status):
    write(os.path.join(runtime.folders.output_dir, "a.png"), png_bytes())
    write(os.path.join(runtime.folders.output_dir, "notes.txt"), "hello")
    resp = server.get("/view" + query)
    assert resp.status == status and resp.content_type == "application/json; charset=utf-8"


def test_view_refuses_symlinks_out(server, runtime, tmp_path):
    secret = write(str(tmp_path / "outside" / "s.png"), png_bytes())
    os.symlink(secret, os.path.join(runtime.folders.output_dir, "s.png"))
    os.symlink(os.path.dirname(secret), os.path.join(runtime.folders.output_dir, "ln"))
    assert server.get("/view?filename=s.png").status == 403
    assert server.get("/view?filename=s.png&subfolder=ln").status == 403
