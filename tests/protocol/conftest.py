"""A real `toucan-nb serve` subprocess per test module (starting one takes a few seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import ServeProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServeProcess]:
    proc = ServeProcess(str(tmp_path_factory.mktemp("serve")))
    yield proc
    proc.stop()
