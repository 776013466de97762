"""V3 classes whose schemas mirror nodes ComfyUI 0.8.0 ships (comfy_extras, comfy_api_nodes).

Their `/object_info` entries must equal the recorded ones (tests/vectors/object_info_v3.json) in
everything but python_module. Between them they use: combos with tooltips and enum-free options,
INT/FLOAT bounds, steps, rounding and `display`, `control_after_generate`, optional, hidden and
lazy inputs, multiline and forceInput strings, upload combos, output lists and tooltips,
MatchType, MultiType, Autogrow, DynamicCombo, custom types, output / API / deprecated /
experimental nodes, and a node_id with a space. Nodes whose real work needs models, video
decoding or the network are here for their schema only and say so when executed.
"""

from __future__ import annotations

import os
import re

import folder_paths
import torch
from comfy_api.latest import _io, io, ui
from server import PromptServer

MAX_RESOLUTION = 16384


class SchemaOnly(RuntimeError):
    """Raised by the nodes below that are here for their schema only."""


class SwitchNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        template = io.MatchType.Template("switch")
        return io.Schema(
            node_id="ComfySwitchNode", display_name="Switch", category="logic", is_experimental=True,
            inputs=[io.Boolean.Input("switch"),
                    io.MatchType.Input("on_false", template=template, lazy=True),
                    io.MatchType.Input("on_true", template=template, lazy=True)],
            outputs=[io.MatchType.Output(template=template, display_name="output")])

    @classmethod
    def check_lazy_status(cls, switch, on_false=None, on_true=None):
        wanted = "on_true" if switch else "on_false"
        return [wanted] if (on_true if switch else on_false) is None else []

    @classmethod
    def execute(cls, switch, on_true, on_false) -> io.NodeOutput:
        return io.NodeOutput(on_true if switch else on_false)


class CustomCombo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="CustomCombo", display_name="Custom Combo", category="utils", is_experimental=True,
                         inputs=[io.Combo.Input("choice", options=[])], outputs=[io.String.Output()])

    @classmethod
    def validate_inputs(cls, choice) -> bool:
        return True  # the options are the frontend's, so any choice passes

    @classmethod
    def execute(cls, choice) -> io.NodeOutput:
        return io.NodeOutput(choice)


class BatchImagesNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        template = io.Autogrow.TemplatePrefix(io.Image.Input("image"), prefix="image", min=2, max=50)
        return io.Schema(node_id="BatchImagesNode", display_name="Batch Images", category="image",
                         inputs=[io.Autogrow.Input("images", template=template)], outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, images) -> io.NodeOutput:
        return io.NodeOutput(torch.cat(list(images.values()), dim=0))


class ResizeImageMaskNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        template = io.MatchType.Template("input_type", [io.Image, io.Mask])
        crop = io.Combo.Input("crop", options=["disabled", "center"], default="center")

        def size(name: str) -> io.Int.Input:
            return io.Int.Input(name, default=512, min=0, max=MAX_RESOLUTION, step=1)

        options = [
            io.DynamicCombo.Option("scale by multiplier",
                                   [io.Float.Input("multiplier", default=1.0, min=0.01, max=8.0, step=0.01)]),
            io.DynamicCombo.Option("scale dimensions", [size("width"), size("height"), crop]),
            io.DynamicCombo.Option("scale longer dimension", [size("longer_size")]),
            io.DynamicCombo.Option("scale shorter dimension", [size("shorter_size")]),
            io.DynamicCombo.Option("scale width", [size("width")]),
            io.DynamicCombo.Option("scale height", [size("height")]),
            io.DynamicCombo.Option("scale total pixels",
                                   [io.Float.Input("megapixels", default=1.0, min=0.01, max=16.0, step=0.01)]),
            io.DynamicCombo.Option("match size", [io.MultiType.Input("match", [io.Image, io.Mask]), crop]),
        ]
        return io.Schema(
            node_id="ResizeImageMaskNode", display_name="Resize Image/Mask", category="transform",
            inputs=[io.MatchType.Input("input", template=template),
                    io.DynamicCombo.Input("resize_type", options=options),
                    io.Combo.Input("scale_method", options=["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],
                                   default="area")],
            outputs=[io.MatchType.Output(template=template, display_name="resized")])

    @classmethod
    def execute(cls, input, resize_type, scale_method) -> io.NodeOutput:
        # Only "scale by multiplier", with nearest-neighbour repetition: enough to see the
        # nested `resize_type` dict arrive.
        if resize_type["resize_type"] != "scale by multiplier":
            raise SchemaOnly(f"the test pack only scales by an integer multiplier, not {resize_type!r}")
        factor = int(resize_type["multiplier"])
        resized = input.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
        return io.NodeOutput(resized)


class MaskPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="MaskPreview", display_name="Preview Mask", category="mask",
                         description="Saves the input images to your ComfyUI output directory.",
                         inputs=[io.Mask.Input("mask")], hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
                         is_output_node=True)

    @classmethod
    def execute(cls, mask, filename_prefix="ComfyUI") -> io.NodeOutput:
        return io.NodeOutput(ui=ui.PreviewMask(mask))


