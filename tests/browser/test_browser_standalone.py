"""The official frontend against the standalone server (issue "route set + serve").

* `toucan-nb serve` at `/`: the UI boots (docs/frontend.md §7.4 readiness), its WebSocket is open, and
  no request fails except the known-harmless ones;
* the same route set under `/toucan/` (`ApiSettings.base_path`, through `subpath_server.py`
  because serve has no prefix flag): `/toucan` redirects to `/toucan/`, the UI boots there and
  every URL it builds stays under the prefix;
* a graph of core nodes built and queued from the page runs, and the SaveImage node shows the PNG
  that `/api/view` serves;
* the SDXL Turbo template, opened from the server's `templates/` as the templates dialog opens it,
  runs from the Run button on a random-weight SDXL checkpoint (the built-in diffusion engine).
"""

from __future__ import annotations

import io
import os
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.support.checkpoints import sdxl_checkpoint_with_vae

from .servers import Standalone, SubPath
from .support import (
    DONE_JS,
    QUIET_SETTINGS,
    SAVE_IMAGE_JS,
    SAVE_IMAGE_LOADED_JS,
    WS_OPEN_JS,
    boot,
    check_shown_image,
    chromium_present,
    fetch,
    jobs_answers,
    queue_core_graph,
    unexpected_errors,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_present(), reason="/usr/bin/chromium is absent (apt-get install chromium)"),
    pytest.mark.timeout(180),
]

# docs/frontend.md §3.1: after a full boot the client asks for the model folders (an idle callback).
FULLY_BOOTED = "/api/experiment/models"


def _ends_with(suffix: str):
    return lambda r: urllib.parse.urlsplit(r.url).path.endswith(suffix)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    server = Standalone(str(tmp_path_factory.mktemp("standalone")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def subpath(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SubPath]:
    server = SubPath(str(tmp_path_factory.mktemp("subpath")), "/toucan/")
    yield server
    server.stop()


def test_frontend_boots_at_root(standalone: Standalone, new_page) -> None:
    page, log = new_page()
    with page.expect_request(_ends_with(FULLY_BOOTED)):
        seconds = boot(page, standalone.url)
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)

    assert page.evaluate("() => window.app.api.api_base") == ""
    assert log.websockets == [f"ws://127.0.0.1:{standalone.port}/ws"]
    assert page.evaluate("() => Object.keys(LiteGraph.registered_node_types)").count("SaveImage") == 1
    assert unexpected_errors(log, standalone.url) == []
    # The queue/history panels' queries, including frontend 1.58's status=...,cancelled filter.
    jobs = jobs_answers(log)
    assert any("cancelled" in urllib.parse.unquote(url) for _, url in jobs), jobs
    assert {status for status, _ in jobs} == {200}, jobs
    assert seconds < 90


def test_frontend_queues_core_graph_and_shows_image(standalone: Standalone, new_page) -> None:
    # Seeded first, so the UI loads its default graph instead of opening the Templates dialog.
    assert fetch("POST", standalone.url + "api/settings", QUIET_SETTINGS).status == 200
    page, log = new_page()
    boot(page, standalone.url)
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)

    events = queue_core_graph(page, "browser_root")
    executed = [e["detail"] for e in events if e["type"] == "executed"]
    assert [e["node"] for e in executed] == ["3"]
    image = executed[0]["output"]["images"][0]
    assert image["type"] == "output" and image["filename"].startswith("browser_root_")
    check_shown_image(page, standalone.url, image)
    assert os.path.isfile(os.path.join(standalone.base_dir, "output", image["filename"]))

    prompt_id = events[0]["detail"]["prompt_id"]
    history = fetch("GET", f"{standalone.url}api/history/{prompt_id}").json()
    assert history[prompt_id]["outputs"]["3"]["images"] == [image]
    assert history[prompt_id]["status"]["status_str"] == "success"
    assert unexpected_errors(log, standalone.url) == []


