"""Model loader nodes of ComfyUI's `nodes.py` (and ModelSamplingDiscrete) on the built-in engine.

CheckpointLoaderSimple, CheckpointLoader, UNETLoader, CLIPLoader, DualCLIPLoader, VAELoader,
LoraLoader, LoraLoaderModelOnly, CLIPSetLastLayer, ModelSamplingDiscrete. File lists come from the
runtime's model folders (`checkpoints`, `diffusion_models`, `text_encoders`, `vae`, `loras`,
`configs`); loading is `toucan_nb.diffusion.loaders`, which reads a file once however many nodes
ask for it and shares the parts still alive (docs/diffusion.md §4). Node values (MODEL, CLIP) are
never changed in place: LoRA, the last CLIP layer and model sampling make patched copies.
Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.diffusion import loaders
from toucan_nb.diffusion.lora import load_lora_for_models
from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.sampling.model_sampling import model_sampling
from toucan_nb.diffusion.text_encoder import TextEncoder
from toucan_nb.diffusion.vae import VAE
from toucan_nb.runtime import folders

CLIP_TYPES = ["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2", "ovis"]
DUAL_CLIP_TYPES = ["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image", "hunyuan_video_15",
                   "kandinsky5", "kandinsky5_image", "ltxv", "newbie"]
UNET_WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
LORA_STRENGTH = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}
PIXEL_SPACE = "pixel_space"


def _files(folder: str) -> list[str]:
    return folders.active().get_filename_list(folder)


def _path(folder: str, name: str) -> str:
    return folders.active().get_full_path_or_raise(folder, name)


def _embedding_dirs() -> list[str]:
    return folders.active().get_folder_paths("embeddings")


class CheckpointLoaderSimple:
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = ("The model used for denoising latents.",
                       "The CLIP model used for encoding text prompts.",
                       "The VAE model used for encoding and decoding images to and from latent space.")
    FUNCTION = "load_checkpoint"
    DESCRIPTION = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents."

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"ckpt_name": (_files("checkpoints"), {"tooltip": "The name of the checkpoint (model) to load."})}}

    def load_checkpoint(self, ckpt_name: str) -> tuple[DiffusionModel, TextEncoder | None, VAE]:
        return loaders.load_checkpoint(_path("checkpoints", ckpt_name), embedding_dirs=_embedding_dirs())


class CheckpointLoader:
    """Deprecated in ComfyUI. The config file is listed as ComfyUI lists it, but the built-in engine
    reads the architecture from the checkpoint itself, as CheckpointLoaderSimple does."""

    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    DEPRECATED = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"config_name": (_files("configs"),), "ckpt_name": (_files("checkpoints"),)}}

    def load_checkpoint(self, config_name: str, ckpt_name: str) -> tuple[DiffusionModel, TextEncoder | None, VAE]:
        return loaders.load_checkpoint(_path("checkpoints", ckpt_name), embedding_dirs=_embedding_dirs())


class UNETLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"unet_name": (_files("diffusion_models"),), "weight_dtype": (list(UNET_WEIGHT_DTYPES),)}}

    def load_unet(self, unet_name: str, weight_dtype: str) -> tuple[DiffusionModel]:
        return (loaders.load_diffusion_model(_path("diffusion_models", unet_name), weight_dtype),)


class CLIPLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    DESCRIPTION = ("[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\n"
                   "stable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n"
                   " hidream: llama-3.1 (Recommend) or t5\nomnigen2: qwen vl 2.5 3B")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"clip_name": (_files("text_encoders"),), "type": (list(CLIP_TYPES),)},
                "optional": {"device": (["default", "cpu"], {"advanced": True})}}

    def load_clip(self, clip_name: str, type: str = "stable_diffusion", device: str = "default") -> tuple[TextEncoder]:
        # `device` "cpu" keeps ComfyUI's input; the built-in engine places text encoders itself.
        path = _path("text_encoders", clip_name)
        return (loaders.load_text_encoders([path], clip_type=type, embedding_dirs=_embedding_dirs()),)


class DualCLIPLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    DESCRIPTION = ("[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\nflux: clip-l, t5\n"
                   "hidream: at least one of t5 or llama, recommended t5 and llama\n"
                   "hunyuan_image: qwen2.5vl 7b and byt5 small\nnewbie: gemma-3-4b-it, jina clip v2")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        names = _files("text_encoders")
        return {"required": {"clip_name1": (names,), "clip_name2": (list(names),), "type": (list(DUAL_CLIP_TYPES),)},
                "optional": {"device": (["default", "cpu"], {"advanced": True})}}

    def load_clip(self, clip_name1: str, clip_name2: str, type: str, device: str = "default") -> tuple[TextEncoder]:
        paths = [_path("text_encoders", clip_name1), _path("text_encoders", clip_name2)]
        return (loaders.load_text_encoders(paths, clip_type=type, embedding_dirs=_embedding_dirs()),)


class VAELoader:
    CATEGORY = "loaders"
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        # ComfyUI also lists "taesd"-style names when both TAESD halves are in vae_approx; the
        # built-in engine does not decode with TAESD (it previews with it), so they are not offered.
        return {"required": {"vae_name": ([*_files("vae"), PIXEL_SPACE],)}}

    def load_vae(self, vae_name: str) -> tuple[VAE]:
        if vae_name == PIXEL_SPACE:
            raise ValueError("the pixel_space VAE is for pixel-space models, which the built-in engine does not "
                             "run; use a ComfyUI checkout (--comfyui-root) for them")
        return (loaders.load_vae(_path("vae", vae_name)),)


class LoraLoader:
    CATEGORY = "loaders"
    RETURN_TYPES: tuple[str, ...] = ("MODEL", "CLIP")
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.")
    FUNCTION = "load_lora"
    DESCRIPTION = ("LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are "
                   "denoised such as applying styles. Multiple LoRA nodes can be linked together.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
            "lora_name": (_files("loras"), {"tooltip": "The name of the LoRA."}),
            "strength_model": ("FLOAT", {**LORA_STRENGTH, "tooltip": "How strongly to modify the diffusion model. "
                                                                     "This value can be negative."}),
            "strength_clip": ("FLOAT", {**LORA_STRENGTH, "tooltip": "How strongly to modify the CLIP model. "
                                                                    "This value can be negative."}),
        }}

    def load_lora(self, model: DiffusionModel, clip: TextEncoder | None, lora_name: str, strength_model: float,
                  strength_clip: float) -> tuple[DiffusionModel | None, TextEncoder | None]:
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        lora = loaders.load_lora(_path("loras", lora_name))
        return load_lora_for_models(model, clip, lora, strength_model, strength_clip)


class LoraLoaderModelOnly(LoraLoader):
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_lora_model_only"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL",), "lora_name": (_files("loras"),),
                             "strength_model": ("FLOAT", dict(LORA_STRENGTH))}}

    def load_lora_model_only(self, model: DiffusionModel, lora_name: str,
                             strength_model: float) -> tuple[DiffusionModel | None]:
        return (self.load_lora(model, None, lora_name, strength_model, 0)[0],)


class CLIPSetLastLayer:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "set_last_layer"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"clip": ("CLIP",),
                             "stop_at_clip_layer": ("INT", {"default": -1, "min": -24, "max": -1, "step": 1})}}

    def set_last_layer(self, clip: TextEncoder, stop_at_clip_layer: int) -> tuple[TextEncoder]:
        clip = clip.clone()
        clip.clip_layer(stop_at_clip_layer)
        return (clip,)


class ModelSamplingDiscrete:
    CATEGORY = "advanced/model"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL",),
                             "sampling": (["eps", "v_prediction", "lcm", "x0", "img_to_img"],),
                             "zsnr": ("BOOLEAN", {"default": False})}}

    def patch(self, model: DiffusionModel, sampling: str, zsnr: bool) -> tuple[DiffusionModel]:
        patched = model.clone()
        patched.add_object_patch("model_sampling", model_sampling(sampling, zsnr=zsnr))
        return (patched,)
