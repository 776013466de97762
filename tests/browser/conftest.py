"""Fixtures of the browser tests: one chromium per test module (closed before the rest of the suite
runs, so no Playwright loop outlives this folder), a fresh context (cookies, storage) per page, and
a PageLog of what each page requested.

Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), launched by the Python
playwright package; no browser is ever downloaded. Without it every test here is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support import CHROMIUM, CHROMIUM_ARGS, PageLog, chromium_present

CALL_FAILED = pytest.StashKey[bool]()
NO_CHROMIUM = f"{CHROMIUM} is absent (apt-get install chromium); the browser tests need it"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not chromium_present():
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest,
             tmp_path: Any) -> Iterator[Callable[..., tuple[Any, PageLog]]]:
    """`new_page()` -> (page, log): a page in a fresh browser context; closed after the test.

    When the test fails, each page's screenshot and console errors are saved under its tmp_path.
    """
    contexts: list[Any] = []
    logs: list[tuple[Any, PageLog]] = []

    def make(**context_options: Any) -> tuple[Any, PageLog]:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, **context_options)
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        log = PageLog().attach(page)
        logs.append((page, log))
        return page, log

    yield make
    if request.node.stash.get(CALL_FAILED, False):
        for i, (page, log) in enumerate(logs):
            try:
                page.screenshot(path=str(tmp_path / f"page{i}.png"))
            except Exception as exc:  # a crashed page must not hide the test's own failure
                print(f"no screenshot of page {i}: {exc}")
            (tmp_path / f"page{i}.txt").write_text(
                f"url: {page.url}\nconsole errors:\n" + "\n".join(log.console_errors)
                + "\n>= 400:\n" + "\n".join(f"{s} {u}" for s, u in log.errors()), encoding="utf-8")
        print(f"browser pages of the failed test saved in {tmp_path}")
    for context in contexts:
        context.close()
