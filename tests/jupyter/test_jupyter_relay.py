"""The extension's relay against fake kernels (tests/jupyter/fake_kernel.py) started by the
server's own kernel manager, under base_url /user/alice/ (docs/frontend.md §2, §6; docs/protocol.md §2, §13)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime, timezone

import pytest
from toucan_testing import WAIT, body_json, kernel_pid, pid_gone, read_attached, wait_for

from toucan_nb.host import connection_file
from toucan_nb.host.loopback import LoopbackServer

pytestmark = pytest.mark.timeout(90)


# -- before any kernel attaches ---------------------------------------------------------------


async def test_ui_loads_and_api_answers_503_before_attach(toucan):
    page = await toucan("")
    assert page.code == 200
    assert b"<html" in page.body.lower()
    # The page itself says why the UI cannot start yet, and reloads once a kernel attaches.
    assert b'id="toucan-no-kernel"' in page.body and b"%load_ext toucan_nb" in page.body
    status = await toucan("_toucan/attached")
    assert status.code == 200 and body_json(status) == {"attached": False}
    # QUIRK(docs/protocol.md §2): index.html is never cached.
    assert page.headers["Cache-Control"] == "no-cache"
    asset = await toucan("materialdesignicons.min.css")
    assert asset.code == 200
    assert asset.headers["Content-Type"].startswith("text/css")

    for path in ("api/object_info", "api/users", "prompt", "api/userdata/workflows%2Fx.json", "user.css"):
        response = await toucan(path)
        assert response.code == 503, path
        assert response.headers["Content-Type"].startswith("application/json")
        error = body_json(response)["error"]
        assert error.startswith("No kernel is attached to toucan.")
        assert "%load_ext toucan_nb" in error
    posted = await toucan("api/prompt", method="POST", body="{}")
    assert posted.code == 503
    assert body_json(posted)["error"].startswith("No kernel is attached")


async def test_mount_point_redirects_to_trailing_slash(toucan, jp_base_url):
    # docs/frontend.md §2.1: without the slash every asset 404s and the page stays blank.
    response = await toucan(f"{jp_base_url}toucan?x=1", raw=True)
    assert response.code == 302
    assert response.headers["Location"] == f"{jp_base_url}toucan/?x=1"
    response = await toucan(f"{jp_base_url}toucan/kernels/abc", raw=True)
    assert response.code == 302
    assert response.headers["Location"] == f"{jp_base_url}toucan/kernels/abc/"


async def test_path_traversal_does_not_leave_the_bundle(toucan):
    for path in ("..%2F..%2Fsetup.py", "assets/..%2F..%2F__init__.py", "%2e%2e/%2e%2e/__init__.py"):
        response = await toucan(path)
        assert response.code in (400, 403, 404, 503), path
        assert b"import" not in response.body


# -- relaying ---------------------------------------------------------------------------------


async def test_relays_to_the_latest_kernel_and_by_id(toucan, start_fake_kernel):
    first = await start_fake_kernel()
    second = await start_fake_kernel()

    latest = await toucan("api/object_info")
    assert latest.code == 200
    assert body_json(latest)["kernel_id"] == second
    assert body_json(latest)["path"] == "/api/object_info"  # the /toucan prefix is stripped

    by_id = await toucan(f"kernels/{first}/api/object_info")
    assert by_id.code == 200
    assert body_json(by_id)["kernel_id"] == first
    assert body_json(by_id)["path"] == "/api/object_info"

    # The UI is also served under a kernel's own prefix, so its api_base includes it.
    page = await toucan(f"kernels/{first}/")
    assert page.code == 200 and b"<html" in page.body.lower()
    assert b"toucan-no-kernel" not in page.body  # attached: the plain index, no notice
    assert b"toucan-no-kernel" not in (await toucan("")).body
    assert body_json(await toucan("_toucan/attached")) == {"attached": True}


async def test_relay_carries_method_body_query_headers_and_status(
    toucan, start_fake_kernel, same_origin, token, jp_runtime_dir
):
    kernel_id = await start_fake_kernel()
    info = read_attached(jp_runtime_dir, kernel_id)
    body = json.dumps({"prompt": {"1": {"class_type": "X", "inputs": {}}}, "client_id": "abc"})
    response = await toucan(
        f"api/prompt?a=1&b=%20x&token={token}",
        method="POST",
        body=body,
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "Comfy-User": "",
            "Origin": same_origin,
            "Cookie": "jupyter_cookie=secret",
            "X-Toucan-Secret": "forged",
        },
    )
    assert response.code == 200
    seen = body_json(response)
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/prompt"
    assert seen["query"] == "a=1&b=%20x"  # the Jupyter token never reaches the kernel
    assert seen["body"] == body
    headers = seen["headers"]
    assert headers["content-type"] == "text/plain;charset=UTF-8"
    assert headers["comfy-user"] == ""
    assert headers["x-toucan-secret"] == info.secret  # ours, not the client's
    for credential in ("authorization", "cookie", "origin", "referer"):
        assert credential not in headers, credential
    # Response: status, headers, no kernel cookies on the Jupyter origin.
    assert response.headers["X-Fake-Kernel"] == kernel_id
    assert "kernel_cookie" not in response.headers.get("Set-Cookie", "")

    for method in ("PUT", "PATCH", "DELETE"):
        r = await toucan(
            "api/userdata/x.json",
            method=method,
            body="" if method != "DELETE" else None,
            headers={"Origin": same_origin},
        )
        assert r.code == 200, method
        assert body_json(r)["method"] == method

    missing = await toucan("api/history/nope?status=404")
    assert missing.code == 404
    assert body_json(missing)["path"] == "/api/history/nope"

    head = await toucan("api/object_info", method="HEAD")
    assert head.code == 200 and head.body == b""

    moved = await toucan("api/x?status=302&location=/api/y")
    assert moved.code == 302
    assert moved.headers["Location"].endswith("/user/alice/toucan/api/y")


async def test_encoded_slash_in_userdata_reaches_the_kernel(toucan, start_fake_kernel, same_origin):
    # docs/frontend.md §6.2: the frontend encodes "/" in userdata file names as %2F.
    kernel_id = await start_fake_kernel()
    for path in ("api/userdata/workflows%2Fx.json", f"kernels/{kernel_id}/api/userdata/workflows%2Fx.json"):
        response = await toucan(path)
        assert response.code == 200
        assert body_json(response)["path"] == "/api/userdata/workflows%2Fx.json"
    moved = await toucan(
        "api/userdata/workflows%2Fa.json/move/workflows%2Fb%20c.json?overwrite=true",
        method="POST",
        headers={"Origin": same_origin},
    )
    assert moved.code == 200
    assert body_json(moved)["path"] == "/api/userdata/workflows%2Fa.json/move/workflows%2Fb%20c.json"
    assert body_json(moved)["query"] == "overwrite=true"


async def test_bad_input_passes_through_the_relay_untouched(toucan, start_fake_kernel, same_origin):
    # Issue 9's families (deep JSON, long and deep paths, NUL, odd encodings) are the kernel's to
    # judge: the relay forwards them byte for byte and never answers 5xx itself.
    kernel_id = await start_fake_kernel()
    deep = "[" * 5000 + "]" * 5000
    long_name = "a" * 300
    deep_path = "a%2F" * 3000
    cases = [
        ("api/prompt", "POST", deep),
        ("api/prompt", "POST", '{"prompt": {"1": 0}}'),
        (f"api/userdata?dir={'a/' * 3000}", "GET", None),
        (f"api/userdata/{long_name}", "POST", "x"),
        (f"api/userdata/{deep_path}", "GET", None),
        (f"kernels/{kernel_id}/api/userdata/{deep_path}/move/x.json", "POST", ""),
        ("api/userdata/a%00b", "DELETE", None),
        ("api/view?filename=%ff%fe&subfolder=..%2F..", "GET", None),
        ("api/settings/%E2%80%AE", "POST", '{"a": ' * 3000 + "1" + "}" * 3000),
    ]
    for path, method, body in cases:
        response = await toucan(path, method=method, body=body, headers={"Origin": same_origin})
        assert response.code == 200, (path, response.code)
        seen = body_json(response)
        assert seen["path"] == "/" + path.split("?")[0].removeprefix(f"kernels/{kernel_id}/"), path
        assert seen["body"] == (body or "")
    for kernel in ("a" * 5000, "%00", "%ff", "..%2F.."):
        response = await toucan(f"kernels/{kernel}/api/prompt")
        assert 400 <= response.code < 500, (kernel, response.code)


async def test_unknown_and_unattached_kernels(toucan, start_fake_kernel):
    silent = await start_fake_kernel(attach=False)
    response = await toucan("api/object_info")
    assert response.code == 503
    response = await toucan(f"kernels/{silent}/api/object_info")
    assert response.code == 503
    assert "is not attached to toucan" in body_json(response)["error"]
    response = await toucan("kernels/00000000-0000-0000-0000-000000000000/api/object_info")
    assert response.code == 404
    assert "runs no kernel" in body_json(response)["error"]


async def test_kernels_not_run_by_this_server_are_refused(toucan, start_fake_kernel, jp_runtime_dir):
    """A discovery file is not enough: the kernel manager must run that kernel, with that pid."""
    silent = await start_fake_kernel(attach=False)
    secret = "s" * 32
    served = []

    def app():
        from tornado import web

        class Leak(web.RequestHandler):
            def get(self):
                served.append(self.request.path)
                self.write({"leak": True})

        return web.Application([(r"/.*", Leak)])

    impostor = LoopbackServer(app, secret=secret)
    port = impostor.start()
    try:
        stranger = "11111111-2222-3333-4444-555555555555"  # no such kernel in our manager
        for kernel_id in (stranger, silent):  # ... and a real kernel id, but not its process
            info = connection_file.ConnectionInfo(kernel_id, os.getpid(), port, secret, time.time() + 60)
            connection_file.write(info, jp_runtime_dir)
        latest = await toucan("api/object_info")
        assert latest.code == 503
        by_id = await toucan(f"kernels/{stranger}/api/object_info")
        assert by_id.code == 404
        wrong_pid = await toucan(f"kernels/{silent}/api/object_info")
        assert wrong_pid.code == 503
        assert served == []
    finally:
        impostor.stop()


async def test_a_kernel_run_through_a_wrapper_process_is_accepted(
    jp_serverapp, toucan, start_fake_kernel, jp_runtime_dir
):
    """The kernel manager knows the wrapper's pid; the attached process is its child."""
    kernel_id = await start_fake_kernel(wrapped=True)
    info = read_attached(jp_runtime_dir, kernel_id)
    assert info.pid != kernel_pid(jp_serverapp, kernel_id)
    response = await toucan("api/object_info")
    assert response.code == 200
    assert body_json(response)["kernel_id"] == kernel_id


