"""Fixtures of the browser tests: one chromium for the session, a fresh context (cookies, storage)
per page, and a PageLog of what each page requested.

Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), launched by the Python
playwright package; no browser is ever downloaded. Without it every test here is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support import CHROMIUM, CHROMIUM_ARGS, PageLog, chromium_present

NO_CHROMIUM = f"{CHROMIUM} is absent (apt-get install chromium); the browser tests need it"


@pytest.fixture(scope="session")
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


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., tuple[Any, PageLog]]]:
    """`new_page()` -> (page, log): a page in a fresh browser context; closed after the test."""
    contexts: list[Any] = []

    def make(**context_options: Any) -> tuple[Any, PageLog]:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, **context_options)
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        return page, PageLog().attach(page)

    yield make
    for context in contexts:
        context.close()
