"""The built-in node library: ComfyUI's core image, mask, latent and primitive nodes, in torch, and
the model, conditioning, VAE and sampling nodes of the built-in diffusion engine (docs/diffusion.md).

`register_builtin_nodes(registry)` adds every class under ComfyUI's name, display name and
`python_module`, in the order a real ComfyUI 0.8.0 lists them in /object_info
(tests/vectors/object_info.json). `set_metadata_enabled(False)` is the `--disable-metadata` switch.
Registration runs at runtime start-up on the thread that starts it.
"""

from __future__ import annotations

from toucan_nb.nodes import (
    compositing,
    conditioning,
    custom_sampling,
    image_io,
    image_ops,
    latents,
    masks,
    model_loaders,
    postprocessing,
    primitives,
    sampling,
    vae_nodes,
)
from toucan_nb.nodes.image_io import metadata_enabled, set_metadata_enabled
from toucan_nb.runtime.registry import NodeRegistry

__all__ = ["BUILTIN_NODES", "metadata_enabled", "register_builtin_nodes", "set_metadata_enabled"]

_POST = "comfy_extras.nodes_post_processing"
_MASK = "comfy_extras.nodes_mask"
_COMPOSITING = "comfy_extras.nodes_compositing"
_PRIMITIVE = "comfy_extras.nodes_primitive"
_CUSTOM_SAMPLER = "comfy_extras.nodes_custom_sampler"