async def test_relayed_traffic_counts_as_kernel_activity(jp_serverapp, toucan, start_fake_kernel):
    """The runtime's work sends no Jupyter messages; idle culling must still see a used kernel."""
    kernel_id = await start_fake_kernel()
    km = jp_serverapp.kernel_manager
    before = datetime.now(timezone.utc)
    assert km.get_kernel(kernel_id).last_activity < before
    assert (await toucan("api/queue")).code == 200
    assert km.get_kernel(kernel_id).last_activity >= before
    assert km.last_kernel_activity >= before


# -- WebSocket ----------------------------------------------------------------------------------


async def test_websocket_relays_text_and_binary_both_ways(toucan_ws, start_fake_kernel):
    first = await start_fake_kernel()
    second = await start_fake_kernel()
    for path, kernel_id, upstream in (
        ("ws?clientId=abc123", second, "/ws"),
        ("api/ws?clientId=abc123", second, "/api/ws"),
        (f"kernels/{first}/ws?clientId=abc123", first, "/ws"),
    ):
        ws = await toucan_ws(path)
        greeting = json.loads(await asyncio.wait_for(ws.read_message(), WAIT))
        assert greeting["data"] == {"sid": "abc123", "kernel_id": kernel_id, "query": "clientId=abc123"}
        assert greeting["path"] == upstream
        await ws.write_message('{"type": "feature_flags", "data": {}}')
        assert await asyncio.wait_for(ws.read_message(), WAIT) == '{"type": "feature_flags", "data": {}}'
        frame = bytes(range(256)) * 3
        await ws.write_message(frame, binary=True)
        echoed = await asyncio.wait_for(ws.read_message(), WAIT)
        assert isinstance(echoed, bytes) and echoed == frame
        ws.close()


