"""The official frontend and a notebook inside JupyterLab (issue "Jupyter-native").

One `jupyter lab` under ``/user/alice/`` with token authentication; the toucan server extension is
enabled by the jupyter-config file the package installs.

* token login: ``{base}toucan/?token=...`` serves the UI before any kernel attaches, the four
  critical routes answer 503 JSON naming `%load_ext toucan_nb`, and once a kernel attached the
  same browser (now authenticated by the login cookie alone) boots the UI with its WebSocket;
* a kernel started through the REST API runs `%load_ext toucan_nb`; the UI at ``{base}toucan/``
  queues EmptyImage -> ImageInvert -> SaveImage, which runs in that kernel;
* JupyterLab runs a notebook workflow: the progress widget shows per-node progress and a live
  preview while a node runs, then the final image, which is also a plain PNG output.

The tests run in file order: the first one needs a server no kernel has attached to yet.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from .servers import JupyterLab
from .support import (
    BOOT_TIMEOUT_MS,
    QUIET_SETTINGS,
    READY_JS,
    WS_OPEN_JS,
    boot,
    check_shown_image,
    chromium_present,
    data_url_bytes,
    fetch,
    kernel_execute,
    png_info,
    queue_core_graph,
    unexpected_errors,
    wait_until,
)

# The UI is booted and the extension's "no kernel attached" notice is gone (the page reloaded).
NO_NOTICE_AND_READY_JS = ("() => !document.getElementById('toucan-no-kernel-notice') && ("
                          + READY_JS + ")()")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_present(), reason="/usr/bin/chromium is absent (apt-get install chromium)"),
    pytest.mark.timeout(240),
]

CRITICAL = ("api/users", "api/settings", "api/extensions")  # + api/object_info (never reached unattached)
LOAD_EXT_HINT = "%load_ext toucan_nb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    server = JupyterLab(str(tmp_path_factory.mktemp("jupyter")))
    yield server
    server.stop()


def start_kernel(lab: JupyterLab) -> str:
    resp = lab.api("POST", "api/kernels", {"name": "python3"})
    assert resp.status == 201, resp.body
    return str(resp.json()["id"])


@pytest.fixture(scope="module")
def toucan_kernel(lab: JupyterLab) -> str:
    """A kernel started through the server's REST API that ran `%load_ext toucan_nb`."""
    kernel_id = start_kernel(lab)
    kernel_execute(lab.channels_url(kernel_id), "%load_ext toucan_nb")
    # Attached once the extension relays to it (it polls the runtime directory).
    wait_until(lambda: lab.api("GET", "toucan/api/users").status == 200, "the kernel to attach", 30)
    return kernel_id


def test_token_login_then_ui_boots_once_a_kernel_attaches(lab: JupyterLab, new_page, request: Any) -> None:
    assert lab.extension_loaded(), lab.process.log()[-3000:]
    toucan = lab.url + "toucan/"
    before = lab.api("GET", "toucan/api/users")
    assert before.status == 503, "this test needs a server no kernel has attached to yet (file order)"

    # Without credentials: the UI page redirects to Jupyter's login page, API routes answer 403 JSON.
    anonymous, _ = new_page()
    anonymous.goto(toucan)
    assert urllib.parse.urlsplit(anonymous.url).path == lab.base_url + "login"
    refused = request_json("GET", toucan + "api/settings")
    assert refused == (403, {"error": "authentication required"})

    # With ?token=: the bundle is served by the extension itself; the API has no kernel to relay to.
    page, log = new_page()
    with page.expect_response(lambda r: r.url.startswith(toucan + "api/extensions")) as extensions:
        page.goto(toucan + f"?token={lab.token}")
    assert extensions.value.status == 503
    assert LOAD_EXT_HINT in extensions.value.json()["error"]
    answers = {urllib.parse.urlsplit(url).path[len(lab.base_url + "toucan/"):]: status
               for status, url in log.responses if url.startswith(toucan)}
    assert {route: answers.get(route) for route in CRITICAL} == dict.fromkeys(CRITICAL, 503)
    assets = {path: status for path, status in answers.items() if path.startswith("assets/")}
    assert len(assets) > 20 and set(assets.values()) <= {200, 304}, assets
    # Without a kernel the UI cannot become usable (docs/frontend.md §3.2: the critical routes must
    # answer JSON 200).

    # The page says so itself, and reloads by itself once a kernel has attached.
    assert page.locator("#toucan-no-kernel-notice").is_visible()
    log.responses.clear()
    log.websockets.clear()
    request.getfixturevalue("toucan_kernel")
    # The ?token= request set Jupyter's login cookie: it alone authenticates the reload, every
    # fetch and the WebSocket.
    page.wait_for_function(NO_NOTICE_AND_READY_JS, timeout=BOOT_TIMEOUT_MS)
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)
    assert page.evaluate("() => window.app.api.api_base") == lab.base_url + "toucan"
    # The page's script (server_ext index_page.XSRF_SCRIPT) adds Jupyter's XSRF token to the socket URL.
    assert [url.partition("?")[0] for url in log.websockets] == [f"ws://127.0.0.1:{lab.port}{lab.base_url}toucan/ws"]
    assert all("_xsrf=" in url.partition("?")[2] for url in log.websockets), log.websockets
    assert unexpected_errors(log, toucan) == []


