"""MODEL: a loaded UNet as the sampling layer uses it (the `DenoiserModel` protocol).

`DiffusionModel` is a value: `clone()` shares the network and copies the patch list, so LoRA and
model-patching nodes return new MODELs and never change their input. It provides what ComfyUI's
`BaseModel` does around the network: `model_sampling` (the discrete schedule with the detected
prediction type; sampling/model_sampling.py), `latent_format`, `apply_model` (the raw network
output for already-scaled inputs), `encode_adm` (SDXL's pooled text + six 256-wide sinusoidal
embeddings of height, width, crop_h, crop_w, target_height, target_width, defaulting to 768, 768,
0, 0 and the size; the refiner's height, width, crops and aesthetic score 6, or 2.5 for negative
prompts), `concat_cond` (inpainting UNets' mask + masked-image channels, built by sampling/concat.py) and the memory estimate
ComfyUI's cond batcher uses. The network is moved to the device and patched on first use
(memory.py). Executor thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from toucan_nb.diffusion import memory
from toucan_nb.diffusion.detection import Prediction, UnsupportedModelError
from toucan_nb.diffusion.families import Family
from toucan_nb.diffusion.patcher import ModelPatcher, WeightAdapter
from toucan_nb.diffusion.unet import UNetConfig, UNetModel, timestep_embedding


class DiffusionModel:
    """A UNet with its family, prediction type and this value's patches."""

    def __init__(self, patcher: ModelPatcher, family: Family, config: UNetConfig, prediction: Prediction,
                 compute_dtype: torch.dtype) -> None:
        self.patcher = patcher
        self.family = family
        self.unet_config = config
        self.prediction = prediction
        self.compute_dtype = compute_dtype
        self.object_patches: dict[str, Any] = {}
        self.model_options: dict[str, Any] = {"transformer_options": {}}

    # -- value semantics ---------------------------------------------------------------------
    def clone(self) -> DiffusionModel:
        other = DiffusionModel(self.patcher.clone(), self.family, self.unet_config, self.prediction,
                               self.compute_dtype)
        other.object_patches = dict(self.object_patches)
        other.model_options = {**self.model_options,
                               "transformer_options": dict(self.model_options.get("transformer_options", {}))}
        return other

    def add_patches(self, patches: Mapping[str, WeightAdapter], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[str]:
        """Add weight patches (keys `diffusion_model.<ldm key>`); returns the keys this model has."""
        local = {k[len("diffusion_model."):]: v for k, v in patches.items() if k.startswith("diffusion_model.")}
        taken = self.patcher.add_patches(local, strength_patch, strength_model)
        return ["diffusion_model." + k for k in taken]

    def add_object_patch(self, name: str, obj: Any) -> None:
        """Replace an attribute for this value only (e.g. "model_sampling", as ComfyUI's nodes do)."""
        self.object_patches[name] = obj

    def get_model_object(self, name: str) -> Any:
        """An attribute as this value sees it (object patches first), as ComfyUI's ModelPatcher offers."""
        if name in self.object_patches:
            return self.object_patches[name]
        return getattr(self, name)

    def weight_keys(self) -> set[str]:
        """`diffusion_model.<key>` for every weight (what LoRA key maps are built from)."""
        return {"diffusion_model." + k for k in self.patcher.state_dict_keys()}

    # -- what the sampling layer reads -------------------------------------------------------
    @property
    def model_sampling(self) -> Any:
        patched = self.object_patches.get("model_sampling")
        if patched is not None:
            return patched
        return _default_sampling(self.prediction)

    @property
    def latent_format(self) -> Any:
        from toucan_nb.diffusion import latent_formats

        return getattr(latent_formats, self.family.latent_format)

    @property
    def dtype(self) -> torch.dtype:
        return self.compute_dtype

    @property
    def device(self) -> torch.device:
        return self.patcher.load_device

    @property
    def network(self) -> UNetModel:
        return self.patcher.network.module  # type: ignore[return-value]

    @property
    def is_inpaint(self) -> bool:
        return self.unet_config.in_channels > 4

    def load(self, memory_required: int = 0) -> None:
        """Put the network on its device with this value's patches (done by apply_model anyway)."""
        memory.load(self.patcher, memory_required)

    def apply_model(self, x_in: torch.Tensor, t: torch.Tensor, c_crossattn: torch.Tensor | None,
                    y: torch.Tensor | None = None, control: dict | None = None, **_extra: Any) -> torch.Tensor:
        """The raw network output for inputs already scaled, concatenated and cast (see the protocol)."""
        self.load()
        with torch.inference_mode():
            return self.network(x_in, t, context=c_crossattn, y=y, control=control)

    def process_latent_in(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_in(latent)

    def process_latent_out(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_out(latent)

    # -- conditioning extras -----------------------------------------------------------------
    def encode_adm(self, params: Mapping[str, Any]) -> torch.Tensor | None:
        """The ADM vector [B, adm] for one conditioning entry (SDXL and the refiner), else None."""
        if self.family.adm is None:
            return None
        pooled = params.get("pooled_output")
        if pooled is None:
            raise ValueError(f"{self.family.name} needs conditioning with a pooled_output "
                             "(encode the prompt with this model's CLIP)")
        width = params.get("width", 768)
        height = params.get("height", 768)
        values: list[float] = [height, width, params.get("crop_h", 0), params.get("crop_w", 0)]
        if self.family.adm == "sdxl":
            values += [params.get("target_height", height), params.get("target_width", width)]
        else:
            default = 2.5 if params.get("prompt_type", "") == "negative" else 6
            values.append(params.get("aesthetic_score", default))
        return sdxl_adm(pooled, values)

    def concat_cond(self, params: Mapping[str, Any]) -> torch.Tensor | None:
        """Mask and masked-image latent channels for inpainting UNets ([B, 5, h, w]), else None."""
        if not self.is_inpaint:
            return None
        from toucan_nb.diffusion.sampling.concat import inpaint_concat

        return inpaint_concat(params, self.latent_format)

    # -- memory ------------------------------------------------------------------------------
    def memory_required(self, input_shape: Sequence[int]) -> float:
        """ComfyUI's estimate of the bytes one network call on `input_shape` needs."""
        area = input_shape[0] * math.prod(input_shape[2:])
        factor = self.family.memory_usage_factor
        if self.device.type == "cuda":
            size = torch.finfo(self.compute_dtype).bits // 8
            return area * size * 0.01 * factor * 1024 * 1024
        return area * 0.15 * factor * 1024 * 1024

    def fits_in_memory(self, input_shape: Sequence[int]) -> bool:
        return self.memory_required(input_shape) * 1.5 < memory.get_free_memory(self.device)


def sdxl_adm(pooled: torch.Tensor, values: Sequence[float]) -> torch.Tensor:
    """pooled [B, 1280] followed by a 256-wide sinusoidal embedding of each value."""
    parts = [timestep_embedding(torch.Tensor([v]), 256) for v in values]
    flat = torch.flatten(torch.cat(parts)).unsqueeze(dim=0).repeat(pooled.shape[0], 1)
    return torch.cat((pooled.to(flat.device), flat), dim=1)


def _default_sampling(prediction: Prediction) -> Any:
    if prediction.kind not in ("eps", "v_prediction"):
        raise UnsupportedModelError(f"{prediction.kind} models (e.g. Playground v2.5) are not supported by the "
                                    "built-in engine's sampling")
    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete

    return _cached_sampling(prediction.kind, prediction.zsnr, ModelSamplingDiscrete)


_SAMPLING_CACHE: dict[tuple[str, bool], Any] = {}


def _cached_sampling(kind: str, zsnr: bool, cls: Any) -> Any:
    key = (kind, zsnr)
    if key not in _SAMPLING_CACHE:
        _SAMPLING_CACHE[key] = cls(kind, zsnr=zsnr)
    return _SAMPLING_CACHE[key]