async def test_websocket_before_attach_is_refused_with_503(toucan_ws):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as info:
        await toucan_ws("ws")
    assert info.value.code == 503


# -- kernel death ---------------------------------------------------------------------------------


async def test_kernel_death_fails_pending_requests_and_closes_sockets(
    jp_serverapp, toucan, toucan_ws, start_fake_kernel
):
    kernel_id = await start_fake_kernel()
    ws = await toucan_ws("ws?clientId=x")
    await asyncio.wait_for(ws.read_message(), WAIT)
    pending = asyncio.ensure_future(toucan("slow"))
    directory = jp_serverapp.web_app.settings["toucan_nb_server"].kernels
    # Both relays must be waiting on the kernel before it dies.
    await wait_for(lambda: len(directory._watches) == 2, "both relays to watch the kernel")

    pid = kernel_pid(jp_serverapp, kernel_id)
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    response = await asyncio.wait_for(pending, WAIT)
    assert response.code == 503
    assert "stopped or detached" in body_json(response)["error"]
    assert await asyncio.wait_for(ws.read_message(), WAIT) is None  # closed, not hanging
    assert ws.close_code == 1011
    ws.close()
    assert time.monotonic() - started < 10
    await wait_for(lambda: pid_gone(pid), "the kernel to exit")

    after = await toucan("api/object_info")
    assert after.code == 503


