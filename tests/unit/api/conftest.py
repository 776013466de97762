"""Fixtures for the route-set tests (see support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from toucan_nb.api.app import ApiSettings

from .support import FakeRuntime, Server


@pytest.fixture
def runtime(tmp_path) -> FakeRuntime:
    return FakeRuntime(str(tmp_path))


@pytest.fixture
def make_server(runtime) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(rt: Any = None, **settings: Any) -> Server:
        server = Server(rt or runtime, ApiSettings(**settings))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server) -> Server:
    return make_server()


