"""The official frontend against the standalone server (issue "route set + serve").

* `toucan-nb serve` at `/`: the UI boots (docs/frontend.md §7.4 readiness), its WebSocket is open, and
  no request fails except the known-harmless ones;
* the same route set under `/toucan/` (`ApiSettings.base_path`, through `subpath_server.py`
  because serve has no prefix flag): `/toucan` redirects to `/toucan/`, the UI boots there and
  every URL it builds stays under the prefix;
* a graph of core nodes built and queued from the page runs, and the SaveImage node shows the PNG
  that `/api/view` serves.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator

import pytest

from .servers import Standalone, SubPath
from .support import (
    QUIET_SETTINGS,
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
