"""Fixtures for the built-in node tests: a temporary Folders made active, metadata on, and a
`device_override` to pin what get_torch_device() returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from toucan_nb.nodes import image_io
from toucan_nb.runtime import device, folders
from toucan_nb.runtime.folders import Folders


@pytest.fixture
def active_folders(tmp_path, monkeypatch) -> Iterator[Folders]:
    """A fresh Folders under tmp_path, active for the test; the previous one is restored after."""
    monkeypatch.setattr(folders, "_active", folders._active)  # restored by monkeypatch on teardown
    monkeypatch.setattr(image_io, "_metadata_enabled", True)
    f = Folders(str(tmp_path))
    f.ensure_dirs()
    folders.set_active(f)
    yield f


@pytest.fixture
def device_override(monkeypatch) -> Callable[[str], torch.device]:
    """Make get_torch_device() answer a given device for this test (restored afterwards)."""

    def use(name: str) -> torch.device:
        monkeypatch.setattr(device, "_configured", name)
        monkeypatch.setattr(device, "_device", None)
        return device.get_torch_device()

    monkeypatch.setattr(device, "_device", device._device)
    return use


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """With TOUCAN_NB_GOLDEN_REPORT=1: the measured errors of the diffusion node goldens."""
    import os

    from tests.unit.diffusion.models.goldens import ERRORS

    labels = [label for label in ERRORS if label.startswith("nodes ")]
    if os.environ.get("TOUCAN_NB_GOLDEN_REPORT") and labels:
        terminalreporter.write_line("diffusion nodes: max error relative to range, per compared output:")
        for label in sorted(labels):
            terminalreporter.write_line(f"  {label:60s} {ERRORS[label]:.2e}")
