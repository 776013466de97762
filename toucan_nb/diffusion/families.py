"""The model families the built-in engine runs, and what each one implies.

A family fixes what the state dict's shapes alone do not: the attention-head rule (SD1: 8 heads;
the others: 64 channels per head), the latent space, where a single-file checkpoint keeps its
text encoders and in which format, which text encoders the CLIP object has, how the ADM vector is
built (SDXL: size conditioning; refiner: aesthetic score) and ComfyUI's memory factor for batching.
Pure values; any thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from toucan_nb.diffusion.detection import RawUNetLayout, UnsupportedModelError


@dataclass(frozen=True)
class Family:
    name: str                     # ComfyUI's model config class name
    latent_format: str            # name in toucan_nb.diffusion.latent_formats
    num_heads: int
    num_head_channels: int
    # (text-encoder slot, prefix in single-file checkpoints); slots: "l" CLIP-L, "h" OpenCLIP-H, "g" bigG
    checkpoint_text_encoders: tuple[tuple[str, tuple[str, ...]], ...]
    adm: str | None               # None, "sdxl" or "sdxl_refiner"
    memory_usage_factor: float

    @property
    def text_slots(self) -> tuple[str, ...]:
        return tuple(slot for slot, _ in self.checkpoint_text_encoders)


SD15 = Family("SD15", "SD15", num_heads=8, num_head_channels=-1,
              checkpoint_text_encoders=(("l", ("cond_stage_model.transformer.",)),),
              adm=None, memory_usage_factor=1.0)
SD20 = Family("SD20", "SD15", num_heads=-1, num_head_channels=64,
              checkpoint_text_encoders=(("h", ("cond_stage_model.model.", "conditioner.embedders.0.model.")),),
              adm=None, memory_usage_factor=1.0)
SDXL = Family("SDXL", "SDXL", num_heads=-1, num_head_channels=64,
              checkpoint_text_encoders=(("l", ("conditioner.embedders.0.transformer.",)),
                                        ("g", ("conditioner.embedders.1.model.",))),
              adm="sdxl", memory_usage_factor=0.8)
SDXL_REFINER = Family("SDXLRefiner", "SDXL", num_heads=-1, num_head_channels=64,
                      checkpoint_text_encoders=(("g", ("conditioner.embedders.0.model.",)),),
                      adm="sdxl_refiner", memory_usage_factor=1.0)

FAMILIES = (SD15, SD20, SDXL, SDXL_REFINER)


def family_for(layout: RawUNetLayout) -> Family:
    """The family of a detected UNet; raises UnsupportedModelError for anything else."""
    key = (layout.context_dim, layout.adm_in_channels, layout.use_linear_in_transformer)
    if key == (768, None, False):
        return SD15
    if key == (1024, None, True):
        return SD20
    if key == (2048, 2816, True):
        return SDXL
    if key == (1280, 2560, True):
        return SDXL_REFINER
    raise UnsupportedModelError(
        f"unsupported diffusion model (context width {layout.context_dim}, ADM width {layout.adm_in_channels}, "
        f"{'linear' if layout.use_linear_in_transformer else 'conv'} projections): the built-in engine runs "
        "SD1.x, SD2.x, SDXL and the SDXL refiner; other models need a ComfyUI checkout")
