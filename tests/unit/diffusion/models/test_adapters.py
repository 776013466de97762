"""Weight-patch arithmetic of every LoRA flavour against ComfyUI's calculate_weight
(goldens/adapters.json): LoRA, LoCon with a Tucker mid, LoHa, LoKr, DoRA, full diffs (weight and
bias), set_weight; strengths 1.0 and 0.6, and two patches stacked with a strength_model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from toucan_nb.diffusion.lora import load_patches
from toucan_nb.diffusion.patcher import Patch, patched_weight

from .goldens import assert_close, golden

G = golden("adapters")


def _recorder():
    path = Path(__file__).resolve().parents[4] / "scripts" / "goldens" / "record_models.py"
    spec = importlib.util.spec_from_file_location("record_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stdlib imports only at module level
    return module


CASES = _recorder().adapter_cases()


@pytest.mark.parametrize("key", sorted(CASES[2]))
def test_adapter_matches_comfyui(key):
    lora, key_map, weights = CASES
    patches = load_patches(lora, key_map)
    cpu = torch.device("cpu")
    for strength in (1.0, 0.6):
        got = patched_weight(weights[key], [Patch(strength, patches[key])], cpu, torch.float32)
        assert_close(got, G[f"{key}@{strength}"], f"adapter {key} at {strength}")
    stacked = [Patch(0.5, patches[key]), Patch(0.8, patches[key], strength_model=0.9)]
    assert_close(patched_weight(weights[key], stacked, cpu, torch.float32), G[f"{key}@stacked"],
                 f"adapter {key} stacked")
