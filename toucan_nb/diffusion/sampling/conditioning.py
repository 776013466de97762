"""CONDITIONING as the sampler applies it at every step: areas, masks, strengths, timestep ranges and
batched network calls.

A CONDITIONING is a list of `[tensor [B, tokens, dim], dict]` pairs; the dict may carry `area`
(latent units `(h, w, y, x)` or `("percentage", h, w, y, x)`), `strength`, `mask`, `mask_strength`,
`set_area_to_bounds`, `start_percent`/`end_percent`, `pooled_output` and SDXL's size fields, as the
conditioning nodes set them. `process_conds` resolves all of that once per run against the latent
(and asks the model for `y` and any concat channels); `calc_cond_batch` then runs every entry whose
timestep range covers the current sigma, concatenating compatible entries (cond and uncond alike)
into one network call, in ComfyUI's order, and averages overlapping areas weighted by their
feathered masks. Entries with different token counts are batched by repeating each to the least
common multiple (at most 4x), which leaves attention unchanged. docs/diffusion-sampling.md
§Conditioning. Called from the sampling run's thread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling.noise import repeat_to_batch_size

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.model import DenoiserModel

_AREA_UNBOUNDED = 2147483648
# Areas without a mask fade in over up to this many latent pixels at edges inside the latent.
_AREA_FEATHER = 8
# Repeating context to a common length beyond this factor costs more than two separate calls.
_MAX_CROSSATTN_REPEAT = 4
_ids = itertools.count()


# -- per-entry model inputs -----------------------------------------------------------------------

class ModelCond:
    """One model input of a conditioning entry (`y`): tiled to the batch, concatenated across entries."""

    def __init__(self, cond: torch.Tensor) -> None:
        self.cond = cond

    def process(self, batch_size: int, area: Sequence[int] | None) -> ModelCond:
        return type(self)(repeat_to_batch_size(self.cond, batch_size))

    def can_concat(self, other: ModelCond) -> bool:
        return self.cond.shape == other.cond.shape and self.cond.device == other.cond.device

    def concat(self, others: Sequence[ModelCond]) -> torch.Tensor:
        return torch.cat([self.cond] + [o.cond for o in others])


class NoiseShapeCond(ModelCond):
    """A latent-shaped input (concat channels): cropped to the entry's area before tiling."""

    def process(self, batch_size: int, area: Sequence[int] | None) -> ModelCond:
        data = self.cond
        if area is not None:
            dims = len(area) // 2
            for i in range(dims):
                data = data.narrow(i + 2, area[i + dims], area[i])
        return type(self)(repeat_to_batch_size(data, batch_size))


