"""Fixtures shared by the runtime tests."""

from __future__ import annotations

import pytest

from toucan_nb.runtime.registry import NodeRegistry

from .executor_nodes import NODES


@pytest.fixture
def registry() -> NodeRegistry:
    """A registry of the small test node classes (executor_nodes.NODES)."""
    reg = NodeRegistry()
    for name, cls in NODES.items():
        reg.register(name, cls)
    return reg