class LatentBatch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="LatentBatch", category="latent/batch", is_deprecated=True,
                         inputs=[io.Latent.Input("samples1"), io.Latent.Input("samples2")],
                         outputs=[io.Latent.Output()])

    @classmethod
    def execute(cls, samples1, samples2) -> io.NodeOutput:
        return io.NodeOutput({"samples": torch.cat([samples1["samples"], samples2["samples"]], dim=0)})


class GetImageSize(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GetImageSize", display_name="Get Image Size", category="image",
            description="Returns width and height of the image, and passes it through unchanged.",
            inputs=[io.Image.Input("image")],
            outputs=[io.Int.Output(display_name="width"), io.Int.Output(display_name="height"),
                     io.Int.Output(display_name="batch_size")],
            hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, image) -> io.NodeOutput:
        batch_size, height, width = image.shape[0], image.shape[1], image.shape[2]
        if cls.hidden.unique_id:
            PromptServer.instance.send_progress_text(f"width: {width}, height: {height}\n batch size: {batch_size}",
                                                     cls.hidden.unique_id)
        return io.NodeOutput(width, height, batch_size)


class ImageAddNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageAddNoise", category="image",
            inputs=[io.Image.Input("image"),
                    io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                                 tooltip="The random seed used for creating the noise."),
                    io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01)],
            outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, image, seed, strength) -> io.NodeOutput:
        noise = torch.randn(image.size(), generator=torch.manual_seed(seed)).to(image)
        return io.NodeOutput(torch.clip(image + strength * noise, min=0.0, max=1.0))


class RegexReplace(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RegexReplace", display_name="Regex Replace", category="utils/string",
            description="Find and replace text using regex patterns.",
            inputs=[
                io.String.Input("string", multiline=True),
                io.String.Input("regex_pattern", multiline=True),
                io.String.Input("replace", multiline=True),
                io.Boolean.Input("case_insensitive", default=True, optional=True),
                io.Boolean.Input("multiline", default=False, optional=True),
                io.Boolean.Input("dotall", default=False, optional=True,
                                 tooltip="When enabled, the dot (.) character will match any character including "
                                         "newline characters. When disabled, dots won't match newlines."),
                io.Int.Input("count", default=0, min=0, max=100, optional=True,
                             tooltip="Maximum number of replacements to make. Set to 0 to replace all occurrences "
                                     "(default). Set to 1 to replace only the first match, 2 for the first two "
                                     "matches, etc."),
            ],
            outputs=[io.String.Output()])

    @classmethod
    def execute(cls, string, regex_pattern, replace, case_insensitive=True, multiline=False, dotall=False,
                count=0) -> io.NodeOutput:
        flags = ((re.IGNORECASE if case_insensitive else 0) | (re.MULTILINE if multiline else 0)
                 | (re.DOTALL if dotall else 0))
        return io.NodeOutput(re.sub(regex_pattern, replace, string, count=count, flags=flags))


class ImageColorToMask(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageColorToMask", category="mask",
            inputs=[io.Image.Input("image"),
                    io.Int.Input("color", default=0, min=0, max=0xFFFFFF, step=1, display_mode=io.NumberDisplay.number)],
            outputs=[io.Mask.Output()])

    @classmethod
    def execute(cls, image, color) -> io.NodeOutput:
        rgb = torch.clamp(image[..., :3] * 255.0, 0, 255).round().to(torch.int64)
        packed = (rgb[..., 0] << 16) + (rgb[..., 1] << 8) + rgb[..., 2]
        return io.NodeOutput(torch.where(packed == color, 1.0, 0.0).float())


