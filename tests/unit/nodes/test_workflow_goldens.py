"""The workflow golden matrix: whole API prompts through toucan_nb's runtime, against ComfyUI 0.8.0.

The graphs are in `workflow_cases.py`; ComfyUI's outputs for them were recorded by
`scripts/goldens/record_workflows.py` into `goldens/workflows.json` (summaries: shape, a corner, 64
evenly spaced values, statistics). Each case runs here as a prompt on a started runtime (validation,
executor, caches, the built-in node classes and diffusion engine), on the CPU, and its outputs come
back through the notebook API's capture. Tolerances (docs/diffusion.md §3): starting noise bit for
bit, sigmas within 1e-6 relative, latents and conditioning within 1e-4 of the golden's range, 8-bit
images within one level; decoded images must vary, so no case passes on flat output.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.support import checkpoints as ck
from tests.unit.diffusion.models.goldens import relative_error, summarize

from . import workflow_cases as wc

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "workflows.json").read_text())
ERRORS: dict[str, float] = {}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started CPU runtime whose models folder holds the test checkpoint, LoRA and LoCon."""
    from toucan_nb.host.assembly import start_runtime
    from toucan_nb.runtime import device
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    files = {wc.CHECKPOINT: ck.sd15_checkpoint(), wc.LORA: ck.sd15_lora(), wc.LOCON: ck.sd15_locon()}
    for name, path in files.items():
        assert ck.file_digest(path) == GOLDEN["files"][name], f"{path.name} differs from the recorded file"
    base = tmp_path_factory.mktemp("workflows")
    for folder, name in (("checkpoints", wc.CHECKPOINT), ("loras", wc.LORA), ("loras", wc.LOCON)):
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
        (base / "models" / folder / name).symlink_to(files[name])
    (base / "input").mkdir()
    wc.write_inputs(base / "input")
    threads = torch.get_num_threads()
    # One intra-op thread: on a loaded shared machine torch's spinning workers slow these small
    # passes down several times (tests/unit/diffusion/models/conftest.py); results agree either way.
    torch.set_num_threads(1)
    runtime = start_runtime(Runtime(RuntimeConfig(base_dir=str(base), cpu=True, persist=False)))
    if "KSampler" not in runtime.registry:
        runtime.stop()
        torch.set_num_threads(threads)
        device.configure()
        pytest.skip("the diffusion node classes are not registered (toucan_nb/nodes)")
    yield runtime
    runtime.stop()
    torch.set_num_threads(threads)
    device.configure()


def run_case(rt: Any, name: str) -> dict[str, Any]:
    """Run a case's prompt; its outputs by label, plus the KSampler's input latent as "_latent_in"."""
    from toucan_nb.notebook import Workflow

    case = wc.cases()[name]
    wf = Workflow.from_api(case["graph"], registry=rt.registry)
    targets = {label: wf[node].out(index) for label, (node, index) in case["outputs"].items()}
    sampler = case["graph"].get("3")
    if sampler is not None and sampler["inputs"].get("add_noise", "enable") == "enable":
        src, index = sampler["inputs"]["latent_image"]
        targets["_latent_in"] = wf[src].out(index)
    result = wf.run(*targets.values(), runtime=rt, timeout=240, progress=False, display_images=False)
    return {label: result[out] for label, out in targets.items()}


def check(label: str, actual: torch.Tensor, expected: dict[str, Any], rel: float = 1e-4) -> None:
    err = relative_error(actual, expected)
    ERRORS[label] = max(err, ERRORS.get(label, 0.0))
    assert err <= rel, f"{label}: max error {err:.3g} of the range (allowed {rel:g})"


def check_image(label: str, image: torch.Tensor, expected: dict[str, Any]) -> None:
    """Within one 8-bit level of ComfyUI's, and not flat."""
    check(label, image, expected, rel=1.0)  # recorded for the report; the 8-bit rule is the check
    got = np.array([*np.ravel(summarize(image)["corner"]), *summarize(image)["sample"]])
    want = np.array([*np.ravel(expected["corner"]), *expected["sample"]])
    levels = np.abs(np.round(got * 255) - np.round(want * 255))
    assert levels.max() <= 1, f"{label}: 8-bit values differ by {levels.max():.0f} levels"
    assert float(image.std()) > 0.02 and float(image.max() - image.min()) > 0.2, f"{label}: the image is flat"


def compare(name: str, got: dict[str, Any]) -> None:
    expected = GOLDEN["cases"][name]
    for label, want in expected.items():
        if label == "noise":
            from toucan_nb.diffusion.sampling.noise import prepare_noise

            sampler = wc.cases()[name]["graph"]["3"]["inputs"]
            latent = got["_latent_in"]
            noise = prepare_noise(latent["samples"], sampler.get("seed", sampler.get("noise_seed")),
                                  latent.get("batch_index"))
            digest = hashlib.sha256(noise.contiguous().numpy().tobytes()).hexdigest()
            assert [digest, list(noise.shape)] == [want["sha256"], want["shape"]], f"{name}: starting noise differs"
            continue
        value = got[label]
        if isinstance(value, dict):  # LATENT
            check(f"{name} {label}", value["samples"], want["samples"])
            if "noise_mask" in want:
                check(f"{name} {label} mask", value["noise_mask"], want["noise_mask"])
            assert list(value.get("batch_index", [])) == want.get("batch_index", [])
            assert float(value["samples"].std()) > 1e-3, f"{name} {label}: flat latent"
        elif isinstance(value, list):  # CONDITIONING
            assert len(value) == want["entries"]
            check(f"{name} {label}", value[0][0], want["cond"])
            check(f"{name} {label} pooled", value[0][1]["pooled_output"], want["pooled"])
        elif label == "image":
            check_image(f"{name} image", value, want)
        elif label == "sigmas":
            assert list(value.shape) == want["shape"]
            ours = value.double().numpy()
            theirs = np.array(want["sample"][: ours.size])
            assert np.allclose(ours[: theirs.size], theirs, rtol=1e-6, atol=0), f"{name}: sigmas differ"
        else:
            check(f"{name} {label}", value, want)


def all_cases() -> list[str]:
    return [name for name in wc.cases() if name in GOLDEN["cases"]]


def test_goldens_cover_every_case() -> None:
    assert sorted(GOLDEN["cases"]) == sorted(wc.cases()), "re-record: scripts/goldens/record_workflows.py"


@pytest.mark.parametrize("name", all_cases())
def test_workflow_matches_comfyui(rt: Any, name: str) -> None:
    compare(name, run_case(rt, name))


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    """TOUCAN_NB_GOLDEN_REPORT=1 writes the max error per compared quantity (the docs' table)."""
    yield
    path = os.environ.get("TOUCAN_NB_GOLDEN_REPORT")
    if path and ERRORS:
        target = Path("workflow_golden_errors.txt") if path in ("1", "true") else Path(path)
        target.write_text("".join(f"{label:56s} {err:.2e}\n" for label, err in sorted(ERRORS.items())))