def test_ui_queues_a_graph_that_runs_in_the_kernel(lab: JupyterLab, toucan_kernel: str, new_page) -> None:
    toucan = lab.url + "toucan/"
    assert lab.api("POST", "toucan/api/settings", QUIET_SETTINGS).status == 200
    page, log = new_page()
    boot(page, toucan + f"?token={lab.token}")
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)

    events = queue_core_graph(page, "browser_kernel")
    prompt_id = events[0]["detail"]["prompt_id"]
    image = next(e["detail"] for e in events if e["type"] == "executed")["output"]["images"][0]
    check_shown_image(page, toucan, image, headers=lab.auth)

    history = lab.api("GET", f"toucan/api/history/{prompt_id}").json()
    assert history[prompt_id]["status"]["status_str"] == "success"
    assert history[prompt_id]["outputs"]["3"]["images"] == [image]
    # The prompt ran in the kernel: its own runtime has it in history and wrote the file.
    probe = (
        "import json, os\n"
        "from toucan_nb.notebook.magics import attachment\n"
        "rt = attachment().runtime\n"
        f"entry = rt.history.get_one({prompt_id!r})\n"
        f"path = os.path.join(rt.folders.directory_by_type('output'), {image['filename']!r})\n"
        "print(json.dumps({'status': entry['status']['status_str'], 'file': os.path.isfile(path)}))\n"
    )
    assert json.loads(kernel_execute(lab.channels_url(toucan_kernel), probe)) == {"status": "success", "file": True}
    assert unexpected_errors(log, toucan) == []



# Root URLs as the frontend builds them (docs/frontend.md §2.4), set the ways it sets them; each
# resolves to the URL it was sent to and whether it loaded.
ROOT_URLS_JS = """async () => {
    const load = (img) => new Promise((done) => {
        img.onload = () => done([img.src, true]);
        img.onerror = () => done([img.src, false]);
    });
    const frame = new Image();
    frame.src = "/assets/images/favicon_progress_16x16/frame_3.png";
    const logo = document.createElement("img");
    logo.setAttribute("src", "/assets/images/comfy-logo-mono.svg");
    const icon = document.querySelector("link[rel~='icon']");
    icon.href = "/assets/images/favicon_progress_16x16/frame_4.png";
    return {images: await Promise.all([load(frame), load(logo)]), icon: icon.href};
}"""


def test_root_urls_load_under_the_prefix_and_keep_the_xsrf_cookie(lab: JupyterLab, toucan_kernel: str,
                                                                   new_page) -> None:
    # Sent to the origin's root they would reach Jupyter's 404 page, which replaces the _xsrf cookie
    # and so gets the UI's requests then on their way refused (server_ext index_page).
    toucan = lab.url + "toucan/"
    page, log = new_page()
    boot(page, toucan + f"?token={lab.token}")
    xsrf_before = page.evaluate("() => document.cookie.match(/_xsrf=([^;]*)/)[1]")
    assert page.evaluate(ROOT_URLS_JS) == {
        "images": [[toucan + "assets/images/favicon_progress_16x16/frame_3.png", True],
                   [toucan + "assets/images/comfy-logo-mono.svg", True]],
        "icon": toucan + "assets/images/favicon_progress_16x16/frame_4.png",
    }
    assert page.evaluate("() => document.cookie.match(/_xsrf=([^;]*)/)[1]") == xsrf_before
    outside = [url for url in log.requests if url.startswith(lab.origin) and not url.startswith(toucan)]
    assert outside == []
    assert unexpected_errors(log, toucan) == []

