"""Classifier-free guidance and the GUIDER objects that run a sampler over a model.

`cfg_combine` is `uncond + (cond - uncond) * cfg` on denoised latents; at cfg 1.0 the uncond pass is
skipped entirely (unless a CFG++ solver needs it), so the result is the cond prediction. `CFGGuider`
(positive, negative, cfg), `BasicGuider` (one conditioning, no guidance) and `DualCFGGuider` (two
conditionings against a negative) are what KSampler, SamplerCustom and SamplerCustomAdvanced sample
with; `Guider.sample` moves the run to the model's
device, scales a non-empty latent into the model's space, resolves the conditioning, runs the
sampler and scales the result back (ComfyUI's `CFGGuider.sample`/`inner_sample`).
docs/diffusion-sampling.md §Guidance. A guider may be reused; each `sample` call keeps its own state.
Called from the executor thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling.conditioning import (
    PreparedCond,
    calc_cond_batch,
    convert_cond,
    process_conds,
)
from toucan_nb.diffusion.sampling.denoiser import Prediction, StepCallback
from toucan_nb.diffusion.sampling.noise import prepare_mask

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.model import DenoiserModel
    from toucan_nb.diffusion.sampling.sampler import Sampler

Conditioning = Sequence[Sequence[Any]]


def cfg_combine(cond_pred: torch.Tensor, uncond_pred: torch.Tensor, cfg: float) -> torch.Tensor:
    """Classifier-free guidance on denoised predictions."""
    return uncond_pred + (cond_pred - uncond_pred) * cfg


def guided_prediction(model: DenoiserModel, x: torch.Tensor, sigma: torch.Tensor,
                      cond: Sequence[PreparedCond] | None, uncond: Sequence[PreparedCond] | None,
                      cfg: float, need_uncond: bool = False) -> Prediction:
    """The CFG prediction at (x, sigma); cond and uncond share network calls where they can."""
    if math.isclose(cfg, 1.0) and not need_uncond:
        uncond = None
    cond_pred, uncond_pred = calc_cond_batch(model, [cond, uncond], x, sigma)
    denoised = cfg_combine(cond_pred, uncond_pred, cfg)
    return Prediction(denoised, uncond_pred if need_uncond else None)


class Guider:
    """Conditioning plus the rule that turns it into one prediction per step (a GUIDER)."""

    def __init__(self, model: DenoiserModel) -> None:
        self.model = model
        self.original_conds: dict[str, list[PreparedCond]] = {}
        self.cfg = 1.0

    def set_cfg(self, cfg: float) -> None:
        self.cfg = cfg

    def _set_conds(self, **conds: Conditioning) -> None:
        for name, conditioning in conds.items():
            self.original_conds[name] = convert_cond(conditioning)

    def predict(self, conds: dict[str, list[PreparedCond]], x: torch.Tensor, sigma: torch.Tensor,
                need_uncond: bool) -> Prediction:
        return guided_prediction(self.model, x, sigma, conds.get("positive"), conds.get("negative"), self.cfg,
                                 need_uncond)

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Sampler, sigmas: torch.Tensor,
               denoise_mask: torch.Tensor | None = None, callback: StepCallback | None = None,
               seed: int | None = None) -> torch.Tensor:
        """Sample from `noise` over `sigmas`; the result (in raw VAE space) stays on the model's device.

        An empty schedule returns `latent_image` unchanged.
        """
        if sigmas.shape[-1] == 0:
            return latent_image
        model = self.model
        device = model.device
        if denoise_mask is not None:
            denoise_mask = prepare_mask(denoise_mask, latent_image.shape, device)
        noise = noise.to(device)
        latent_image = latent_image.to(device)
        sigmas = sigmas.to(device)
        if torch.count_nonzero(latent_image) > 0:  # an empty latent is left as zeros
            latent_image = model.latent_format.process_in(latent_image)
        conds = process_conds(model, noise, {k: list(v) for k, v in self.original_conds.items()}, device,
                              latent_image, denoise_mask, seed)

        def predict(x: torch.Tensor, sigma: torch.Tensor, need_uncond: bool) -> Prediction:
            return self.predict(conds, x, sigma, need_uncond)

        samples = sampler.sample(predict, model.model_sampling, sigmas, noise, latent_image, denoise_mask,
                                 callback, seed)
        return model.latent_format.process_out(samples.to(torch.float32))


class CFGGuider(Guider):
    """Positive and negative conditioning mixed by `cfg` (the CFGGuider node, and KSampler's guider)."""

    def set_conds(self, positive: Conditioning, negative: Conditioning) -> None:
        self._set_conds(positive=positive, negative=negative)


class BasicGuider(Guider):
    """One conditioning, no guidance (the BasicGuider node)."""

    def set_conds(self, conditioning: Conditioning) -> None:
        self._set_conds(positive=conditioning)


class DualCFGGuider(Guider):
    """Two conditionings guided against a negative (the DualCFGGuider node).

    "regular": cfg_cond2_negative guides cond2 against the negative, and cfg_conds adds cond1 - cond2
    on top; "nested": cond1 is guided against cond2 first, the result against the negative. cond2 is
    encoded as a negative prompt (its `prompt_type`), as ComfyUI does.
    """

    def __init__(self, model: DenoiserModel) -> None:
        super().__init__(model)
        self.cfg_conds = 1.0
        self.nested = False

    def set_conds(self, cond1: Conditioning, cond2: Conditioning, negative: Conditioning) -> None:
        middle = [[t, {**options, "prompt_type": "negative"}] for t, options in cond2]
        self._set_conds(positive=cond1, middle=middle, negative=negative)

    def set_cfgs(self, cfg_conds: float, cfg_cond2_negative: float, nested: bool = False) -> None:
        self.cfg_conds = cfg_conds
        self.cfg = cfg_cond2_negative
        self.nested = nested

    def predict(self, conds: dict[str, list[PreparedCond]], x: torch.Tensor, sigma: torch.Tensor,
                need_uncond: bool) -> Prediction:
        negative, middle, positive = conds.get("negative"), conds.get("middle"), conds.get("positive")
        if self.nested:
            out = calc_cond_batch(self.model, [negative, middle, positive], x, sigma)
            text = cfg_combine(out[2], out[1], self.cfg_conds)
            return Prediction(out[0] + self.cfg * (text - out[0]), out[1] if need_uncond else None)
        if not need_uncond and math.isclose(self.cfg, 1.0):
            negative = None
            if math.isclose(self.cfg_conds, 1.0):
                middle = None
        out = calc_cond_batch(self.model, [negative, middle, positive], x, sigma)
        denoised = cfg_combine(out[1], out[0], self.cfg) + (out[2] - out[1]) * self.cfg_conds
        return Prediction(denoised, out[0] if need_uncond else None)
