"""Fixtures of the JupyterHub tests: one real hub per test module (hub, proxy, alice's and bob's
servers; stopped, with every process it started, after the module) and one chromium.

The proxy comes from npm (`npm ci` in tests/hub, which scripts/test.sh runs); chromium is Debian's.
Without either, the tests here are skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, chromium_present

from .jupyterhub_process import PROXY, Hub


def hub_missing() -> str | None:
    import os

    if not os.access(PROXY, os.X_OK):
        return f"{PROXY} is absent: run `npm ci` in tests/hub (scripts/test.sh does)"
    if shutil.which("node") is None:
        return "node is absent (configurable-http-proxy runs on it)"
    return None


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    missing = hub_missing()
    if missing:
        pytest.skip(missing)
    server = Hub(str(tmp_path_factory.mktemp("jupyterhub")))
    try:
        yield server
    finally:
        server.stop()
    assert server.leftover_processes() == [], "the hub left processes behind"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not chromium_present():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
