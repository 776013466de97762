"""Model loader nodes of ComfyUI's `nodes.py` and `nodes_model_advanced`: CheckpointLoaderSimple,
CheckpointLoader, UNETLoader, CLIPLoader, DualCLIPLoader, VAELoader, LoraLoader,
LoraLoaderModelOnly, CLIPSetLastLayer, ModelSamplingDiscrete.

Thin wrappers over `toucan_nb.diffusion.loaders` (docs/diffusion.md §2 says where files go). Model
combos list the runtime's model folders when asked, so a file dropped in shows up on the next
/object_info. A file is read once however many nodes load it (the engine's part cache).
Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.diffusion import loaders, lora
from toucan_nb.diffusion.detection import UnsupportedModelError
from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.sampling.model_sampling import model_sampling
from toucan_nb.diffusion.text_encoder import TextEncoder
from toucan_nb.diffusion.vae import VAE
from toucan_nb.runtime import folders

CLIP_TYPES = ["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2", "ovis"]
DUAL_CLIP_TYPES = ["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image", "hunyuan_video_15",
                   "kandinsky5", "kandinsky5_image", "ltxv", "newbie"]
WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
SAMPLING_TYPES = ["eps", "v_prediction", "lcm", "x0", "img_to_img"]
_LORA_DESCRIPTION = ("LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are "
                     "denoised such as applying styles. Multiple LoRA nodes can be linked together.")


def _files(folder: str) -> list[str]:
    return folders.active().get_filename_list(folder)


def _path(folder: str, name: str) -> str:
    return folders.active().get_full_path_or_raise(folder, name)


def _embedding_dirs() -> list[str]:
    return folders.active().get_folder_paths("embeddings")


class CheckpointLoaderSimple:
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = ("The model used for denoising latents.", "The CLIP model used for encoding text prompts.",
                       "The VAE model used for encoding and decoding images to and from latent space.")
    DESCRIPTION = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents."
    FUNCTION = "load_checkpoint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"ckpt_name": (_files("checkpoints"),
                                           {"tooltip": "The name of the checkpoint (model) to load."})}}

    def load_checkpoint(self, ckpt_name: str) -> tuple[DiffusionModel, TextEncoder | None, VAE]:
        return loaders.load_checkpoint(_path("checkpoints", ckpt_name), _embedding_dirs())


class CheckpointLoader:
    """Deprecated in ComfyUI: the config file is ignored here, the layout is read from the weights."""

    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    DEPRECATED = True
    FUNCTION = "load_checkpoint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"config_name": (_files("configs"),), "ckpt_name": (_files("checkpoints"),)}}

    def load_checkpoint(self, config_name: str, ckpt_name: str) -> tuple[DiffusionModel, TextEncoder | None, VAE]:
        return loaders.load_checkpoint(_path("checkpoints", ckpt_name), _embedding_dirs())


class UNETLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"unet_name": (_files("diffusion_models"),), "weight_dtype": (list(WEIGHT_DTYPES),)}}

    def load_unet(self, unet_name: str, weight_dtype: str) -> tuple[DiffusionModel]:
        return (loaders.load_diffusion_model(_path("diffusion_models", unet_name), weight_dtype),)


class CLIPLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("CLIP",)
    DESCRIPTION = ("[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\n"
                   "stable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n"
                   " hidream: llama-3.1 (Recommend) or t5\nomnigen2: qwen vl 2.5 3B")
    FUNCTION = "load_clip"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"clip_name": (_files("text_encoders"),), "type": (list(CLIP_TYPES),)},
                "optional": {"device": (["default", "cpu"], {"advanced": True})}}

    def load_clip(self, clip_name: str, type: str = "stable_diffusion", device: str = "default") -> tuple[TextEncoder]:
        # `device` "cpu" is accepted; the engine keeps text encoders on the runtime's device.
        return (loaders.load_text_encoders([_path("text_encoders", clip_name)], type, _embedding_dirs()),)


class DualCLIPLoader:
    CATEGORY = "advanced/loaders"
    RETURN_TYPES = ("CLIP",)
    DESCRIPTION = ("[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\n"
                   "flux: clip-l, t5\nhidream: at least one of t5 or llama, recommended t5 and llama\n"
                   "hunyuan_image: qwen2.5vl 7b and byt5 small\nnewbie: gemma-3-4b-it, jina clip v2")
    FUNCTION = "load_clip"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        names = _files("text_encoders")
        return {"required": {"clip_name1": (names,), "clip_name2": (list(names),), "type": (list(DUAL_CLIP_TYPES),)},
                "optional": {"device": (["default", "cpu"], {"advanced": True})}}

    def load_clip(self, clip_name1: str, clip_name2: str, type: str, device: str = "default") -> tuple[TextEncoder]:
        paths = [_path("text_encoders", clip_name1), _path("text_encoders", clip_name2)]
        return (loaders.load_text_encoders(paths, type, _embedding_dirs()),)


class VAELoader:
    CATEGORY = "loaders"
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        # ComfyUI also offers "taesd"-style entries when both TAESD halves are in vae_approx; the
        # built-in engine has no TAESD encoder, so it lists only real files and "pixel_space".
        return {"required": {"vae_name": ([*_files("vae"), "pixel_space"],)}}

    def load_vae(self, vae_name: str) -> tuple[VAE]:
        if vae_name == "pixel_space":
            raise UnsupportedModelError("the pixel_space VAE is not supported by the built-in engine")
        return (loaders.load_vae(_path("vae", vae_name)),)


class LoraLoader:
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP")
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.")
    DESCRIPTION = _LORA_DESCRIPTION
    FUNCTION = "load_lora"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
            "lora_name": (_files("loras"), {"tooltip": "The name of the LoRA."}),
            "strength_model": ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01,
                                         "tooltip": "How strongly to modify the diffusion model. This value can be "
                                                    "negative."}),
            "strength_clip": ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01,
                                        "tooltip": "How strongly to modify the CLIP model. This value can be "
                                                   "negative."}),
        }}

    def load_lora(self, model: DiffusionModel, clip: TextEncoder | None, lora_name: str, strength_model: float,
                  strength_clip: float) -> tuple[Any, Any]:
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        tensors = loaders.load_lora(_path("loras", lora_name))
        new_model, new_clip = lora.load_lora_for_models(model, clip, tensors, strength_model, strength_clip)
        return (new_model, new_clip)


class LoraLoaderModelOnly:
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL",)
    # QUIRK(ComfyUI nodes.LoraLoaderModelOnly): it inherits LoraLoader's two output tooltips.
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.")
    DESCRIPTION = _LORA_DESCRIPTION
    FUNCTION = "load_lora_model_only"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL",), "lora_name": (_files("loras"),),
                             "strength_model": ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01})}}

    def load_lora_model_only(self, model: DiffusionModel, lora_name: str, strength_model: float) -> tuple[Any]:
        if strength_model == 0:
            return (model,)
        tensors = loaders.load_lora(_path("loras", lora_name))
        return (lora.load_lora_for_models(model, None, tensors, strength_model, 0)[0],)


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
        return {"required": {"model": ("MODEL",), "sampling": (list(SAMPLING_TYPES),),
                             "zsnr": ("BOOLEAN", {"default": False})}}

    def patch(self, model: DiffusionModel, sampling: str, zsnr: bool) -> tuple[DiffusionModel]:
        patched = model.clone()
        patched.add_object_patch("model_sampling", model_sampling(sampling, zsnr))
        return (patched,)
