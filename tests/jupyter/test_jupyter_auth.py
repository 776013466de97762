"""Jupyter authentication on every toucan route and /ws, token and cookie logins, and the refusal
of cross-site requests. The XSRF rule for cookie-authenticated requests: test_jupyter_xsrf.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError
from toucan_testing import WAIT, body_json, log_in

pytestmark = pytest.mark.timeout(90)

EVIL = "http://evil.example"


def assert_no_data(response, path: str) -> None:
    assert response.code in (302, 401, 403), (path, response.code)
    if response.code == 302:
        assert "/login" in response.headers["Location"], (path, response.headers["Location"])
    body = response.body or b""
    assert b"kernel_id" not in body and b"<html" not in body.lower(), (path, body[:200])


async def test_every_route_refuses_unauthenticated_requests(
    toucan, toucan_ws, start_fake_kernel, jp_base_url
):
    kernel_id = await start_fake_kernel()  # data would be there for the taking
    paths = [
        "",
        "index.html",
        "materialdesignicons.min.css",
        "api/",
        "api/object_info",
        "object_info",
        "prompt",
        "api/userdata/workflows%2Fx.json",
        "internal/logs",
        f"kernels/{kernel_id}/",
        f"kernels/{kernel_id}/api/object_info",
    ]
    for path in paths:
        for headers in ({}, {"Authorization": "token wrong"}):
            assert_no_data(await toucan(path, auth=False, headers=headers), path)
            assert_no_data(await toucan(path, auth=False, headers=headers, method="HEAD"), path)
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            body = "{}" if method in ("POST", "PUT", "PATCH") else None
            response = await toucan(path, auth=False, method=method, body=body)
            assert response.code == 403, (method, path, response.code)
            assert b"kernel_id" not in response.body
    for raw in (f"{jp_base_url}toucan", f"{jp_base_url}toucan/kernels/{kernel_id}"):
        assert_no_data(await toucan(raw, raw=True, auth=False), raw)
    for path in ("ws", "api/ws", f"kernels/{kernel_id}/ws", "ws?token=wrong"):
        with pytest.raises(HTTPClientError) as refused:
            await toucan_ws(path, auth=False)
        assert refused.value.code == 403, path


async def test_page_request_redirects_to_login(toucan, jp_base_url):
    response = await toucan("", auth=False)
    assert response.code == 302
    assert response.headers["Location"].startswith(f"{jp_base_url}login?next=")
    api = await toucan("api/object_info", auth=False)
    assert api.code == 403
    assert api.headers["Content-Type"].startswith("application/json")
    assert "error" in body_json(api)


async def test_token_and_cookie_logins_reach_the_kernel(toucan, toucan_ws, start_fake_kernel, token):
    kernel_id = await start_fake_kernel()
    session = await log_in(toucan, token)
    by_header = await toucan("api/object_info")
    assert by_header.code == 200 and body_json(by_header)["kernel_id"] == kernel_id
    by_query = await toucan(f"api/object_info?token={token}", auth=False)
    assert by_query.code == 200 and body_json(by_query)["query"] == ""
    by_cookie = await toucan("api/object_info", auth=False, headers=session.fetch_headers())
    assert by_cookie.code == 200
    echoed = body_json(by_cookie)["headers"]
    # Jupyter's login and XSRF token never reach the kernel.
    assert "cookie" not in echoed and "x-xsrftoken" not in echoed

    ws = await toucan_ws(f"ws?clientId=c1&_xsrf={session.xsrf_arg}", auth=False, headers=session.cookie_header())
    greeting = json.loads(await asyncio.wait_for(ws.read_message(), WAIT))
    assert greeting["data"]["sid"] == "c1"
    ws.close()


async def test_cross_site_requests_are_refused(toucan, toucan_ws, start_fake_kernel, token, same_origin):
    await start_fake_kernel()
    session = await log_in(toucan, token)
    forged = {**session.fetch_headers(), "Content-Type": "text/plain;charset=UTF-8"}
    for origin in (EVIL, "null", f"{same_origin}.evil.example"):
        for method, path, body in (("POST", "api/prompt", "{}"), ("GET", "api/history", None)):
            response = await toucan(path, auth=False, method=method, body=body, headers={**forged, "Origin": origin})
            assert response.code == 403, (origin, method)
            assert body_json(response) == {"error": "cross-origin request refused"}
    # The cross-site WebSocket is refused like Jupyter's own, XSRF token or not.
    with pytest.raises(HTTPClientError) as refused:
        await toucan_ws(f"ws?_xsrf={session.xsrf_arg}", auth=False, headers={**session.cookie_header(), "Origin": EVIL})
    assert refused.value.code == 403
    # Scripts with the token are not cookie-borne: exempt, as in Jupyter.
    scripted = await toucan("api/prompt", method="POST", body="{}", headers={"Origin": EVIL})
    assert scripted.code == 200