# A node that reports step 1 of 4 with a preview, then holds until the test has seen that in the
# widget and creates the go file (a handshake, not a sleep); then it finishes.
NODE_CELL = '''import os
import time

import torch
from comfy.utils import ProgressBar
from PIL import Image

from toucan_nb.notebook import Workflow, node, nodes

GO = {go!r}


@node
class HeldGradient:
    """A horizontal ramp in 4 steps; after step 1 it waits for the browser test's go file."""

    CATEGORY = "testing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "draw"

    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{"width": ("INT", {{"default": 64}}), "height": ("INT", {{"default": 48}})}}}}

    def draw(self, width, height):
        bar = ProgressBar(4)
        bar.update_absolute(1, 4, ("PNG", Image.new("RGB", (32, 24), (200, 40, 40)), 64))
        deadline = time.monotonic() + 120
        while not os.path.exists(GO) and time.monotonic() < deadline:
            time.sleep(0.05)
        for step in (2, 3, 4):
            bar.update_absolute(step, 4)
        ramp = torch.linspace(0, 1, width)
        return (ramp[None, None, :, None].expand(1, height, width, 3).contiguous(),)
'''
RUN_CELL = '''with Workflow() as wf:
    image = nodes.HeldGradient(width=64, height=48)
    inverted = nodes.ImageInvert(image)
    save = nodes.SaveImage(inverted, filename_prefix="browser_nb")

result = save.run()
print("saved", [path.rsplit("/", 1)[-1] for path in result.image_paths()])'''


def write_notebook(path: str, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(sources)]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                            "language": "python"},
                             "language_info": {"name": "python"}}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(notebook, f, indent=1)


def kernel_idle_for(lab: JupyterLab, path: str) -> bool:
    sessions = lab.api("GET", "api/sessions").json()
    return any(s["path"] == path and s["kernel"]["execution_state"] == "idle" for s in sessions)


def test_lab_runs_a_notebook_workflow_with_the_progress_widget(lab: JupyterLab, new_page) -> None:
    # A notebook in a subfolder: its kernel runs there, and keeps its data in the user's one folder.
    folder = os.path.join(lab.root_dir, "nb")
    os.makedirs(folder, exist_ok=True)
    go = os.path.join(folder, "go.flag")
    write_notebook(os.path.join(folder, "flow.ipynb"), ["%load_ext toucan_nb", NODE_CELL.format(go=go), RUN_CELL])

    page, _ = new_page()
    page.goto(f"{lab.url}lab/tree/nb/flow.ipynb?token={lab.token}")
    page.locator(".jp-Notebook .jp-CodeCell").nth(2).wait_for()
    wait_until(lambda: kernel_idle_for(lab, "nb/flow.ipynb"), "the notebook's kernel to be idle", 60, 0.25)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.click("li[data-command='runmenu:run-all']")

    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(2)
    widget = cell.locator(".toucan-progress")
    running = widget.locator("tr[data-state='running']")
    running.wait_for(timeout=90_000)
    # The node holds at step 1 until the go file exists, so these states cannot pass by.
    expect(running.locator(".tp-title")).to_have_text("HeldGradient")
    expect(running.locator(".tp-count")).to_have_text("1/4")
    expect(widget.locator(".tp-status")).to_have_attribute("data-status", "running")
    expect(widget.locator("tr")).to_have_count(3)  # HeldGradient, Invert Image, Save Image
    preview = widget.locator("img.tp-preview")
    preview.wait_for(state="visible")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    assert preview.get_attribute("src").startswith("blob:")

    open(go, "w").close()  # let the node finish
    widget.locator(".tp-status[data-status='success']").wait_for(timeout=60_000)
    expect(widget.locator("tr[data-state='finished']")).to_have_count(3)
    final = widget.locator("img.tp-final")
    final.wait_for()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=final.element_handle())
    assert final.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [64, 48]

    # The final image is also an ordinary PNG output of the cell (it stays in the saved notebook).
    output = cell.locator(".jp-OutputArea-output img[src^='data:image/png']")
    output.wait_for()
    size, left_pixel, fmt = png_info(data_url_bytes(output.get_attribute("src")))
    assert (size, fmt) == ((64, 48), "PNG")
    assert left_pixel == (255, 255, 255)  # the ramp starts at 0; inverted, white
    cell.locator("text=saved ['browser_nb_00001_.png']").wait_for()


def request_json(method: str, url: str) -> tuple[int, Any]:
    resp = fetch(method, url)
    return resp.status, resp.json()
