"""`%load_ext toucan_nb` in real ipykernel kernels: attach, relay to the real route set, restart,
unload, kernel death mid-prompt, and a kernel with no Jupyter server at all (docs/architecture.md decisions
1-5). Each test starts real kernels (torch import, node loading): marked slow."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
import urllib.request
from typing import Any

import pytest
from toucan_testing import WAIT, body_json, execute, kernel_pid, read_attached, wait_for

from toucan_nb.host import connection_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SLEEPY_NODE = '''
import time
from toucan_nb.notebook import register

class Sleepy:
    """An output node that sleeps: keeps a prompt running while the test kills its kernel."""
    CATEGORY = "testing"
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 600.0})}}

    def run(self, seconds):
        time.sleep(seconds)
        return ()

register(Sleepy)
'''


async def start_python_kernel(serverapp: Any) -> tuple[str, Any]:
    kernel_id = await serverapp.kernel_manager.start_kernel(kernel_name="python3")
    return kernel_id, await connect(serverapp, kernel_id)


async def connect(serverapp: Any, kernel_id: str) -> Any:
    client = serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=120)
    return client


def sleepy_prompt(seconds: float) -> dict[str, Any]:
    return {"1": {"class_type": "Sleepy", "inputs": {"seconds": seconds}}}


async def next_event(ws: Any, wanted: str) -> dict[str, Any]:
    """Read JSON frames until one of type `wanted` arrives."""
    while True:
        frame = await asyncio.wait_for(ws.read_message(), WAIT)
        assert frame is not None, f"socket closed while waiting for {wanted}"
        if isinstance(frame, str):
            message = json.loads(frame)
            if message["type"] == wanted:
                return message


async def test_load_ext_attaches_relays_survives_restart_and_unloads(
    jp_serverapp, toucan, toucan_ws, jp_runtime_dir, same_origin
):
    kernel_id, client = await start_python_kernel(jp_serverapp)
    try:
        assert (await toucan("api/object_info")).code == 503
        await execute(client, "%load_ext toucan_nb")
        await execute(client, SLEEPY_NODE)

        info = read_attached(jp_runtime_dir, kernel_id)
        assert info is not None
        assert info.pid == kernel_pid(jp_serverapp, kernel_id)
        path = connection_file.path_for(kernel_id, jp_runtime_dir)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

        # The real route set, through the relay, latest kernel and by id.
        object_info = await toucan("api/object_info")
        assert object_info.code == 200
        assert "ImageInvert" in body_json(object_info) and "Sleepy" in body_json(object_info)
        by_id = await toucan(f"kernels/{kernel_id}/api/object_info/Sleepy")
        assert list(body_json(by_id)) == ["Sleepy"]

        # /ws and a prompt queued from the page's origin, without any XSRF token.
        ws = await toucan_ws("ws?clientId=abc123")
        first = await next_event(ws, "status")
        assert first["data"]["sid"] == "abc123"
        queued = await toucan(
            "api/prompt",
            method="POST",
            body=json.dumps({"prompt": sleepy_prompt(0.0), "client_id": "abc123"}),
            headers={"Origin": same_origin, "Content-Type": "application/json"},
        )
        assert queued.code == 200, queued.body
        prompt_id = body_json(queued)["prompt_id"]
        success = await next_event(ws, "execution_success")
        assert success["data"]["prompt_id"] == prompt_id
        ws.close()

        # Userdata with an encoded slash (docs/frontend.md §6.2) reaches the real route set.
        saved = await toucan(
            "api/userdata/workflows%2Fmy%20flow.json?overwrite=true",
            method="POST",
            body='{"nodes": []}',
            headers={"Origin": same_origin},
        )
        assert saved.code == 200, saved.body
        loaded = await toucan("api/userdata/workflows%2Fmy%20flow.json")
        assert loaded.code == 200 and body_json(loaded) == {"nodes": []}
        listed = await toucan("api/userdata?dir=workflows")
        assert body_json(listed) == ["my flow.json"]

        # Restart: the new process has not attached yet; after %load_ext, history is still there.
        old_pid = info.pid
        await jp_serverapp.kernel_manager.restart_kernel(kernel_id)
        assert kernel_pid(jp_serverapp, kernel_id) != old_pid
        assert (await toucan("api/object_info")).code == 503
        client.stop_channels()
        client = await connect(jp_serverapp, kernel_id)
        await execute(client, "%load_ext toucan_nb")
        history = await toucan(f"api/history/{prompt_id}")
        assert history.code == 200
        assert body_json(history)[prompt_id]["status"]["status_str"] == "success"

        # Unload: the discovery file goes away and the API answers 503 again.
        await execute(client, "%unload_ext toucan_nb")
        assert read_attached(jp_runtime_dir, kernel_id) is None
        assert (await toucan("api/object_info")).code == 503
    finally:
        client.stop_channels()


async def test_kernel_death_mid_prompt_closes_sockets_and_history_keeps_the_prompt(
    jp_serverapp, toucan, toucan_ws, jp_runtime_dir, same_origin
):
    kernel_id, client = await start_python_kernel(jp_serverapp)
    try:
        await execute(client, "%load_ext toucan_nb")
        await execute(client, SLEEPY_NODE)
        ws = await toucan_ws("ws?clientId=doomed")
        await next_event(ws, "status")
        queued = await toucan(
            "api/prompt",
            method="POST",
            body=json.dumps({"prompt": sleepy_prompt(120.0), "client_id": "doomed"}),
            headers={"Origin": same_origin},
        )
        prompt_id = body_json(queued)["prompt_id"]
        await next_event(ws, "executing")  # the Sleepy node is running
        pending = asyncio.ensure_future(toucan("api/queue"))
        old_pid = kernel_pid(jp_serverapp, kernel_id)

        started = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        last_frames = []
        while (frame := await asyncio.wait_for(ws.read_message(), WAIT)) is not None:
            last_frames.append(frame)  # frames already in flight, the relay's report, then the close
        ws.close()
        # The relay tells the client its prompt will not finish: execution_error, then executing null.
        reported = [json.loads(f) for f in last_frames if isinstance(f, str)][-2:]
        assert [m["type"] for m in reported] == ["execution_error", "executing"]
        assert reported[0]["data"]["prompt_id"] == prompt_id
        assert reported[0]["data"]["exception_type"] == "KernelStopped"
        assert reported[1]["data"] == {"node": None, "prompt_id": prompt_id}
        await asyncio.wait_for(pending, WAIT)  # answered or failed, never hanging
        assert (await toucan("api/object_info")).code == 503
        assert time.monotonic() - started < 15

        # Jupyter's restarter brings the kernel back; once attached, the prompt is an error entry.
        await wait_for(
            lambda: (
                (pid := jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid) and pid != old_pid
            ),
            "the kernel to be restarted",
            timeout=60,
        )
        client.stop_channels()
        client = await connect(jp_serverapp, kernel_id)
        await execute(client, "%load_ext toucan_nb")
        history = await toucan(f"api/history/{prompt_id}")
        assert history.code == 200
        assert body_json(history)[prompt_id]["status"]["status_str"] == "error"
    finally:
        client.stop_channels()


async def test_load_ext_without_a_jupyter_server(jp_environ, jp_runtime_dir, tmp_path):
    """A kernel started by jupyter_client alone (VS Code, nbval): a working runtime all the same."""
    from jupyter_client.manager import AsyncKernelManager

    manager = AsyncKernelManager(kernel_name="python3")
    await manager.start_kernel(cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        await execute(client, "%load_ext toucan_nb")
        texts = await execute(
            client,
            "from toucan_nb.notebook import nodes\n"
            "image = nodes.EmptyImage(width=8, height=4, batch_size=1, color=0).run()\n"
            "print(tuple(image.shape))",
        )
        assert "(1, 4, 8, 3)" in "".join(texts)

        # Its connection file is a temporary name, not kernel-<id>.json: nothing to announce,
        # but the loopback endpoint serves whoever holds the secret.
        assert connection_file.kernel_id_from_connection_file(manager.connection_file) is None
        assert not list(jp_runtime_dir.glob("toucan-kernel-*.json"))
        texts = await execute(
            client,
            "from toucan_nb.notebook import magics\n"
            "print(magics.attachment().port, magics.attachment().loopback.secret)",
        )
        port, secret = "".join(texts).split()
        url = f"http://127.0.0.1:{port}/api/object_info/ImageInvert"
        request = urllib.request.Request(url, headers={"X-Toucan-Secret": secret})
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            assert "ImageInvert" in json.loads(response.read())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=WAIT)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=False)