def test_frontend_boots_under_subpath(subpath: SubPath, new_page) -> None:
    # docs/frontend.md §2.1: without the slash every asset would 404, so <base> must redirect to <base>/.
    resp = fetch("GET", subpath.origin + "/toucan")
    assert resp.status in (301, 302, 307, 308)
    assert resp.headers["location"] in ("/toucan/", subpath.url)

    page, log = new_page()
    with page.expect_request(_ends_with("/toucan" + FULLY_BOOTED)):
        boot(page, subpath.origin + "/toucan")  # follows the redirect, as a user typing the URL does
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)

    assert page.url == subpath.url
    assert page.evaluate("() => window.app.api.api_base") == "/toucan"
    assert log.websockets == [f"ws://127.0.0.1:{subpath.port}/toucan/ws"]
    assert unexpected_errors(log, subpath.url) == []
    # Every URL the client built stayed under the prefix except the cosmetic leaks of docs/frontend.md §2.4.
    # (Other origins are not asked: the new-user release check to api.comfy.org fails at DNS here.)
    outside = [u for u in log.requests if u.startswith(subpath.origin + "/")
               and not u.startswith(subpath.url) and u != subpath.origin + "/toucan"
               and not urllib.parse.urlsplit(u).path.startswith("/assets/images/")]
    assert outside == []


# Opens a template as the templates dialog does (its JSON from `templates/`, then loadGraphData),
# makes the latent smaller for the CPU as a user edits a widget, and records the execution events.
OPEN_TEMPLATE_JS = """async ([name, size]) => {
  window.__toucanEvents = [];
  for (const type of ['execution_start', 'progress', 'executed', 'execution_success', 'execution_error']) {
    window.app.api.addEventListener(type, (e) => window.__toucanEvents.push({type, detail: e.detail}));
  }
  const response = await fetch('templates/' + name + '.json');
  await window.app.loadGraphData(await response.json());
  const latent = window.app.graph._nodes.find((n) => n.type === 'EmptyLatentImage');
  for (const widget of latent.widgets) {
    if (widget.name === 'width' || widget.name === 'height') { widget.value = size; }
  }
  return window.app.graph._nodes.map((n) => n.type).sort();
}"""
SDXL_TURBO_TYPES = ["CLIPTextEncode", "CLIPTextEncode", "CheckpointLoaderSimple", "EmptyLatentImage", "KSamplerSelect",
                    "MarkdownNote", "SDTurboScheduler", "SamplerCustom", "SaveImage", "VAEDecode"]


def test_sdxl_turbo_template_runs_from_the_run_button(standalone: Standalone, new_page) -> None:
    # The template names its checkpoint; a user drops a file of that name into models/checkpoints.
    checkpoints = os.path.join(standalone.base_dir, "models", "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    os.symlink(sdxl_checkpoint_with_vae(), os.path.join(checkpoints, "sd_xl_turbo_1.0_fp16.safetensors"))
    assert fetch("POST", standalone.url + "api/settings", QUIET_SETTINGS).status == 200
    page, log = new_page()
    boot(page, standalone.url)
    page.wait_for_function(WS_OPEN_JS, timeout=15_000)

    assert page.evaluate(OPEN_TEMPLATE_JS, ["sdxlturbo_example", 256]) == SDXL_TURBO_TYPES
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(DONE_JS, timeout=240_000)
    events = page.evaluate("() => window.__toucanEvents")
    kinds = [e["type"] for e in events]
    assert "execution_error" not in kinds, [e for e in events if e["type"] == "execution_error"]
    assert kinds[0] == "execution_start" and kinds[-1] == "execution_success", kinds
    assert "progress" in kinds  # the sampler's one step

    (image,) = next(e["detail"] for e in events if e["type"] == "executed")["output"]["images"]
    page.wait_for_function(SAVE_IMAGE_LOADED_JS, timeout=30_000)
    shown = page.evaluate(SAVE_IMAGE_JS)
    assert shown["src"].startswith(standalone.url + "api/view?filename=" + image["filename"])
    assert (shown["width"], shown["height"]) == (256, 256)
    from PIL import Image, ImageStat

    with Image.open(io.BytesIO(fetch("GET", shown["src"]).body)) as png:
        assert png.size == (256, 256)
        assert max(ImageStat.Stat(png.convert("RGB")).stddev) > 5, "the decoded image is flat"
    assert unexpected_errors(log, standalone.url) == []
