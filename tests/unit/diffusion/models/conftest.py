"""Session fixtures for the model tests: the test checkpoints loaded once, on the CPU.

The checkpoints come from tests/support/checkpoints.py (generated on first use, cached outside the
repository); each fixture checks the file's sha256 against the one recorded with the goldens, so
a changed generator cannot silently compare against stale references.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.support import checkpoints as ck
from toucan_nb.diffusion import files, loaders
from toucan_nb.runtime import device

from .goldens import ERRORS, golden


@pytest.fixture(scope="package", autouse=True)
def cpu_runtime() -> Iterator[None]:
    """The goldens are ComfyUI's CPU numbers: run on the CPU (fp32 UNet and VAE) whatever the machine has.

    One intra-op thread: on a shared, loaded machine torch's spinning worker threads make these small
    forward passes several times slower (measured 3-10x at load 7 on 2 cores); results agree either way.
    Package-scoped, so both settings are restored before other test packages run.
    """
    device.configure(cpu=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    device.configure()


def _checked(path: Path, name: str) -> str:
    expected = golden(name)["files"]["checkpoint"]
    assert ck.file_digest(path) == expected, f"{path.name} differs from the file the {name} goldens were recorded on"
    return str(path)


@pytest.fixture(scope="session")
def embeddings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both test embeddings: a safetensors file and an A1111-format .pt."""
    directory = tmp_path_factory.mktemp("embeddings")
    ck.write_embedding_safetensors(directory)
    rows = torch.from_numpy(ck.embedding_rows("toucan-emb-pt"))
    torch.save({"string_to_param": {"*": rows}, "name": "toucan-emb-pt", "step": 100}, directory / "toucan-emb-pt.pt")
    return directory


@pytest.fixture(scope="session")
def sd15_path() -> str:
    return _checked(ck.sd15_checkpoint(), "sd15")


@pytest.fixture(scope="session")
def sd15(sd15_path: str, embeddings_dir: Path) -> tuple:
    """(MODEL, CLIP, VAE) of the SD1.x test checkpoint."""
    return loaders.load_checkpoint(sd15_path, embedding_dirs=[str(embeddings_dir)])


@pytest.fixture(scope="session")
def sd2() -> tuple:
    return loaders.load_checkpoint(_checked(ck.sd2_checkpoint(), "sd2"), embedding_dirs=[])


@pytest.fixture(scope="session")
def sdxl_path() -> str:
    return _checked(ck.sdxl_checkpoint(), "sdxl")


@pytest.fixture(scope="session")
def sdxl(sdxl_path: str) -> tuple:
    return loaders.load_checkpoint(sdxl_path, embedding_dirs=[])


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """An empty part cache for the test (loads really read the files), the previous one back after."""
    saved = dict(files.parts._items)
    files.parts.clear()
    yield
    files.parts._items.update(saved)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("TOUCAN_NB_GOLDEN_REPORT") and ERRORS:
        terminalreporter.write_line("max error relative to range, per compared quantity:")
        for label, err in sorted(ERRORS.items()):
            terminalreporter.write_line(f"  {label:48s} {err:.2e}")
