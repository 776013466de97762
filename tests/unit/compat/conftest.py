"""Fixtures for the compat tests: a small fake runtime, fake RunHooks, and the aliases installed.

`FakeRuntime` has exactly what compat uses of the real Runtime: `events` (EventBus), `registry`
(NodeRegistry), `folders` (Folders), `config.preview_size`, `interrupt(prompt_id=None)` and
`free(unload_models=..., free_memory=...)`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import toucan_nb.compat as compat
from toucan_nb.runtime import events as ev
from toucan_nb.runtime import folders
from toucan_nb.runtime.context import current_node
from toucan_nb.runtime.errors import ExecutionInterruptedError
from toucan_nb.runtime.folders import Folders
from toucan_nb.runtime.registry import NodeRegistry

PACKS_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "packs")
PACKS_DIR = os.path.abspath(PACKS_DIR)


@dataclass
class FakeConfig:
    preview_size: int = 512


class FakeRuntime:
    """The attributes of toucan_nb.runtime.runtime.Runtime that compat relies on."""

    def __init__(self, base_dir: str) -> None:
        self.events = ev.EventBus()
        self.registry = NodeRegistry()
        self.folders = Folders(base_dir)
        self.folders.ensure_dirs()
        self.config = FakeConfig()
        self.interrupts: list[str | None] = []
        self.running_hooks: FakeHooks | None = None  # the prompt interrupt() reaches, if any
        self.frees: list[dict[str, bool]] = []
        self.published: list[ev.Event] = []
        self.events.subscribe(self.published.append)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        self.interrupts.append(prompt_id)
        hooks = self.running_hooks
        if hooks is None or prompt_id not in (None, hooks.prompt_id):
            return False
        hooks.interrupted = True
        return True

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        self.frees.append({"unload_models": unload_models, "free_memory": free_memory})


@dataclass
class FakeHooks:
    """A RunHooks double: records progress/text calls; `interrupted` makes check_interrupt raise once."""

    prompt_id: str = "prompt-1"
    client_id: str | None = "client-1"
    interrupted: bool = False
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    checks: int = 0

    def update_progress(self, node_id: str, value: float, max_value: float, preview: Any = None,
                        legacy: bool = True) -> None:
        self.updates.append((node_id, value, max_value, preview, legacy))

    def check_interrupt(self) -> None:
        self.checks += 1
        if self.interrupted:
            self.interrupted = False
            raise ExecutionInterruptedError("Processing interrupted")

    def send_text(self, node_id: str, text: str) -> None:
        self.texts.append((node_id, text))


@pytest.fixture
def runtime(tmp_path) -> Iterator[FakeRuntime]:
    """A fake runtime attached to the installed aliases for one test; detached afterwards."""
    previous = folders.active()
    rt = FakeRuntime(str(tmp_path / "base"))
    assert compat.install(rt) is True
    yield rt
    compat.detach()
    folders.set_active(previous)


@pytest.fixture
def hooks() -> FakeHooks:
    return FakeHooks()


@contextlib.contextmanager
def running(hooks: FakeHooks, node_id: str = "7", list_index: int | None = None) -> Iterator[None]:
    """Run a block as node `node_id` of the hooks' prompt (what the executor does around calls)."""
    with current_node(hooks.prompt_id, node_id, list_index, hooks):
        yield


@pytest.fixture(autouse=True)
def no_last_context(monkeypatch) -> None:
    """Each test starts with no "most recent node" left over from another test."""
    from toucan_nb.runtime import context

    monkeypatch.setattr(context, "_last", None)
