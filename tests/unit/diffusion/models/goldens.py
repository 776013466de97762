"""Recorded ComfyUI outputs (goldens/*.json, written by scripts/goldens/record_models.py) and how
tests compare against them.

A tensor is kept as a summary: its shape, the first 4 x 8 corner of its last two axes, 64 values
at evenly spaced flat indices, and mean/std/min/max. `assert_close` requires every stored value
to be within `rel` (1e-4) of the golden's range (max - min); `assert_image_close` requires 8-bit
values within one level. Both return the largest error relative to the range, which
`TOUCAN_NB_GOLDEN_REPORT=1` prints at the end of the session (the table in the report).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

GOLDENS = Path(__file__).parent / "goldens"
ERRORS: dict[str, float] = {}


@cache
def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDENS / f"{name}.json").read_text())


def rand(seed: int, shape: tuple[int, ...], kind: str = "normal") -> torch.Tensor:
    """The recorder's inputs: NumPy PCG64 normal or uniform float32 arrays."""
    rng = np.random.Generator(np.random.PCG64(seed))
    data = rng.standard_normal(shape, dtype=np.float32) if kind == "normal" else rng.random(shape, dtype=np.float32)
    return torch.from_numpy(data)


def summarize(t: torch.Tensor) -> dict[str, Any]:
    t = t.detach().float().cpu()
    flat = t.flatten()
    n = flat.numel()
    index = torch.linspace(0, n - 1, 64).round().long() if n >= 64 else torch.arange(n)
    corner = t.reshape(-1, *t.shape[-2:])[0] if t.ndim >= 2 else t.reshape(1, -1)
    return {"shape": list(t.shape), "corner": corner[:4, :8].tolist(), "sample": flat[index].tolist(),
            "mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()), "max": float(flat.max())}


def _values(s: dict[str, Any]) -> np.ndarray:
    return np.array([*np.ravel(s["corner"]), *s["sample"], s["mean"], s["std"], s["min"], s["max"]], dtype=np.float64)


def relative_error(actual: torch.Tensor, expected: dict[str, Any]) -> float:
    got = summarize(actual)
    assert got["shape"] == expected["shape"], f"shape {got['shape']} != {expected['shape']}"
    span = (expected["max"] - expected["min"]) or max(abs(expected["max"]), 1e-12)
    return float(np.max(np.abs(_values(got) - _values(expected))) / span)


def assert_close(actual: torch.Tensor, expected: dict[str, Any], label: str, rel: float = 1e-4) -> float:
    err = relative_error(actual, expected)
    ERRORS[label] = err
    assert err <= rel, f"{label}: max error {err:.3g} of the range (allowed {rel:g})"
    return err


def assert_image_close(actual: torch.Tensor, expected: dict[str, Any], label: str) -> float:
    """8-bit levels within one of ComfyUI's (what SaveImage would write)."""
    err = relative_error(actual, expected)
    ERRORS[label] = err
    levels = np.abs(np.round(_values(summarize(actual))[:-2] * 255) - np.round(_values(expected)[:-2] * 255))
    assert levels.max() <= 1, f"{label}: 8-bit values differ by {levels.max():.0f} levels"
    return err


def token_list(tokens: dict[str, list[list[tuple[Any, ...]]]]) -> dict[str, list[list[list[Any]]]]:
    """Tokens in the recorder's JSON form: ids, or "emb" for an embedding row; weights as floats."""
    return {name: [[["emb" if torch.is_tensor(t) else int(t), float(w)] for t, w, *_ in chunk] for chunk in chunks]
            for name, chunks in tokens.items()}


def map_hash(pairs: Any) -> dict[str, Any]:
    import hashlib

    lines = sorted(f"{a}\t{b}" for a, b in pairs)
    return {"count": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def assert_key_map(ours: dict[str, str], expected: dict[str, Any], text_encoder: bool) -> None:
    """A LoRA key map equals ComfyUI's; for text encoders the names of text_projection/logit_scale
    weights (which ComfyUI's towers always have) are compared as a subset, since a checkpoint may lack them."""
    extra = ("text_projection", "logit_scale") if text_encoder else ()
    kept = {k: v for k, v in ours.items() if not any(e in v for e in extra)}
    assert map_hash(kept.items()) == {"count": expected["count"], "sha256": expected["sha256"]}
    if text_encoder:
        assert {(k, v) for k, v in ours.items() if k not in kept} <= {tuple(p) for p in expected["without_weights"]}
