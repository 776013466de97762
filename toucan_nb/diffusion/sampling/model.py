"""What the sampling layer needs from a loaded diffusion model: the `DenoiserModel` protocol.

The model side (checkpoint loading, the UNet) implements it; the sampling layer does everything
around the network call, as ComfyUI's `BaseModel._apply_model` does: it scales the noisy latent
(`model_sampling.calculate_input`), appends any concat channels, casts inputs to `dtype` on
`device`, turns sigma into the integer timestep (as float), calls `apply_model`, and converts the
float32 of the raw output into a denoised latent (`model_sampling.calculate_denoised`).
docs/diffusion-sampling.md §Model interface. Called from the sampling run's thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from toucan_nb.diffusion.latent_formats import LatentFormat
    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete


@runtime_checkable
class DenoiserModel(Protocol):
    """A diffusion network plus its schedule and latent space, ready to run.

    `model_sampling` and `latent_format` are this package's objects. `dtype`/`device` are where the
    network runs: inputs arrive there already cast.
    """

    # Read-only properties, so that a model may hold them as attributes or compute them.
    @property
    def model_sampling(self) -> ModelSamplingDiscrete: ...

    @property
    def latent_format(self) -> LatentFormat: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    def apply_model(self, x_in: torch.Tensor, t: torch.Tensor, c_crossattn: torch.Tensor | None,
                    y: torch.Tensor | None = None) -> torch.Tensor:
        """The raw network output (eps, v or x0, per `model_sampling.prediction`) for a batch.

        `x_in` [N, C(+concat), h, w] is the scaled input with any concat channels appended; `t` [N]
        float timesteps (integers 0..999); `c_crossattn` [N, tokens, dim]; `y` [N, adm] (SDXL) or None.
        """
        ...

    def encode_adm(self, params: Mapping[str, Any]) -> torch.Tensor | None:
        """The ADM vector `y` [B, adm] for one conditioning entry, or None for models without one.

        `params` is the entry's dict (e.g. `pooled_output`, `width`, `height`, `crop_w`, `crop_h`,
        `target_width`, `target_height`) with `width`/`height` defaulted to the latent's pixel size
        (latent * 8), plus `prompt_type` ("positive"/"negative"), `device`, `noise` and `seed`.
        Called once per entry before sampling.
        """
        ...

    def concat_cond(self, params: Mapping[str, Any]) -> torch.Tensor | None:
        """Extra input channels for inpainting networks ([B, k, h, w], cropped with area conds), or None.

        `params` is as for `encode_adm` plus `latent_image` (the processed latent), `denoise_mask`
        (or None) and any `concat_latent_image`/`concat_mask` the conditioning carries.
        `concat.inpaint_concat(params, latent_format)` builds the standard inpainting channels.
        """
        ...

    def fits_in_memory(self, input_shape: Sequence[int]) -> bool:
        """Whether one network call on a batch of `input_shape` fits the device's free memory.

        The cond/uncond batcher asks with the largest batch first and halves until this is true.
        """
        ...
