"""Toucan defers to whatever identity provider and authorizer the server runs (JupyterHub plugs
in this way): an async, header-based identity and a per-action authorizer on "kernels"."""

from __future__ import annotations

import asyncio
import json

import pytest
import toucan_testing
from tornado.httpclient import HTTPClientError
from toucan_testing import HUB_USER_HEADER, WAIT, body_json

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def jp_server_config(jp_server_config):
    return {
        **jp_server_config,
        "ServerApp": {
            **jp_server_config["ServerApp"],
            "identity_provider_class": "toucan_testing.HubLikeIdentityProvider",
            "authorizer_class": "toucan_testing.ReadOnlyBobAuthorizer",
        },
    }


@pytest.fixture(autouse=True)
def authorizer_calls():
    toucan_testing.AUTHORIZER_CALLS.clear()
    yield toucan_testing.AUTHORIZER_CALLS
    toucan_testing.AUTHORIZER_CALLS.clear()


def as_user(name: str, same_origin: str) -> dict[str, str]:
    return {HUB_USER_HEADER: name, "Origin": same_origin}


async def test_authorized_user_gets_everything(
    toucan, toucan_ws, start_fake_kernel, same_origin, authorizer_calls
):
    await start_fake_kernel()
    alice = as_user("alice", same_origin)
    assert (await toucan("", auth=False, headers=alice)).code == 200
    assert (await toucan("api/object_info", auth=False, headers=alice)).code == 200
    posted = await toucan("api/prompt", auth=False, method="POST", body="{}", headers=alice)
    assert posted.code == 200 and body_json(posted)["method"] == "POST"
    ws = await toucan_ws("ws?clientId=a", auth=False, headers=alice)
    assert json.loads(await asyncio.wait_for(ws.read_message(), WAIT))["data"]["sid"] == "a"
    ws.close()
    assert {
        ("alice", "read", "kernels"),
        ("alice", "write", "kernels"),
        ("alice", "execute", "kernels"),
    } <= set(authorizer_calls)


async def test_read_only_user_cannot_write_or_open_the_socket(
    toucan, toucan_ws, start_fake_kernel, same_origin
):
    await start_fake_kernel()
    bob = as_user("bob", same_origin)
    assert (await toucan("api/object_info", auth=False, headers=bob)).code == 200
    posted = await toucan("api/prompt", auth=False, method="POST", body="{}", headers=bob)
    assert posted.code == 403
    assert body_json(posted) == {"error": "not authorized to write kernels"}
    with pytest.raises(HTTPClientError) as refused:
        await toucan_ws("ws", auth=False, headers=bob)
    assert refused.value.code == 403


async def test_unknown_user_is_sent_to_login_or_refused(toucan, toucan_ws, start_fake_kernel, jp_base_url):
    await start_fake_kernel()
    page = await toucan("", auth=False)
    assert page.code == 302 and "login" in page.headers["Location"]
    api = await toucan("api/object_info", auth=False)
    assert api.code == 403 and b"kernel_id" not in api.body
    with pytest.raises(HTTPClientError) as refused:
        await toucan_ws("ws", auth=False)
    assert refused.value.code == 403
