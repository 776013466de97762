"""Detection on the key layouts of released models (shapes only, on the `meta` device) against what
ComfyUI's model_detection reports for the same keys (goldens/detection.json)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from tests.support import checkpoints as ck
from toucan_nb.diffusion import keys, loaders
from toucan_nb.diffusion.detection import (
    UnsupportedModelError,
    detect_diffusers_unet_layout,
    detect_unet_layout,
)
from toucan_nb.diffusion.families import family_for

from .goldens import golden, rand

G = golden("detection")
PREFIX = "model.diffusion_model."
LAYOUT = {"sd2_v": "sd2", "sdxl_vpred": "sdxl", "sdxl_vpred_ztsnr": "sdxl", "sdxl_edm": "sdxl"}


def meta_state_dict(case: str) -> dict[str, torch.Tensor]:
    """The recorder's state dict for `case`: meta tensors plus the few real values detection reads."""
    sd = {k: torch.empty(shape, device="meta") for k, shape in ck.full_unet_layout(LAYOUT.get(case, case))}
    bias = PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
    if bias in sd:
        sd[bias] = rand(51, tuple(sd[bias].shape)) * (0.2 if case == "sd2_v" else 0.05)
    if case.startswith("sdxl_vpred"):
        sd["v_pred"] = torch.tensor([])
    if case == "sdxl_vpred_ztsnr":
        sd["ztsnr"] = torch.tensor([])
    if case == "sdxl_edm":
        sd["edm_mean"], sd["edm_std"] = torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1)
    return sd


@pytest.mark.parametrize("case", sorted(G))
def test_detection_matches_comfyui(case):
    expected = G[case]
    sd = meta_state_dict(case)
    layout = detect_unet_layout(sd, PREFIX)
    family = family_for(layout)
    config = layout.with_heads(family.num_heads, family.num_head_channels)
    comfy = expected["unet_config"]
    for field in ("in_channels", "out_channels", "model_channels", "num_res_blocks", "channel_mult",
                  "transformer_depth", "transformer_depth_output", "transformer_depth_middle", "context_dim",
                  "use_linear_in_transformer", "adm_in_channels", "num_heads", "num_head_channels"):
        ours = getattr(config, field)
        assert (list(ours) if isinstance(ours, tuple) else ours) == comfy[field], field
    assert family.name == expected["class"]
    prediction = loaders.prediction_for(family, sd, layout, PREFIX)
    assert prediction.kind.upper() == expected["model_type"]
    settings = {k: v for k, v in (("zsnr", prediction.zsnr), ("sigma_min", prediction.sigma_min),
                                  ("sigma_max", prediction.sigma_max), ("sigma_data", prediction.sigma_data)) if v}
    assert settings == expected["sampling_settings"]
    assert (config.in_channels > 4) == expected["inpaint"]


@pytest.mark.parametrize("case", ["sd15", "sdxl"])
def test_diffusers_names_match_comfyui(case):
    sd = meta_state_dict(case)
    layout = detect_unet_layout(sd, PREFIX)
    family = family_for(layout)
    config = layout.with_heads(family.num_heads, family.num_head_channels)
    pairs = keys.diffusers_names(config, [k[len(PREFIX):] for k in sd])
    lines = sorted(f"{d}\t{ldm}" for d, ldm in pairs)
    assert {"count": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()} == \
        G[case]["diffusers_map"]


@pytest.mark.parametrize("case", ["sd15", "sd2", "sdxl", "sdxl_refiner"])
def test_diffusers_layout_round_trip(case):
    """Renaming a released layout to diffusers names and detecting that gives the same UNet."""
    sd = meta_state_dict(case)
    layout = detect_unet_layout(sd, PREFIX)
    family = family_for(layout)
    config = layout.with_heads(family.num_heads, family.num_head_channels)
    local = keys.with_prefix(sd, PREFIX)
    renamed = {d: local[ldm] for d, ldm in keys.diffusers_names(config, list(local))
               if not d.startswith("class_embedding.")}
    assert len(renamed) == len(local)
    assert detect_diffusers_unet_layout(renamed) == layout
    back = keys.diffusers_unet_to_ldm(renamed, config)
    assert set(back) == set(local)


def test_unsupported_family_is_named():
    sd = {k: torch.empty(s, device="meta") for k, s in ck.unet_layout(ck.UNetLayout(context_dim=4096))}
    with pytest.raises(UnsupportedModelError, match="context width 4096"):
        family_for(detect_unet_layout(sd, PREFIX))