class LatentOperationSharpen(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentOperationSharpen", category="latent/advanced/operations", is_experimental=True,
            inputs=[io.Int.Input("sharpen_radius", default=9, min=1, max=31, step=1),
                    io.Float.Input("sigma", default=1.0, min=0.1, max=10.0, step=0.1),
                    io.Float.Input("alpha", default=0.1, min=0.0, max=5.0, step=0.01)],
            outputs=[io.LatentOperation.Output()])

    @classmethod
    def execute(cls, sharpen_radius, sigma, alpha) -> io.NodeOutput:
        raise SchemaOnly("LatentOperationSharpen is in the test pack for its schema")


class WanMoveTracksFromCoords(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="WanMoveTracksFromCoords", category="conditioning/video_models",
            inputs=[io.String.Input("track_coords", force_input=True, default="[]", optional=True),
                    io.Mask.Input("track_mask", optional=True)],
            outputs=[io.Tracks.Output(), io.Int.Output(display_name="track_length")])

    @classmethod
    def execute(cls, track_coords, track_mask=None) -> io.NodeOutput:
        raise SchemaOnly("WanMoveTracksFromCoords is in the test pack for its schema")


class SaveAnimatedPNG(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SaveAnimatedPNG", category="image/animation",
            inputs=[io.Image.Input("images"),
                    io.String.Input("filename_prefix", default="ComfyUI"),
                    io.Float.Input("fps", default=6.0, min=0.01, max=1000.0, step=0.01),
                    io.Int.Input("compress_level", default=4, min=0, max=9)],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo], is_output_node=True)

    @classmethod
    def execute(cls, images, fps, compress_level, filename_prefix="ComfyUI") -> io.NodeOutput:
        return io.NodeOutput(ui=ui.ImageSaveHelper.get_save_animated_png_ui(
            images=images, filename_prefix=filename_prefix, cls=cls, fps=fps, compress_level=compress_level))


class OpenAIDalle2(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OpenAIDalle2", display_name="OpenAI DALL·E 2", category="api node/image/OpenAI",
            description="Generates images synchronously via OpenAI's DALL·E 2 endpoint.",
            inputs=[
                io.String.Input("prompt", default="", multiline=True, tooltip="Text prompt for DALL·E"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, step=1, display_mode=io.NumberDisplay.number,
                             control_after_generate=True, tooltip="not implemented yet in backend", optional=True),
                io.Combo.Input("size", default="1024x1024", options=["256x256", "512x512", "1024x1024"],
                               tooltip="Image size", optional=True),
                io.Int.Input("n", default=1, min=1, max=8, step=1, tooltip="How many images to generate",
                             display_mode=io.NumberDisplay.number, optional=True),
                io.Image.Input("image", tooltip="Optional reference image for image editing.", optional=True),
                io.Mask.Input("mask", tooltip="Optional mask for inpainting (white areas will be replaced)",
                              optional=True),
            ],
            outputs=[io.Image.Output()],
            hidden=[io.Hidden.auth_token_comfy_org, io.Hidden.api_key_comfy_org, io.Hidden.unique_id],
            is_api_node=True)

    @classmethod
    async def execute(cls, prompt, seed=0, image=None, mask=None, n=1, size="1024x1024") -> io.NodeOutput:
        raise SchemaOnly("OpenAIDalle2 is in the test pack for its schema (no network)")


class Load3D(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Load3D", display_name="Load 3D & Animation", category="3d", is_experimental=True,
            inputs=[io.Combo.Input("model_file", options=[], upload=io.UploadType.model),
                    io.Load3D.Input("image"),
                    io.Int.Input("width", default=1024, min=1, max=4096, step=1),
                    io.Int.Input("height", default=1024, min=1, max=4096, step=1)],
            outputs=[io.Image.Output(display_name="image"), io.Mask.Output(display_name="mask"),
                     io.String.Output(display_name="mesh_path"), io.Image.Output(display_name="normal"),
                     io.Load3DCamera.Output(display_name="camera_info"),
                     io.Video.Output(display_name="recording_video")])

    @classmethod
    def execute(cls, model_file, image, **kwargs) -> io.NodeOutput:
        raise SchemaOnly("Load3D is in the test pack for its schema")


class Preview3D(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Preview3D", display_name="Preview 3D & Animation", category="3d", is_experimental=True,
            is_output_node=True,
            inputs=[io.String.Input("model_file", default="", multiline=False),
                    io.Load3DCamera.Input("camera_info", optional=True),
                    io.Image.Input("bg_image", optional=True)],
            outputs=[])

    @classmethod
    def execute(cls, model_file, **kwargs) -> io.NodeOutput:
        return io.NodeOutput(ui=ui.PreviewUI3D(model_file, kwargs.get("camera_info"), bg_image=kwargs.get("bg_image")))


class LoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        files = folder_paths.filter_files_content_types(_files(folder_paths.get_input_directory()), ["video"])
        return io.Schema(node_id="LoadVideo", display_name="Load Video", category="image/video",
                         inputs=[io.Combo.Input("file", options=sorted(files), upload=io.UploadType.video)],
                         outputs=[io.Video.Output()])

    @classmethod
    def execute(cls, file) -> io.NodeOutput:
        raise SchemaOnly("LoadVideo is in the test pack for its schema (no video decoding)")


class LoadImageDataSetFromFolder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadImageDataSetFromFolder", display_name="Load Image Dataset from Folder", category="dataset",
            is_experimental=True,
            inputs=[io.Combo.Input("folder", options=folder_paths.get_input_subfolders(),
                                   tooltip="The folder to load images from.")],
            outputs=[io.Image.Output(display_name="images", is_output_list=True, tooltip="List of loaded images")])

    @classmethod
    def execute(cls, folder) -> io.NodeOutput:
        raise SchemaOnly("LoadImageDataSetFromFolder is in the test pack for its schema")


class RebatchLatents(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RebatchLatents", display_name="Rebatch Latents", category="latent/batch", is_input_list=True,
            inputs=[io.Latent.Input("latents"), io.Int.Input("batch_size", default=1, min=1, max=4096)],
            outputs=[io.Latent.Output(is_output_list=True)])

    @classmethod
    def execute(cls, latents, batch_size) -> io.NodeOutput:
        size = batch_size[0]
        rows = torch.cat([latent["samples"] for latent in latents], dim=0)
        return io.NodeOutput([{"samples": rows[i:i + size]} for i in range(0, rows.shape[0], size)])


class EpsilonScaling(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Epsilon Scaling", category="model_patches/unet",
            inputs=[io.Model.Input("model"),
                    io.Float.Input("scaling_factor", default=1.005, min=0.5, max=1.5, step=0.001,
                                   display_mode=io.NumberDisplay.number)],
            outputs=[io.Model.Output()])

    @classmethod
    def execute(cls, model, scaling_factor) -> io.NodeOutput:
        raise SchemaOnly("Epsilon Scaling is in the test pack for its schema")


class SamplerCustom(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SamplerCustom", category="sampling/custom_sampling",
            inputs=[io.Model.Input("model"),
                    io.Boolean.Input("add_noise", default=True),
                    io.Int.Input("noise_seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                    io.Float.Input("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
                    io.Conditioning.Input("positive"), io.Conditioning.Input("negative"),
                    io.Sampler.Input("sampler"), io.Sigmas.Input("sigmas"), io.Latent.Input("latent_image")],
            outputs=[io.Latent.Output(display_name="output"), io.Latent.Output(display_name="denoised_output")])

    @classmethod
    def execute(cls, **kwargs) -> io.NodeOutput:
        raise SchemaOnly("SamplerCustom is in the test pack for its schema")


class AutogrowNames(io.ComfyNode):
    """The names flavour of Autogrow, through the private `_io` module as comfy_extras uses it."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        template = _io.Autogrow.TemplateNames(input=io.Float.Input("float"), names=["a", "b", "c"])
        return io.Schema(node_id="V3TestAutogrowNames", display_name="Autogrow names", category="testing/v3",
                         inputs=[_io.Autogrow.Input("autogrow", template=template)], outputs=[io.String.Output()])

    @classmethod
    def execute(cls, autogrow) -> io.NodeOutput:
        return io.NodeOutput(",".join(f"{k}={v}" for k, v in autogrow.items()))


def _files(folder: str) -> list[str]:
    try:
        return [f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]
    except FileNotFoundError:
        return []


NODES = [SwitchNode, CustomCombo, BatchImagesNode, ResizeImageMaskNode, MaskPreview, LatentBatch, GetImageSize,
         ImageAddNoise, RegexReplace, ImageColorToMask, LatentOperationSharpen, WanMoveTracksFromCoords,
         SaveAnimatedPNG, OpenAIDalle2, Load3D, Preview3D, LoadVideo, LoadImageDataSetFromFolder, RebatchLatents,
         EpsilonScaling, SamplerCustom, AutogrowNames]
