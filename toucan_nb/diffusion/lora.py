"""LoRA files -> weight patches for MODEL and CLIP values (ComfyUI's `comfy/lora.py` behaviour).

Key maps name each model weight the ways LoRA trainers do: kohya `lora_unet_<ldm key with dots as
underscores>` and the same for the diffusers module names, `lycoris_*`, the old diffusers
attention-processor names (`[unet.]<module>.processor.to_q`), generic `diffusion_model.<key>`;
for text encoders `lora_te_text_model_encoder_layers_N_<proj>` (SD1/SD2; the refiner's bigG),
`lora_te1_`/`lora_te2_` (SDXL's CLIP-L/bigG), `text_encoder[_2].text_model.encoder.layers.N.<proj>`
and generic `text_encoders.<key>`. Per mapped name the file may hold a LoRA (`.lora_up.weight`/
`.lora_down.weight`, `_lora.up/down`, `.lora_B/.lora_A`, `.lora.up/down`, `.lora_linear_layer.up/
down`, with optional `.alpha`, `.lora_mid` (Tucker) and `.dora_scale`), a LoHa (`.hada_*`), a LoKr
(`.lokr_*`), a
full `.diff` / `.diff_b` or a `.set_weight`. The patch is W += strength * (alpha / rank) * (up @
down) reshaped to W (so LoCon convs work), summed in fp32. Keys that map to nothing are logged,
never fatal. `load_lora_for_models` clones its inputs, as ComfyUI does; strength 0 adds nothing.
Any thread for loading; patches are applied by memory.load on the executor thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion import keys as key_layouts

if TYPE_CHECKING:
    from toucan_nb.diffusion.model import DiffusionModel
    from toucan_nb.diffusion.text_encoder import TextEncoder

log = logging.getLogger(__name__)

_CLIP_PROJ = {"mlp.fc1": "mlp_fc1", "mlp.fc2": "mlp_fc2", "self_attn.k_proj": "self_attn_k_proj",
              "self_attn.q_proj": "self_attn_q_proj", "self_attn.v_proj": "self_attn_v_proj",
              "self_attn.out_proj": "self_attn_out_proj"}


# -- key maps ------------------------------------------------------------------------------------

def unet_key_map(model: DiffusionModel) -> dict[str, str]:
    """LoRA name -> `diffusion_model.<ldm key>` for every weight of the UNet."""
    out: dict[str, str] = {}
    for k in sorted(model.weight_keys()):
        if k.endswith(".weight"):
            stem = k[:-len(".weight")]
            out["lora_unet_" + stem[len("diffusion_model."):].replace(".", "_")] = k
            out[stem] = k
        else:
            out[k] = k
    # Diffusers names of the same weights (kohya, lycoris and old attention-processor spellings).
    local = [k[len("diffusion_model."):] for k in sorted(model.weight_keys()) if k.endswith(".weight")]
    for d_key, ldm_key in key_layouts.diffusers_names(model.unet_config, local):
        stem = d_key[:-len(".weight")]
        target = "diffusion_model." + ldm_key
        flat = stem.replace(".", "_")
        out["lora_unet_" + flat] = target
        out["lycoris_" + flat] = target
        processor = stem.replace(".to_", ".processor.to_")
        if processor.endswith(".to_out.0"):
            processor = processor[:-2]
        out[processor] = target
        out["unet." + processor] = target
    return out


def clip_key_map(clip: TextEncoder) -> dict[str, str]:
    """LoRA name -> CLIP weight key (`clip_l.transformer.text_model...`)."""
    weights = clip.weight_keys()
    out: dict[str, str] = {}
    for k in sorted(weights):
        if k.endswith(".weight"):
            out["text_encoders." + k[:-len(".weight")]] = k
    has_l = False
    for b in range(32):
        for proj, flat in _CLIP_PROJ.items():
            kohya = f"text_model_encoder_layers_{b}_{flat}"
            diffusers = f"text_model.encoder.layers.{b}.{proj}"
            k = f"clip_h.transformer.text_model.encoder.layers.{b}.{proj}.weight"
            if k in weights:
                out["lora_te_" + kohya] = k
                out["lora_te1_" + kohya] = k
                out["text_encoder." + diffusers] = k
            k = f"clip_l.transformer.text_model.encoder.layers.{b}.{proj}.weight"
            if k in weights:
                out["lora_te_" + kohya] = k
                out["lora_te1_" + kohya] = k
                out["text_encoder." + diffusers] = k
                has_l = True
            k = f"clip_g.transformer.text_model.encoder.layers.{b}.{proj}.weight"
            if k in weights:
                if has_l:
                    out["lora_te2_" + kohya] = k
                    out["text_encoder_2." + diffusers] = k
                else:
                    out["lora_te_" + kohya] = k
                    out["text_encoder." + diffusers] = k
                    out["lora_prior_te_" + kohya] = k
    if "clip_g.transformer.text_projection.weight" in weights:
        out["lora_prior_te_text_projection"] = "clip_g.transformer.text_projection.weight"
        out["lora_te2_text_projection"] = "clip_g.transformer.text_projection.weight"
    if "clip_l.transformer.text_projection.weight" in weights:
        out["lora_te1_text_projection"] = "clip_l.transformer.text_projection.weight"
    return out


# -- adapters ------------------------------------------------------------------------------------

def _f32(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(device=like.device, dtype=torch.float32)


def _add(weight: torch.Tensor, diff: torch.Tensor, scale: float, strength: float,
         dora_scale: torch.Tensor | None) -> torch.Tensor:
    if dora_scale is None:
        weight += ((strength * scale) * diff).type(weight.dtype)
        return weight
    return _dora(dora_scale, weight, diff, scale, strength)


def _dora(dora_scale: torch.Tensor, weight: torch.Tensor, diff: torch.Tensor, alpha: float,
          strength: float) -> torch.Tensor:
    """Weight-decomposed LoRA (ComfyUI's weight_decompose, including its norm axis choice)."""
    dora_scale = _f32(dora_scale, weight)
    diff = diff * alpha
    calc = weight + diff.type(weight.dtype)
    if dora_scale.shape[0] == calc.shape[0]:
        norm = weight.reshape(weight.shape[0], -1).norm(dim=1, keepdim=True)
        norm = norm.reshape(weight.shape[0], *[1] * (weight.dim() - 1))
    else:
        norm = calc.transpose(0, 1).reshape(calc.shape[1], -1).norm(dim=1, keepdim=True)
        norm = norm.reshape(calc.shape[1], *[1] * (calc.dim() - 1)).transpose(0, 1)
    norm = norm + torch.finfo(weight.dtype).eps
    calc *= (dora_scale / norm).type(weight.dtype)
    if strength != 1.0:
        calc -= weight
        weight += strength * calc
    else:
        weight[:] = calc
    return weight


@dataclass(frozen=True)
class LoRAPatch:
    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None
    mid: torch.Tensor | None = None
    dora_scale: torch.Tensor | None = None

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        up, down = _f32(self.up, weight), _f32(self.down, weight)
        scale = self.alpha / down.shape[0] if self.alpha is not None else 1.0
        if self.mid is not None:
            mid = _f32(self.mid, weight)
            shape = [down.shape[1], down.shape[0], mid.shape[2], mid.shape[3]]
            down = torch.mm(down.transpose(0, 1).flatten(start_dim=1),
                            mid.transpose(0, 1).flatten(start_dim=1)).reshape(shape).transpose(0, 1)
        diff = torch.mm(up.flatten(start_dim=1), down.flatten(start_dim=1)).reshape(weight.shape)
        return _add(weight, diff, scale, strength, self.dora_scale)


@dataclass(frozen=True)
class LoHaPatch:
    w1a: torch.Tensor
    w1b: torch.Tensor
    w2a: torch.Tensor
    w2b: torch.Tensor
    alpha: float | None
    t1: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    dora_scale: torch.Tensor | None = None

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        scale = self.alpha / self.w1b.shape[0] if self.alpha is not None else 1.0
        w1a, w1b, w2a, w2b = (_f32(t, weight) for t in (self.w1a, self.w1b, self.w2a, self.w2b))
        if self.t1 is not None and self.t2 is not None:
            m1 = torch.einsum("i j k l, j r, i p -> p r k l", _f32(self.t1, weight), w1b, w1a)
            m2 = torch.einsum("i j k l, j r, i p -> p r k l", _f32(self.t2, weight), w2b, w2a)
        else:
            m1, m2 = torch.mm(w1a, w1b), torch.mm(w2a, w2b)
        return _add(weight, (m1 * m2).reshape(weight.shape), scale, strength, self.dora_scale)


@dataclass(frozen=True)
class LoKrPatch:
    """Kronecker product of two factors, each given whole or as a low-rank pair (w2 optionally Tucker)."""

    w1: torch.Tensor | None
    w2: torch.Tensor | None
    alpha: float | None
    w1a: torch.Tensor | None = None
    w1b: torch.Tensor | None = None
    w2a: torch.Tensor | None = None
    w2b: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    dora_scale: torch.Tensor | None = None

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        dim = None
        if self.w1 is None:
            dim = self.w1b.shape[0]  # type: ignore[union-attr]
            w1 = torch.mm(_f32(self.w1a, weight), _f32(self.w1b, weight))  # type: ignore[arg-type]
        else:
            w1 = _f32(self.w1, weight)
        if self.w2 is None:
            dim = self.w2b.shape[0]  # type: ignore[union-attr]
            if self.t2 is None:
                w2 = torch.mm(_f32(self.w2a, weight), _f32(self.w2b, weight))  # type: ignore[arg-type]
            else:
                w2 = torch.einsum("i j k l, j r, i p -> p r k l", _f32(self.t2, weight),
                                  _f32(self.w2b, weight), _f32(self.w2a, weight))  # type: ignore[arg-type]
        else:
            w2 = _f32(self.w2, weight)
        if w2.ndim == 4:
            w1 = w1.unsqueeze(2).unsqueeze(2)
        scale = self.alpha / dim if self.alpha is not None and dim is not None else 1.0
        return _add(weight, torch.kron(w1, w2).reshape(weight.shape), scale, strength, self.dora_scale)


@dataclass(frozen=True)
class DiffPatch:
    diff: torch.Tensor

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        if strength != 0.0:
            if self.diff.shape != weight.shape:
                log.warning("WARNING SHAPE MISMATCH: LoRA diff %s does not fit weight %s, not merged",
                            tuple(self.diff.shape), tuple(weight.shape))
            else:
                weight += strength * self.diff.to(device=weight.device, dtype=weight.dtype)
        return weight


@dataclass(frozen=True)
class SetPatch:
    value: torch.Tensor

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        weight.copy_(self.value)
        return weight


# LoRA up/down key pairs, in the order ComfyUI tries them.
_LORA_NAMES = ((".lora_up.weight", ".lora_down.weight", ".lora_mid.weight"),
               ("_lora.up.weight", "_lora.down.weight", None),
               (".lora_B.weight", ".lora_A.weight", None),
               (".lora.up.weight", ".lora.down.weight", None),
               (".lora_B", ".lora_A", None),
               (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight", None),
               (".lora_B.default.weight", ".lora_A.default.weight", None))


def load_patches(lora: Mapping[str, torch.Tensor], key_map: Mapping[str, str]) -> dict[str, Any]:
    """{model key: patch} for the LoRA entries `key_map` names; unknown entries are logged."""
    patches: dict[str, Any] = {}
    used: set[str] = set()
    for name, target in key_map.items():
        alpha = None
        if f"{name}.alpha" in lora:
            alpha = float(lora[f"{name}.alpha"].item())
            used.add(f"{name}.alpha")
        dora = lora.get(f"{name}.dora_scale")
        if dora is not None:
            used.add(f"{name}.dora_scale")
        for up_suffix, down_suffix, mid_suffix in _LORA_NAMES:
            if name + up_suffix in lora:
                mid = None
                if mid_suffix is not None and name + mid_suffix in lora:
                    mid = lora[name + mid_suffix]
                    used.add(name + mid_suffix)
                patches[target] = LoRAPatch(lora[name + up_suffix], lora[name + down_suffix], alpha, mid, dora)
                used.update((name + up_suffix, name + down_suffix))
                break
        if f"{name}.hada_w1_a" in lora:
            t1, t2 = lora.get(f"{name}.hada_t1"), lora.get(f"{name}.hada_t2")
            parts = [f"{name}.hada_{p}" for p in ("w1_a", "w1_b", "w2_a", "w2_b")]
            w1a, w1b, w2a, w2b = (lora[p] for p in parts)
            patches[target] = LoHaPatch(w1a, w1b, w2a, w2b, alpha, t1, t2, dora)
            used.update(parts)
            if t1 is not None:
                used.update((f"{name}.hada_t1", f"{name}.hada_t2"))
        lokr = {p: lora.get(f"{name}.lokr_{p}") for p in ("w1", "w2", "w1_a", "w1_b", "w2_a", "w2_b", "t2")}
        if any(lokr[p] is not None for p in ("w1", "w2", "w1_a", "w2_a")):
            patches[target] = LoKrPatch(lokr["w1"], lokr["w2"], alpha, lokr["w1_a"], lokr["w1_b"], lokr["w2_a"],
                                        lokr["w2_b"], lokr["t2"], dora)
            used.update(f"{name}.lokr_{p}" for p, v in lokr.items() if v is not None)
        stem = target[:-len(".weight")] if target.endswith(".weight") else target
        for suffix, bias in ((".w_norm", False), (".diff", False), (".b_norm", True), (".diff_b", True)):
            value = lora.get(name + suffix)
            if value is not None:
                patches[f"{stem}.bias" if bias else target] = DiffPatch(value)
                used.add(name + suffix)
        if f"{name}.set_weight" in lora:
            patches[target] = SetPatch(lora[f"{name}.set_weight"])
            used.add(f"{name}.set_weight")
    for k in lora:
        if k not in used:
            log.warning("lora key not loaded: %s", k)
    return patches


def load_lora_for_models(model: DiffusionModel | None, clip: TextEncoder | None, lora: Mapping[str, torch.Tensor],
                         strength_model: float, strength_clip: float
                         ) -> tuple[DiffusionModel | None, TextEncoder | None]:
    """New MODEL and CLIP values with the LoRA added (the inputs are not changed)."""
    key_map: dict[str, str] = {}
    if model is not None:
        key_map.update(unet_key_map(model))
    if clip is not None:
        key_map.update(clip_key_map(clip))
    patches = load_patches(lora, key_map)
    new_model = new_clip = None
    taken: set[str] = set()
    if model is not None:
        new_model = model.clone()
        taken.update(new_model.add_patches(patches, strength_model))
    if clip is not None:
        new_clip = clip.clone()
        taken.update(new_clip.add_patches(patches, strength_clip))
    for k in patches:
        if k not in taken:
            log.warning("NOT LOADED %s", k)
    return new_model, new_clip
