"""The XSRF rule of every toucan route and /ws (server_ext auth module docstring), request by request.

A JupyterHub without subdomains serves every user from one origin, so a page of another user's
server sends same-origin requests that carry this user's login cookie. Only Jupyter's XSRF token
tells them apart: a cookie-authenticated request needs it unless it is a navigation, an element's
load, or a public bundle file; a token-authenticated one never does. The same rule under a real
JupyterHub: tests/hub.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError
from toucan_testing import WAIT, body_json, log_in

pytestmark = pytest.mark.timeout(90)

# What a browser adds to a request (Fetch Metadata), by kind of request.
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none"}
FETCH = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "same-origin"}
NO_CORS_FETCH = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "same-origin"}
IMAGE = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "same-origin"}
MODULE_SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "script", "Sec-Fetch-Site": "same-origin"}
JSON_MODULE = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "json", "Sec-Fetch-Site": "same-origin"}
WEBSOCKET = {"Sec-Fetch-Mode": "websocket", "Sec-Fetch-Dest": "websocket", "Sec-Fetch-Site": "same-origin"}
MISSING = "needs Jupyter's XSRF token"


async def open_ui(toucan, start_fake_kernel, token):
    """A kernel attached, and the cookies of a browser that opened the UI with ?token=."""
    await start_fake_kernel()
    return await log_in(toucan, token)


async def status(toucan, path, headers, **kwargs) -> int:
    response = await toucan(path, auth=False, headers=headers, **kwargs)
    if response.code == 403:
        assert response.headers["Content-Type"].startswith("application/json")
    return response.code


async def test_fetches_need_the_token(toucan, same_origin, start_fake_kernel, token):
    session = await open_ui(toucan, start_fake_kernel, token)
    cookies = session.cookie_header()
    for path in ("api/history", "api/settings", "api/queue", "api/userdata?dir=workflows", "api/jobs",
                 "internal/logs", "_toucan/attached"):
        # A page's fetch() with the cookies alone, as another user's page on the hub origin sends it.
        refused = await toucan(path, auth=False, headers={**cookies, **FETCH, "Origin": same_origin})
        assert refused.code == 403, path
        assert MISSING in body_json(refused)["error"]
        assert await status(toucan, path, {**cookies, **NO_CORS_FETCH}) == 403, path
        assert await status(toucan, path, {**cookies, **JSON_MODULE}) == 403, path
        # With the token, as the UI's patched fetch sends it.
        assert await status(toucan, path, {**session.fetch_headers(), **FETCH}) == 200, path
    for method, body in (("POST", '"1.58.1"'), ("DELETE", None), ("PUT", "{}"), ("PATCH", "{}")):
        headers = {**cookies, **FETCH, "Origin": same_origin, "Content-Type": "text/plain;charset=UTF-8"}
        assert await status(toucan, "api/settings/x", headers, method=method, body=body) == 403, method
        # The token as a header or as the _xsrf argument.
        with_header = {**headers, "X-XSRFToken": session.xsrf}
        assert await status(toucan, "api/settings/x", with_header, method=method, body=body) == 200, method
        with_argument = f"api/settings/x?_xsrf={session.xsrf_arg}"
        assert await status(toucan, with_argument, headers, method=method, body=body) == 200, method


async def test_a_wrong_token_is_refused(toucan, same_origin, start_fake_kernel, token):
    session = await open_ui(toucan, start_fake_kernel, token)
    wrong = {**session.cookie_header(), **FETCH, "X-XSRFToken": "2|00000000|00000000|0"}
    assert await status(toucan, "api/history", wrong) == 403
    # A token without its cookie (another browser's token) is refused too.
    stolen = {"Cookie": session.login, **FETCH, "X-XSRFToken": session.xsrf}
    assert await status(toucan, "api/history", stolen) == 403
    posted = await toucan("api/prompt", auth=False, method="POST", body="{}",
                          headers={**wrong, "Origin": same_origin})
    assert posted.code == 403


async def test_navigations_elements_and_bundle_files_need_no_token(toucan, start_fake_kernel, token):
    session = await open_ui(toucan, start_fake_kernel, token)
    cookies = session.cookie_header()
    # A top-level load or a new tab (an image opened from the UI).
    for path in ("", "api/history", "api/view?filename=a.png&type=output"):
        assert await status(toucan, path, {**cookies, **NAVIGATION}) == 200, path
        assert await status(toucan, path, {**cookies, **NAVIGATION}, method="HEAD") == 200, path
    # A navigation is a GET: a POST claiming to be one still needs the token.
    assert await status(toucan, "api/prompt", {**cookies, **NAVIGATION}, method="POST", body="{}") == 403
    # <img src=...> and custom-node module scripts cannot carry a header.
    assert await status(toucan, "api/view?filename=a.png&type=output", {**cookies, **IMAGE}) == 200
    assert await status(toucan, "extensions/pack/x.js", {**cookies, **MODULE_SCRIPT}) == 200
    # The bundle's own files hold no user data: the UI's module scripts and its XHRs of templates.
    assert await status(toucan, "materialdesignicons.min.css", {**cookies, **FETCH}) == 200
    assert await status(toucan, "", {**cookies, **FETCH}) == 200


async def test_requests_without_fetch_metadata(toucan, start_fake_kernel, token):
    """Browsers send no Sec-Fetch headers to a plain-HTTP origin other than localhost: elements'
    routes still load there; JSON routes still need the token (the UI sends it)."""
    session = await open_ui(toucan, start_fake_kernel, token)
    cookies = session.cookie_header()
    assert await status(toucan, "", cookies) == 200
    assert await status(toucan, "api/view?filename=a.png&type=output", cookies) == 200
    assert await status(toucan, "view?filename=a.png&type=output", cookies) == 200
    assert await status(toucan, "extensions/pack/x.js", cookies) == 200
    for path in ("api/history", "api/object_info", "api/userdata/workflows%2Fx.json"):
        assert await status(toucan, path, cookies) == 403, path
        assert await status(toucan, path, session.fetch_headers()) == 200, path


async def test_token_authenticated_clients_need_no_xsrf_token(toucan, token, start_fake_kernel):
    await start_fake_kernel()
    for headers in ({"Authorization": f"token {token}"}, {"Authorization": f"token {token}", **FETCH}):
        assert await status(toucan, "api/history", headers) == 200
        assert await status(toucan, "api/prompt", headers, method="POST", body="{}") == 200
    assert await status(toucan, f"api/history?token={token}", FETCH) == 200


async def test_websocket_needs_the_token_as_argument(toucan, toucan_ws, token, same_origin, start_fake_kernel):
    session = await open_ui(toucan, start_fake_kernel, token)
    browser = {**session.cookie_header(), **WEBSOCKET, "Origin": same_origin}
    for path in ("ws", "ws?clientId=a", "ws?_xsrf=wrong", "api/ws"):
        with pytest.raises(HTTPClientError) as refused:
            await toucan_ws(path, auth=False, headers=browser)
        assert refused.value.code == 403, path

    ws = await toucan_ws(f"ws?clientId=c2&_xsrf={session.xsrf_arg}", auth=False, headers=browser)
    greeting = json.loads(await asyncio.wait_for(ws.read_message(), WAIT))
    assert greeting["data"]["sid"] == "c2"
    assert greeting["data"]["query"] == "clientId=c2"  # the argument is ours, never relayed
    ws.close()
    # A client that authenticates with the token needs none.
    ws = await toucan_ws("ws?clientId=c3", headers={"Authorization": f"token {token}"})
    ws.close()


async def test_relayed_query_loses_the_xsrf_argument(toucan, start_fake_kernel, token):
    session = await open_ui(toucan, start_fake_kernel, token)
    response = await toucan(f"api/history?max_items=3&_xsrf={session.xsrf_arg}", auth=False,
                            headers={**session.cookie_header(), **FETCH})
    assert response.code == 200
    assert body_json(response)["query"] == "max_items=3"


async def test_index_page_carries_the_xsrf_script_and_no_token(toucan, token, start_fake_kernel):
    session = await open_ui(toucan, start_fake_kernel, token)
    page = await toucan("", auth=False, headers={**session.cookie_header(), **NAVIGATION})
    html = page.body.decode()
    assert html.index('<script id="toucan-xsrf">') < html.index("<script type=\"module\"")
    assert session.xsrf not in html
    # index.html by name is the same page (docs/frontend.md §2.1).
    named = await toucan("index.html", auth=False, headers={**session.cookie_header(), **NAVIGATION})
    assert named.code == 200 and 'id="toucan-xsrf"' in named.body.decode()