class CrossAttnCond(ModelCond):
    """Cross-attention context; different token counts concatenate by repetition to their LCM."""

    def can_concat(self, other: ModelCond) -> bool:
        s1, s2 = self.cond.shape, other.cond.shape
        if s1 != s2:
            if s1[0] != s2[0] or s1[2] != s2[2]:
                return False
            if math.lcm(s1[1], s2[1]) // min(s1[1], s2[1]) > _MAX_CROSSATTN_REPEAT:
                return False
        return self.cond.device == other.cond.device

    def concat(self, others: Sequence[ModelCond]) -> torch.Tensor:
        conds = [self.cond] + [o.cond for o in others]
        length = self.cond.shape[1]
        for c in conds[1:]:
            length = math.lcm(length, c.shape[1])
        return torch.cat([c.repeat(1, length // c.shape[1], 1) if c.shape[1] < length else c for c in conds])


# -- prepared entries -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PreparedCond:
    """One conditioning entry resolved for a run (areas in latent units, percents as sigmas)."""

    options: Mapping[str, Any]  # the entry's dict as the conditioning nodes left it
    cross_attn: torch.Tensor | None
    model_conds: Mapping[str, ModelCond] = field(default_factory=dict)
    area: tuple[Any, ...] | None = None
    mask: torch.Tensor | None = None
    timestep_start: float | None = None
    timestep_end: float | None = None
    uid: int = field(default_factory=lambda: next(_ids))

    @property
    def strength(self) -> float:
        return float(self.options.get("strength", 1.0))

    @property
    def mask_strength(self) -> float:
        return float(self.options.get("mask_strength", 1.0))


def convert_cond(conditioning: Sequence[Sequence[Any]]) -> list[PreparedCond]:
    """A CONDITIONING list as entries (not yet resolved)."""
    out = []
    for tensor, options in conditioning:
        options = dict(options)
        out.append(PreparedCond(options=options, cross_attn=tensor, area=options.get("area"),
                                mask=options.get("mask")))
    return out


def _resolve_area_and_mask(c: PreparedCond, dims: tuple[int, ...], device: torch.device) -> PreparedCond:
    area = c.area
    if area is not None and area[0] == "percentage":
        a = area[1:]
        a_len = len(a) // 2
        resolved = tuple(max(1, round(a[d] * dims[d])) for d in range(len(dims)))
        resolved += tuple(round(a[d + a_len] * dims[d]) for d in range(len(dims)))
        c = replace(c, area=resolved)
    if c.mask is not None:
        mask = c.mask.to(device=device)
        if len(mask.shape) == len(dims):
            mask = mask.unsqueeze(0)
        if tuple(mask.shape[1:]) != tuple(dims):
            mask = torch.nn.functional.interpolate(mask.unsqueeze(1), size=(dims[-2], dims[-1]),
                                                   mode="bilinear").squeeze(1)
        if c.options.get("set_area_to_bounds", False):
            c = replace(c, area=_mask_bounds(mask))
        c = replace(c, mask=mask)
    return c


def _mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """The area (h, w, y, x) bounding a mask's nonzero pixels over the batch, at least 8x8."""
    bounds = torch.max(torch.abs(mask), dim=0).values
    if not torch.max(bounds != 0):
        return (8, 8, 0, 0)  # an all-zero mask: the smallest area, which then contributes nothing
    ys, xs = torch.where(bounds)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    return (max(8, y1 - y0 + 1), max(8, x1 - x0 + 1), y0, x0)


def _with_timestep_range(c: PreparedCond, ms: Any) -> PreparedCond:
    start = ms.percent_to_sigma(c.options["start_percent"]) if "start_percent" in c.options else None
    end = ms.percent_to_sigma(c.options["end_percent"]) if "end_percent" in c.options else None
    if start is None and end is None:
        return c
    return replace(c, timestep_start=start if start is not None else c.timestep_start,
                   timestep_end=end if end is not None else c.timestep_end)


def _encode_model_conds(model: DenoiserModel, c: PreparedCond, noise: torch.Tensor, device: torch.device,
                        prompt_type: str, extra: Mapping[str, Any]) -> PreparedCond:
    params: dict[str, Any] = dict(c.options)
    params["device"] = device
    params["noise"] = noise
    params["width"] = params.get("width", noise.shape[3] * 8 if noise.ndim >= 4 else None)
    params["height"] = params.get("height", noise.shape[2] * 8)
    params["prompt_type"] = params.get("prompt_type", prompt_type)
    for k, v in extra.items():
        params.setdefault(k, v)
    model_conds = dict(c.model_conds)
    concat = model.concat_cond(params)
    if concat is not None:
        model_conds["c_concat"] = NoiseShapeCond(concat)
    adm = model.encode_adm(params)
    if adm is not None:
        model_conds["y"] = ModelCond(adm)
    if c.cross_attn is not None:
        model_conds["c_crossattn"] = CrossAttnCond(c.cross_attn)
    return replace(c, model_conds=model_conds)


def _add_area_dims(area: list[Any], num_dims: int) -> list[Any]:
    while len(area) // 2 < num_dims:
        half = len(area) // 2
        area = [_AREA_UNBOUNDED] + area[:half] + [0] + area[half:]
    return area


def _area_inside(a: Sequence[int], outer: Sequence[int]) -> bool:
    a = _add_area_dims(list(a), len(outer) // 2)
    outer = _add_area_dims(list(outer), len(a) // 2)
    a_l, o_l = len(a) // 2, len(outer) // 2
    for i in range(min(a_l, o_l)):
        if a[a_l + i] < outer[o_l + i]:
            return False
    return all(a[i] + a[a_l + i] <= outer[i] + outer[o_l + i] for i in range(min(a_l, o_l)))


def _add_same_area(conds: list[PreparedCond], c: PreparedCond) -> None:
    """Give the other list an entry over `c`'s area (the smallest entry enclosing it lends its inputs),
    so an area prompt is always guided against something on the same region."""
    if c.area is None:
        return
    smallest: PreparedCond | None = None
    for x in conds:
        if x.area is not None:
            if _area_inside(c.area, x.area) and (
                    smallest is None or smallest.area is None
                    or math.prod(smallest.area[:len(smallest.area) // 2]) > math.prod(x.area[:len(x.area) // 2])):
                smallest = x
        elif smallest is None:
            smallest = x
    if smallest is None:
        return
    if smallest.area is not None and smallest.area == c.area:
        return
    conds.append(replace(c, model_conds=dict(smallest.model_conds), uid=next(_ids)))


def process_conds(model: DenoiserModel, noise: torch.Tensor, conds: Mapping[str, list[PreparedCond]],
                  device: torch.device, latent_image: torch.Tensor | None = None,
                  denoise_mask: torch.Tensor | None = None, seed: int | None = None) -> dict[str, list[PreparedCond]]:
    """Resolve every named list ("positive", "negative", ...) for a run on `noise`'s shape."""
    dims = tuple(noise.shape[2:])
    out = {k: [_resolve_area_and_mask(c, dims, device) for c in v] for k, v in conds.items()}
    ms = model.model_sampling
    out = {k: [_with_timestep_range(c, ms) for c in v] for k, v in out.items()}
    extra = {"latent_image": latent_image, "denoise_mask": denoise_mask, "seed": seed}
    out = {k: [_encode_model_conds(model, c, noise, device, k, extra) for c in v] for k, v in out.items()}
    # Iterating the live lists as they grow, as ComfyUI does: a copied area entry is checked in turn.
    for k in out:
        for c in out[k]:
            for kk in out:
                if k != kk:
                    _add_same_area(out[kk], c)
    return out


# -- one step -------------------------------------------------------------------------------------

@dataclass
class _Chunk:
    input_x: torch.Tensor
    mult: torch.Tensor
    conditioning: dict[str, ModelCond]
    area: list[int] | None
    target: int  # index of the list (cond, uncond, ...) the chunk's output adds to


def _area_and_mult(c: PreparedCond, x_in: torch.Tensor, sigma: torch.Tensor, target: int) -> _Chunk | None:
    dims = tuple(x_in.shape[2:])
    if c.timestep_start is not None and sigma[0] > c.timestep_start:
        return None
    if c.timestep_end is not None and sigma[0] < c.timestep_end:
        return None
    area: list[int] | None = None
    if c.area is not None:
        area = _add_area_dims(list(c.area), len(dims))
        if len(area) // 2 > len(dims):
            area = area[:len(dims)] + area[len(area) // 2:len(area) // 2 + len(dims)]
    n = len(dims)
    input_x = x_in
    if area is not None:
        for i in range(n):
            area[i] = min(input_x.shape[i + 2] - area[n + i], area[i])
            input_x = input_x.narrow(i + 2, area[n + i], area[i])
    if c.mask is not None:
        mask = c.mask[:input_x.shape[0]]
        if area is not None:
            for i in range(n):
                mask = mask.narrow(i + 1, area[n + i], area[i])
        mask = mask * c.mask_strength
        mask = mask.unsqueeze(1).repeat((input_x.shape[0] // mask.shape[0], input_x.shape[1]) + (1,) * (mask.ndim - 1))
    else:
        mask = torch.ones_like(input_x)
    mult = mask * c.strength
    if c.mask is None and area is not None:
        for i in range(n):
            rr = min(_AREA_FEATHER, mult.shape[2 + i] // 4)
            if area[n + i] != 0:
                for t in range(rr):
                    mult.narrow(i + 2, t, 1).mul_((1.0 / rr) * (t + 1))
            if area[i] + area[n + i] < x_in.shape[i + 2]:
                for t in range(rr):
                    mult.narrow(i + 2, area[i] - 1 - t, 1).mul_((1.0 / rr) * (t + 1))
    conditioning = {k: mc.process(batch_size=x_in.shape[0], area=area) for k, mc in c.model_conds.items()}
    return _Chunk(input_x, mult, conditioning, area, target)


def _can_concat(c1: _Chunk, c2: _Chunk) -> bool:
    if c1.input_x.shape != c2.input_x.shape:
        return False
    a, b = c1.conditioning, c2.conditioning
    if a is b:
        return True
    return a.keys() == b.keys() and all(a[k].can_concat(b[k]) for k in a)


def run_network(model: DenoiserModel, x: torch.Tensor, sigma: torch.Tensor,
                inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One network call on a batch, as denoised latents (ComfyUI's `BaseModel._apply_model`)."""
    ms = model.model_sampling
    xc = ms.calculate_input(sigma, x)
    if "c_concat" in inputs:
        xc = torch.cat([xc, inputs["c_concat"].to(xc.device, xc.dtype)], dim=1)
    xc = xc.to(model.dtype)
    t = ms.timestep(sigma).float()
    context = inputs.get("c_crossattn")
    if context is not None:
        context = context.to(xc.device, model.dtype)
    y = inputs.get("y")
    if y is not None:
        y = y.to(xc.device, model.dtype)
    output = model.apply_model(xc, t, c_crossattn=context, y=y)
    return ms.calculate_denoised(sigma, output.float(), x)


def calc_cond_batch(model: DenoiserModel, conds: Sequence[Sequence[PreparedCond] | None], x_in: torch.Tensor,
                    sigma: torch.Tensor) -> list[torch.Tensor]:
    """The denoised prediction of each list in `conds` (a None list predicts zeros) at `sigma` [B]."""
    out_conds = [torch.zeros_like(x_in) for _ in conds]
    out_counts = [torch.ones_like(x_in) * 1e-37 for _ in conds]
    to_run: list[_Chunk] = []
    for i, cond_list in enumerate(conds):
        for c in cond_list or ():
            chunk = _area_and_mult(c, x_in, sigma, i)
            if chunk is not None:
                to_run.append(chunk)

    while to_run:
        first = to_run[0]
        first_shape = first.input_x.shape
        candidates = [i for i, ch in enumerate(to_run) if _can_concat(ch, first)]
        candidates.reverse()  # popped from the back, so the batch runs in reverse list order
        to_batch = candidates[:1]
        for div in range(1, len(candidates) + 1):
            amount = candidates[:len(candidates) // div]
            if model.fits_in_memory([len(amount) * first_shape[0]] + list(first_shape)[1:]):
                to_batch = amount
                break
        chunks = [to_run.pop(i) for i in to_batch]
        input_x = torch.cat([ch.input_x for ch in chunks])
        inputs = {k: chunks[0].conditioning[k].concat([ch.conditioning[k] for ch in chunks[1:]])
                  for k in chunks[0].conditioning}
        output = run_network(model, input_x, torch.cat([sigma] * len(chunks)), inputs).chunk(len(chunks))
        for o, ch in enumerate(chunks):
            out_c, out_cts = out_conds[ch.target], out_counts[ch.target]
            if ch.area is not None:
                dims = len(ch.area) // 2
                for i in range(dims):
                    out_c = out_c.narrow(i + 2, ch.area[i + dims], ch.area[i])
                    out_cts = out_cts.narrow(i + 2, ch.area[i + dims], ch.area[i])
            out_c += output[o] * ch.mult
            out_cts += ch.mult

    for i in range(len(out_conds)):
        out_conds[i] /= out_counts[i]
    return out_conds
