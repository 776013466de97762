"""Fixtures for the notebook tests: a registry of small classes and one shared started Runtime."""

from __future__ import annotations

import pytest

from toucan_nb.runtime.registry import NodeRegistry

from .nodes_for_tests import BUILDER_NODES, RUNNING_NODES


@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for name, cls in {**BUILDER_NODES, **RUNNING_NODES}.items():
        reg.register(name, cls, display_name="Blend Images" if name == "Blend" else None)
    return reg


@pytest.fixture(scope="session")
def runtime(tmp_path_factory):
    """A started Runtime with the built-in nodes and the test classes (shared: starting costs seconds)."""
    from toucan_nb.host.assembly import start_runtime
    from toucan_nb.notebook.session import attach
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    base = tmp_path_factory.mktemp("toucan_rt")
    rt = start_runtime(Runtime(RuntimeConfig(base_dir=str(base), persist=False)))
    for name, cls in RUNNING_NODES.items():
        rt.registry.register(name, cls)
    attach(rt)
    yield rt
    rt.stop()