async def test_kernel_dying_just_after_its_socket_closes_is_a_503(toucan, start_fake_kernel):
    """The race of a SIGKILL: the connection drops while the process still looks alive."""
    await start_fake_kernel()
    response = await toucan("drop?exit_after=0.3")
    assert response.code == 503
    assert "stopped or detached" in body_json(response)["error"]


async def test_live_kernel_that_drops_the_connection_is_a_502(toucan, start_fake_kernel):
    kernel_id = await start_fake_kernel()
    response = await toucan("drop")
    assert response.code == 502
    assert body_json(response)["error"] == f"Kernel {kernel_id} did not answer."


async def test_hung_kernel_that_stops_being_current_releases_relays(
    jp_serverapp, toucan, toucan_ws, start_fake_kernel, jp_runtime_dir
):
    """A kernel that hangs (its sockets stay open) but is detached: the watcher ends the relays."""
    kernel_id = await start_fake_kernel()
    ws = await toucan_ws("ws")
    await asyncio.wait_for(ws.read_message(), WAIT)
    pending = asyncio.ensure_future(toucan("slow"))
    directory = jp_serverapp.web_app.settings["toucan_nb_server"].kernels
    await wait_for(lambda: len(directory._watches) == 2, "both relays to watch the kernel")

    pid = kernel_pid(jp_serverapp, kernel_id)
    os.kill(pid, signal.SIGSTOP)
    try:
        # What a re-attach (or unload) does to the discovery file, seen while the process hangs.
        connection_file.path_for(kernel_id, jp_runtime_dir).unlink()
        response = await asyncio.wait_for(pending, WAIT)
        assert response.code == 503
        assert "stopped or detached" in body_json(response)["error"]
        assert await asyncio.wait_for(ws.read_message(), WAIT) is None
        ws.close()
    finally:
        os.kill(pid, signal.SIGCONT)
