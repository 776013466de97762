"""toucan inside a real JupyterHub (issue "Inside JupyterHub"): DummyAuthenticator,
SimpleLocalProcessSpawner, configurable-http-proxy, users alice and bob, no per-user subdomains, so
every user's server is served from one origin.

* bob's token, bob's login cookies, and pages of bob's server running in alice's browser (same
  origin, alice's cookies, no XSRF token) get 403 from every toucan route family and ``/ws``, as
  Jupyter's own API under alice's server answers such a page (server_ext auth module docstring);
* alice's official frontend boots in chromium through the hub and runs a graph in her kernel;
* a kernel started from a notebook in a subfolder and one started at the root keep their data in
  alice's one folder and show one history (toucan_nb.notebook.session).

One hub per module (about 20-40 s to start it, its two servers and a kernel); tests run in file order.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from typing import Any

import pytest
import websocket

from tests.browser.support import (
    BOOT_TIMEOUT_MS,
    QUIET_SETTINGS,
    READY_JS,
    WS_OPEN_JS,
    PageLog,
    check_shown_image,
    queue_core_graph,
    unexpected_errors,
    wait_until,
)

from .jupyterhub_process import PASSWORD, Hub

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]

# Every toucan route family, as a script of another page would call them: (method, path, body).
ROUTES: list[tuple[str, str, str | None]] = [
    ("GET", "api/history", None),
    ("GET", "api/history/some-prompt", None),
    ("POST", "api/history", '{"clear": true}'),
    ("GET", "api/settings", None),
    ("POST", "api/settings/Comfy.Evil", '"x"'),
    ("GET", "api/queue", None),
    ("POST", "api/queue", '{"clear": true}'),
    ("GET", "api/jobs", None),
    ("POST", "api/prompt", '{"prompt": {}}'),
    ("POST", "api/interrupt", "{}"),
    ("GET", "api/userdata?dir=workflows&recurse=true", None),
    ("GET", "api/userdata/workflows%2Fsecret.json", None),
    ("POST", "api/userdata/workflows%2Fevil.json", "{}"),
    ("DELETE", "api/userdata/workflows%2Fsecret.json", None),
    ("GET", "api/object_info", None),
    ("GET", "internal/logs", None),
    ("GET", "api/users", None),
]

# Run in a page of bob's server: calls alice's toucan with the browser's cookies (alice's), as any
# same-origin script can, without Jupyter's XSRF token (which lives in alice's _xsrf cookie, whose
# path is /user/alice/). Returns what each request got.
CROSS_USER_JS = """async ({toucan, routes, jupyterApi}) => {
  const results = [];
  for (const [method, path, body] of routes) {
    const init = {method, headers: {"Content-Type": "text/plain;charset=UTF-8", "Comfy-User": ""}};
    if (body !== null) { init.body = body; }
    const cors = await fetch(toucan + path, init);
    results.push([method, path, "cors", cors.status]);
    if (method === "GET") {
      // A same-origin no-cors fetch gets a readable response: it must be refused too.
      const noCors = await fetch(toucan + path, {mode: "no-cors"});
      results.push([method, path, "no-cors", noCors.status]);
    }
  }
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array([137, 80, 78, 71])], {type: "image/png"}), "evil.png");
  const upload = await fetch(toucan + "api/upload/image", {method: "POST", body: form});
  results.push(["POST", "api/upload/image", "cors", upload.status]);
  const contents = await fetch(jupyterApi + "contents");
  results.push(["GET", "(jupyter) api/contents", "cors", contents.status]);
  const socket = await new Promise((resolve) => {
    const ws = new WebSocket(toucan.replace(/^http/, "ws") + "ws");
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onclose = () => resolve("refused");
  });
  results.push(["GET", "ws", "websocket", socket]);
  return {results, cookies: document.cookie};
}"""

# In alice's own UI page: the same requests, through the page's fetch (which adds the XSRF token).
OWN_PAGE_JS = """async (paths) => {
  const statuses = [];
  for (const path of paths) { statuses.push((await fetch(path)).status); }
  return statuses;
}"""

BOB_PAGE = "<!doctype html><title>bob's page</title><p>a page of bob's server</p>"


def log_in(browser: Any, hub: Hub, user: str) -> tuple[Any, Any, PageLog]:
    """A browser context logged in to the hub as `user` (the hub's login form); returns it with a
    page that followed the login to the user's server (its default URL is the toucan UI)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    log = PageLog().attach(page)
    page.goto(hub.url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"{hub.user_url(user)}toucan/**", timeout=60_000)
    return context, page, log


@pytest.fixture(scope="module")
def alice_kernel(hub: Hub) -> str:
    """A kernel of alice's server, started at its root (her home) through the REST API, attached."""
    started = hub.user_api("alice", "POST", "api/kernels", {"name": "python3"})
    assert started.status == 201, started.body
    kernel_id = str(started.json()["id"])
    hub.kernel_execute("alice", kernel_id, "%load_ext toucan_nb")
    wait_until(lambda: hub.user_api("alice", "GET", "toucan/api/users").status == 200, "the kernel to attach", 60)
    assert hub.user_api("alice", "POST", "toucan/api/settings", QUIET_SETTINGS).status == 200
    return kernel_id


def ws_status(url: str, headers: list[str]) -> int:
    """The status a WebSocket upgrade to `url` gets (101 when it opens)."""
    try:
        ws = websocket.create_connection(url, header=headers, timeout=30)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    ws.close()
    return 101


def test_bobs_token_and_login_cannot_reach_alices_toucan(hub: Hub, alice_kernel: str, browser: Any) -> None:
    assert hub.user_api("alice", "GET", "toucan/api/history").status == 200
    for method, path, body in ROUTES:
        response = hub.user_api("alice", method, "toucan/" + path, body.encode() if body else None, as_user="bob")
        assert response.status == 403, (method, path, response.status)
        assert b"kernel_id" not in response.body and b"prompt" not in response.body
    ws_url = f"ws://127.0.0.1:{hub.port}/user/alice/toucan/ws"
    assert ws_status(ws_url, [f"Authorization: token {hub.tokens['bob']}"]) == 403
    # JupyterHub takes a ?token= only on a browser's WebSocket (Sec-Fetch-Mode: websocket).
    assert ws_status(f"{ws_url}?token={hub.tokens['bob']}", ["Sec-Fetch-Mode: websocket"]) == 403
    assert ws_status(f"{ws_url}?token={hub.tokens['alice']}", ["Sec-Fetch-Mode: websocket"]) == 101
    assert ws_status(ws_url, [f"Authorization: token {hub.tokens['alice']}"]) == 101

    # bob, logged in to the hub in his own browser, opens alice's toucan: the hub refuses him.
    context, page, _ = log_in(browser, hub, "bob")
    try:
        response = page.goto(hub.user_url("alice") + "toucan/")
        assert response is not None and response.status == 403
        assert not page.url.startswith(hub.user_url("alice") + "toucan/")
        statuses = page.evaluate(
            "async (url) => [(await fetch(url + 'api/history')).status,"
            " (await fetch(url + 'api/settings/x', {method: 'POST', body: '1'})).status]",
            hub.user_url("alice") + "toucan/")
        assert statuses == [403, 403]
    finally:
        context.close()


def test_pages_of_other_users_servers_get_403_with_alices_cookies(
    hub: Hub, alice_kernel: str, browser: Any
) -> None:
    context, page, _ = log_in(browser, hub, "alice")
    try:
        page.wait_for_function(READY_JS, timeout=BOOT_TIMEOUT_MS)  # her own UI works
        # The pages of bob's server (what his server would serve; the browser cannot tell).
        evil_url = hub.user_url("bob") + "evil.html"
        context.route(evil_url, lambda route: route.fulfill(status=200, content_type="text/html", body=BOB_PAGE))
        evil = context.new_page()
        evil.goto(evil_url)
        seen = evil.evaluate(CROSS_USER_JS, {"toucan": hub.user_url("alice") + "toucan/", "routes": ROUTES,
                                             "jupyterApi": hub.user_url("alice") + "api/"})
        answered = {(method, path, mode): status for method, path, mode, status in seen["results"]}
        refused = {key: status for key, status in answered.items() if status not in (403, "refused")}
        assert refused == {}, refused
        assert len(answered) == len(ROUTES) + sum(m == "GET" for m, _, _ in ROUTES) + 3
        assert "_xsrf" not in seen["cookies"]  # alice's token is out of the page's reach
        # Nothing changed in alice's toucan.
        assert hub.user_api("alice", "GET", "toucan/api/settings/Comfy.Evil").json() is None
        # Her own page gets 200 for the same requests (its script adds the XSRF token).
        own = page.evaluate(OWN_PAGE_JS, ["api/history", "api/settings", "api/queue", "api/jobs",
                                          "api/userdata?dir=workflows&recurse=true"])
        assert set(own) <= {200, 404}, own
        assert own[:4] == [200, 200, 200, 200]
    finally:
        context.close()


def test_alices_frontend_boots_and_runs_a_graph_through_the_hub(
    hub: Hub, alice_kernel: str, browser: Any
) -> None:
    context, page, log = log_in(browser, hub, "alice")
    toucan = hub.user_url("alice") + "toucan/"
    try:
        page.wait_for_function(READY_JS, timeout=BOOT_TIMEOUT_MS)
        page.wait_for_function(WS_OPEN_JS, timeout=15_000)
        assert page.evaluate("() => window.app.api.api_base") == "/user/alice/toucan"
        events = queue_core_graph(page, "hub_ui")
        prompt_id = events[0]["detail"]["prompt_id"]
        image = next(e["detail"] for e in events if e["type"] == "executed")["output"]["images"][0]
        check_shown_image(page, toucan, image, headers={"Authorization": f"token {hub.tokens['alice']}"})
        entry = hub.user_api("alice", "GET", f"toucan/api/history/{prompt_id}").json()[prompt_id]
        assert entry["status"]["status_str"] == "success"
        # The output lies in alice's one data folder (~/toucan_nb of her home).
        assert os.path.isfile(os.path.join(hub.home("alice"), "toucan_nb", "output", image["filename"]))
        assert [urllib.parse.urlsplit(url).path for url in log.websockets] == ["/user/alice/toucan/ws"]
        # docs/frontend.md §2.4: the progress favicon ignores the base; the hub sends /assets/... to /hub/.
        favicon = re.compile(r"/hub/assets/images/favicon_progress_16x16/frame_\d+\.png")
        errors = [(status, url) for status, url in unexpected_errors(log, toucan)
                  if not (status == 404 and favicon.fullmatch(urllib.parse.urlsplit(url).path))]
        assert errors == []
    finally:
        context.close()


RUN_IN_KERNEL = """
import json, os
from toucan_nb.notebook import Workflow, nodes
from toucan_nb.notebook.magics import attachment
with Workflow() as wf:
    inverted = nodes.ImageInvert(nodes.EmptyImage(width=8, height=8, color={color}))
handle = inverted.queue()
handle.wait(120)
rt = attachment().runtime
print(json.dumps({{"prompt_id": handle.prompt_id, "cwd": os.getcwd(), "base_dir": rt.folders.base_dir}}))
"""


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, repr(output)
    return lines[-1]


def last_json_line(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines, repr(output)
    return json.loads(lines[-1])


def test_kernels_of_a_subfolder_and_the_root_share_one_history(hub: Hub, alice_kernel: str) -> None:
    os.makedirs(os.path.join(hub.home("alice"), "project", "sub"), exist_ok=True)
    session = hub.user_api("alice", "POST", "api/sessions", {
        "path": "project/sub/flow.ipynb", "name": "flow.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    assert session.status == 201, session.body
    sub_kernel = str(session.json()["kernel"]["id"])
    hub.kernel_execute("alice", sub_kernel, "%load_ext toucan_nb")
    in_sub = last_json_line(hub.kernel_execute("alice", sub_kernel, RUN_IN_KERNEL.format(color=1)))
    at_root = last_json_line(hub.kernel_execute("alice", alice_kernel, RUN_IN_KERNEL.format(color=2)))
    home = os.path.realpath(hub.home("alice"))
    assert os.path.realpath(in_sub["cwd"]) == os.path.join(home, "project", "sub")
    assert os.path.realpath(at_root["cwd"]) == home
    assert in_sub["base_dir"] == at_root["base_dir"]
    assert os.path.realpath(in_sub["base_dir"]) == os.path.join(home, "toucan_nb")
    both = {in_sub["prompt_id"], at_root["prompt_id"]}
    # The UI's history (the latest kernel to attach), and each kernel's own, is the one history.
    for prefix in ("toucan/", f"toucan/kernels/{sub_kernel}/", f"toucan/kernels/{alice_kernel}/"):
        wait_until(lambda p=prefix: both <= set(hub.user_api("alice", "GET", p + "api/history").json()),
                   f"both prompts in {prefix}api/history", 30)
    assert not os.path.exists(os.path.join(home, "project", "sub", "toucan_data"))


# In a notebook kernel: a cell node that holds its first prompt until the go file exists, and three
# prompts queued behind one another (the first runs and holds; the other two wait).
QUEUE_THREE = '''import json, os, time
from toucan_nb.notebook import Workflow, node

GO = {go!r}


@node
class HubHold:
    CATEGORY = "testing"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{"n": ("INT", {{"default": 0}})}}}}

    def run(self, n):
        deadline = time.monotonic() + 120
        while n == 0 and not os.path.exists(GO) and time.monotonic() < deadline:
            time.sleep(0.05)
        return (n,)


handles = []
for n in range(3):
    wf = Workflow.from_api({{"1": {{"class_type": "HubHold", "inputs": {{"n": n}}}}}})
    handles.append(wf.queue(wf["1"], progress=False))
print(json.dumps([h.prompt_id for h in handles]))'''


def test_one_kernel_deletes_a_prompt_another_kernel_queued(hub: Hub, alice_kernel: str) -> None:
    # The UI talks to one kernel; /queue there lists every kernel's prompts, and deleting one of
    # another kernel's pending prompts must remove it (runtime/store.py, "Sharing").
    os.makedirs(os.path.join(hub.home("alice"), "queueing"), exist_ok=True)
    go = os.path.join(hub.home("alice"), "queueing", "go.flag")
    session = hub.user_api("alice", "POST", "api/sessions", {
        "path": "queueing/q.ipynb", "name": "q.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    assert session.status == 201, session.body
    queueing = str(session.json()["kernel"]["id"])
    hub.kernel_execute("alice", queueing, "%load_ext toucan_nb")
    held, deleted, kept = json.loads(last_line(hub.kernel_execute("alice", queueing, QUEUE_THREE.format(go=go))))

    other = f"toucan/kernels/{alice_kernel}/api/"
    owner = f"toucan/kernels/{queueing}/api/"

    def listing(prefix: str) -> tuple[list[str], list[str]]:
        queue = hub.user_api("alice", "GET", prefix + "queue").json()
        return [i[1] for i in queue["queue_running"]], [i[1] for i in queue["queue_pending"]]

    wait_until(lambda: listing(other) == ([held], [deleted, kept]) or None, "the other kernel to list all three", 30)
    assert hub.user_api("alice", "POST", other + "queue", {"delete": [deleted]}).status == 200
    wait_until(lambda: listing(other)[1] == [kept] or None, "the deletion in the deleting kernel's queue", 30)
    wait_until(lambda: listing(owner)[1] == [kept] or None, "the owner to drop the deleted prompt", 30)

    open(go, "w").close()
    history = wait_until(lambda: (h := hub.user_api("alice", "GET", other + "history").json()) and kept in h and h,
                         "the kept prompt to run", 60)
    assert history[kept]["status"]["status_str"] == "success"
    assert deleted not in history
    statuses = hub.kernel_execute("alice", queueing, "print(json.dumps([h.status for h in handles]))")
    assert json.loads(last_line(statuses)) == ["success", "cancelled", "success"]
