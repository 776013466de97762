"""session.get_runtime: one runtime per process, created and started on first use."""

from __future__ import annotations

import os

import pytest

from toucan_nb.host import assembly
from toucan_nb.notebook import session
from toucan_nb.notebook.capture import CAPTURE_CLASS_TYPE
from toucan_nb.runtime import runtime as runtime_module
from toucan_nb.runtime.errors import RuntimeUnavailableError
from toucan_nb.runtime.registry import NodeRegistry


class FakeRuntime:
    created: list[FakeRuntime] = []

    def __init__(self, config):
        self.config = config
        self.registry = NodeRegistry()
        self.hand_back_sink = None
        self.started = self.stopped = False
        FakeRuntime.created.append(self)

    def start(self):
        self.started = True
        return self

    def stop(self):
        self.stopped = True


@pytest.fixture
def fake(monkeypatch, tmp_path):
    FakeRuntime.created.clear()
    monkeypatch.setattr(runtime_module, "Runtime", FakeRuntime)
    # The host's start-up (nodes, compat, the executor thread) is not what these tests are about.
    monkeypatch.setattr(assembly, "start_runtime", FakeRuntime.start)
    monkeypatch.setattr(session, "_runtime", None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOUCAN_NB_HOME", raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_first_call_creates_starts_and_attaches_later_calls_share(fake):
    rt = session.get_runtime()
    assert rt.started and rt.config.base_dir == os.path.join(str(fake / "home"), "toucan_nb")
    assert CAPTURE_CLASS_TYPE in rt.registry
    assert session.get_runtime() is rt and session.find_runtime() is rt
    assert len(FakeRuntime.created) == 1


def test_the_folder_is_the_users_whatever_the_working_directory(fake, monkeypatch):
    (fake / "notebooks" / "sub").mkdir(parents=True)
    monkeypatch.chdir(fake / "notebooks" / "sub")
    assert session.default_base_dir() == str(fake / "home" / "toucan_nb")
    monkeypatch.chdir(fake)
    assert session.default_base_dir() == str(fake / "home" / "toucan_nb")


def test_an_older_toucan_data_folder_is_named_in_the_log_and_left_alone(fake, caplog):
    (fake / "toucan_data" / "output").mkdir(parents=True)
    (fake / "toucan_data" / "output" / "old.png").write_bytes(b"png")
    with caplog.at_level("WARNING", logger="toucan_nb.notebook.session"):
        rt = session.get_runtime()
    message = " ".join(r.getMessage() for r in caplog.records)
    assert rt.config.base_dir in message and str(fake / "toucan_data") in message
    assert (fake / "toucan_data" / "output" / "old.png").read_bytes() == b"png"


def test_base_dir_comes_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("TOUCAN_NB_HOME", str(fake / "home"))
    assert session.get_runtime().config.base_dir == str(fake / "home")


def test_config_is_passed_on_and_conflicts_are_refused(fake):
    rt = session.get_runtime(base_dir=str(fake / "b"), cache_mode="lru", cache_size=10)
    assert (rt.config.cache_mode, rt.config.cache_size) == ("lru", 10)
    assert session.get_runtime(cache_mode="lru") is rt  # same settings are fine
    with pytest.raises(ValueError, match="stop_runtime"):
        session.get_runtime(cache_mode="none")


def test_create_false_and_stop(fake):
    assert session.find_runtime() is None
    with pytest.raises(RuntimeUnavailableError, match="load_ext"):
        session.get_runtime(create=False)
    rt = session.get_runtime()
    session.stop_runtime()
    assert rt.stopped and session.find_runtime() is None
    session.stop_runtime()  # nothing to stop: no error
    assert session.get_runtime() is not rt


def test_the_notebook_api_uses_the_session_runtime(fake):
    import toucan_nb.notebook as nb

    rt = nb.runtime()
    assert rt is session.get_runtime()
    assert CAPTURE_CLASS_TYPE in nb.nodes