# (class_type, class, display name or None, python_module), in ComfyUI's registration order.
BUILTIN_NODES: tuple[tuple[str, type, str | None, str], ...] = (
    ("KSampler", sampling.KSampler, "KSampler", "nodes"),
    ("CheckpointLoaderSimple", model_loaders.CheckpointLoaderSimple, "Load Checkpoint", "nodes"),
    ("CLIPTextEncode", conditioning.CLIPTextEncode, "CLIP Text Encode (Prompt)", "nodes"),
    ("CLIPSetLastLayer", model_loaders.CLIPSetLastLayer, "CLIP Set Last Layer", "nodes"),
    ("VAEDecode", vae_nodes.VAEDecode, "VAE Decode", "nodes"),
    ("VAEEncode", vae_nodes.VAEEncode, "VAE Encode", "nodes"),
    ("VAEEncodeForInpaint", vae_nodes.VAEEncodeForInpaint, "VAE Encode (for Inpainting)", "nodes"),
    ("VAELoader", model_loaders.VAELoader, "Load VAE", "nodes"),
    ("EmptyLatentImage", latents.EmptyLatentImage, "Empty Latent Image", "nodes"),
    ("LatentUpscale", latents.LatentUpscale, "Upscale Latent", "nodes"),
    ("LatentUpscaleBy", latents.LatentUpscaleBy, "Upscale Latent By", "nodes"),
    ("LatentFromBatch", latents.LatentFromBatch, "Latent From Batch", "nodes"),
    ("RepeatLatentBatch", latents.RepeatLatentBatch, "Repeat Latent Batch", "nodes"),
    ("SaveImage", image_io.SaveImage, "Save Image", "nodes"),
    ("PreviewImage", image_io.PreviewImage, "Preview Image", "nodes"),
    ("LoadImage", image_io.LoadImage, "Load Image", "nodes"),
    ("LoadImageMask", image_io.LoadImageMask, "Load Image (as Mask)", "nodes"),
    ("ImageScale", image_ops.ImageScale, "Upscale Image", "nodes"),
    ("ImageScaleBy", image_ops.ImageScaleBy, "Upscale Image By", "nodes"),
    ("ImageInvert", image_ops.ImageInvert, "Invert Image", "nodes"),
    ("ImageBatch", image_ops.ImageBatch, "Batch Images", "nodes"),
    ("ImagePadForOutpaint", image_ops.ImagePadForOutpaint, "Pad Image for Outpainting", "nodes"),
    ("EmptyImage", image_ops.EmptyImage, None, "nodes"),
    ("ConditioningAverage", conditioning.ConditioningAverage, "ConditioningAverage", "nodes"),
    ("ConditioningCombine", conditioning.ConditioningCombine, "Conditioning (Combine)", "nodes"),
    ("ConditioningConcat", conditioning.ConditioningConcat, "Conditioning (Concat)", "nodes"),
    ("ConditioningSetArea", conditioning.ConditioningSetArea, "Conditioning (Set Area)", "nodes"),
    ("ConditioningSetAreaPercentage", conditioning.ConditioningSetAreaPercentage, "Conditioning (Set Area with Percentage)", "nodes"),
    ("ConditioningSetMask", conditioning.ConditioningSetMask, "Conditioning (Set Mask)", "nodes"),
    ("KSamplerAdvanced", sampling.KSamplerAdvanced, "KSampler (Advanced)", "nodes"),
    ("SetLatentNoiseMask", vae_nodes.SetLatentNoiseMask, "Set Latent Noise Mask", "nodes"),
    ("LatentComposite", latents.LatentComposite, "Latent Composite", "nodes"),
    ("LatentBlend", latents.LatentBlend, "Latent Blend", "nodes"),
    ("LoraLoader", model_loaders.LoraLoader, "Load LoRA", "nodes"),
    ("CLIPLoader", model_loaders.CLIPLoader, "Load CLIP", "nodes"),
    ("UNETLoader", model_loaders.UNETLoader, "Load Diffusion Model", "nodes"),
    ("DualCLIPLoader", model_loaders.DualCLIPLoader, "DualCLIPLoader", "nodes"),
    ("VAEDecodeTiled", vae_nodes.VAEDecodeTiled, "VAE Decode (Tiled)", "nodes"),
    ("VAEEncodeTiled", vae_nodes.VAEEncodeTiled, "VAE Encode (Tiled)", "nodes"),
    ("InpaintModelConditioning", vae_nodes.InpaintModelConditioning, "InpaintModelConditioning", "nodes"),
    ("CheckpointLoader", model_loaders.CheckpointLoader, "Load Checkpoint With Config (DEPRECATED)", "nodes"),
    ("ConditioningZeroOut", conditioning.ConditioningZeroOut, "ConditioningZeroOut", "nodes"),
    ("ConditioningSetTimestepRange", conditioning.ConditioningSetTimestepRange, "ConditioningSetTimestepRange", "nodes"),
    ("LoraLoaderModelOnly", model_loaders.LoraLoaderModelOnly, "LoraLoaderModelOnly", "nodes"),
    ("ImageBlend", postprocessing.ImageBlend, None, _POST),
    ("ImageBlur", postprocessing.ImageBlur, None, _POST),
    ("ImageQuantize", postprocessing.ImageQuantize, None, _POST),
    ("ImageSharpen", postprocessing.ImageSharpen, None, _POST),
    ("ImageScaleToTotalPixels", postprocessing.ImageScaleToTotalPixels, None, _POST),
    ("ImageCompositeMasked", compositing.ImageCompositeMasked, None, _MASK),
    ("MaskToImage", masks.MaskToImage, "Convert Mask to Image", _MASK),
    ("ImageToMask", masks.ImageToMask, "Convert Image to Mask", _MASK),
    ("SolidMask", masks.SolidMask, None, _MASK),
    ("InvertMask", masks.InvertMask, None, _MASK),
    ("CropMask", masks.CropMask, None, _MASK),
    ("MaskComposite", masks.MaskComposite, None, _MASK),
    ("FeatherMask", masks.FeatherMask, None, _MASK),
    ("GrowMask", masks.GrowMask, "Grow Mask", _MASK),
    ("ThresholdMask", masks.ThresholdMask, None, _MASK),
    ("SplitImageWithAlpha", compositing.SplitImageWithAlpha, "Split Image with Alpha", _COMPOSITING),
    ("JoinImageWithAlpha", compositing.JoinImageWithAlpha, "Join Image with Alpha", _COMPOSITING),
    ("RebatchImages", image_ops.RebatchImages, "Rebatch Images", "comfy_extras.nodes_rebatch"),
    ("CLIPTextEncodeSDXLRefiner", conditioning.CLIPTextEncodeSDXLRefiner, None, "comfy_extras.nodes_clip_sdxl"),
    ("CLIPTextEncodeSDXL", conditioning.CLIPTextEncodeSDXL, None, "comfy_extras.nodes_clip_sdxl"),
    ("SamplerCustom", custom_sampling.SamplerCustom, None, _CUSTOM_SAMPLER),
    ("BasicScheduler", custom_sampling.BasicScheduler, None, _CUSTOM_SAMPLER),
    ("KarrasScheduler", custom_sampling.KarrasScheduler, None, _CUSTOM_SAMPLER),
    ("ExponentialScheduler", custom_sampling.ExponentialScheduler, None, _CUSTOM_SAMPLER),
    ("PolyexponentialScheduler", custom_sampling.PolyexponentialScheduler, None, _CUSTOM_SAMPLER),
    ("SDTurboScheduler", custom_sampling.SDTurboScheduler, None, _CUSTOM_SAMPLER),
    ("KSamplerSelect", custom_sampling.KSamplerSelect, None, _CUSTOM_SAMPLER),
    ("SplitSigmas", custom_sampling.SplitSigmas, None, _CUSTOM_SAMPLER),
    ("SplitSigmasDenoise", custom_sampling.SplitSigmasDenoise, None, _CUSTOM_SAMPLER),
    ("CFGGuider", custom_sampling.CFGGuider, None, _CUSTOM_SAMPLER),
    ("BasicGuider", custom_sampling.BasicGuider, None, _CUSTOM_SAMPLER),
    ("RandomNoise", custom_sampling.RandomNoise, None, _CUSTOM_SAMPLER),
    ("DisableNoise", custom_sampling.DisableNoise, None, _CUSTOM_SAMPLER),
    ("SamplerCustomAdvanced", custom_sampling.SamplerCustomAdvanced, None, _CUSTOM_SAMPLER),
    ("ModelSamplingDiscrete", model_loaders.ModelSamplingDiscrete, "ModelSamplingDiscrete", "comfy_extras.nodes_model_advanced"),
    ("ImageCrop", image_ops.ImageCrop, "Image Crop", "comfy_extras.nodes_images"),
    ("PrimitiveString", primitives.PrimitiveString, "String", _PRIMITIVE),
    ("PrimitiveStringMultiline", primitives.PrimitiveStringMultiline, "String (Multiline)", _PRIMITIVE),
    ("PrimitiveInt", primitives.PrimitiveInt, "Int", _PRIMITIVE),
    ("PrimitiveFloat", primitives.PrimitiveFloat, "Float", _PRIMITIVE),
    ("PrimitiveBoolean", primitives.PrimitiveBoolean, "Boolean", _PRIMITIVE),
    ("PreviewAny", primitives.PreviewAny, "Preview as Text", "comfy_extras.nodes_preview_any"),
    ("StringConcatenate", primitives.StringConcatenate, "Concatenate", "comfy_extras.nodes_string"),
)


def register_builtin_nodes(registry: NodeRegistry) -> None:
    """Register every built-in node class on `registry`."""
    for class_type, cls, display_name, python_module in BUILTIN_NODES:
        registry.register(class_type, cls, display_name=display_name, python_module=python_module)
