"""Nodes create tensors on get_torch_device() and keep work on their input's device.

On a CPU-only machine the runtime device is pinned to torch's "meta" device, so a node that
allocated on the CPU regardless would be caught; on a CUDA machine a real chain runs on the GPU.
"""

from __future__ import annotations

import os

import pytest
import torch
from PIL import Image

from toucan_nb.nodes.compositing import ImageCompositeMasked, JoinImageWithAlpha, SplitImageWithAlpha
from toucan_nb.nodes.image_io import LoadImage, LoadImageMask, PreviewImage, SaveImage
from toucan_nb.nodes.image_ops import EmptyImage, ImageBatch, ImageInvert, ImagePadForOutpaint, ImageScale
from toucan_nb.nodes.latents import EmptyLatentImage, LatentComposite, LatentUpscale
from toucan_nb.nodes.masks import FeatherMask, GrowMask, MaskComposite, SolidMask
from toucan_nb.nodes.postprocessing import ImageBlend, ImageBlur, ImageSharpen


def test_created_tensors_follow_the_runtime_device(active_folders, device_override):
    dev = device_override("meta")
    Image.new("RGBA", (4, 3)).save(os.path.join(active_folders.input_dir, "a.png"))
    Image.new("RGB", (4, 3)).save(os.path.join(active_folders.input_dir, "b.png"))
    made = [
        EmptyImage().generate(8, 8, 1, 0)[0],
        SolidMask().solid(1.0, 4, 4)[0],
        EmptyLatentImage().generate(64, 64, 1)[0]["samples"],
        *LoadImage().load_image("a.png"),
        *LoadImage().load_image("b.png"),
        LoadImageMask().load_image("a.png", "alpha")[0],
        LoadImageMask().load_image("b.png", "red")[0],
    ]
    assert [t.device for t in made] == [dev] * len(made)


def test_operations_stay_on_the_input_device(device_override):
    dev = device_override("meta")
    img = torch.empty(1, 8, 8, 3, device=dev)
    mask = torch.empty(1, 8, 8, device=dev)
    lat = {"samples": torch.empty(1, 4, 8, 8, device=dev)}
    outs = [
        ImageInvert().invert(img)[0],
        *ImagePadForOutpaint().expand_image(img, 8, 8, 0, 0, 2),
        ImageScale().upscale(img, "bilinear", 4, 4, "center")[0],
        ImageBatch().batch(img, img)[0],
        ImageBlend().blend_images(img, img, 0.5, "overlay")[0],
        ImageBlur().blur(img, 2, 1.0)[0],
        ImageSharpen().sharpen(img, 1, 1.0, 1.0)[0],
        ImageCompositeMasked().composite(img, img, 1, 1, False, mask=mask)[0],
        JoinImageWithAlpha().join(img, mask)[0],
        *SplitImageWithAlpha().split(img),
        MaskComposite().combine(mask, mask, 1, 1, "xor")[0],
        FeatherMask().feather(mask, 2, 2, 2, 2)[0],
        GrowMask().expand_mask(mask, 2, True)[0],
        LatentComposite().composite(lat, lat, 8, 8, feather=16)[0]["samples"],
        LatentUpscale().upscale(lat, "bislerp", 128, 128, "disabled")[0]["samples"],
    ]
    assert [t.device for t in outs] == [dev] * len(outs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_chain_runs_on_cuda_and_saves(active_folders, device_override):
    dev = device_override("cuda")
    Image.new("RGBA", (8, 8), (10, 20, 30, 40)).save(os.path.join(active_folders.input_dir, "c.png"))
    image, mask = LoadImage().load_image("c.png")
    assert image.device.type == mask.device.type == "cuda"
    (img,) = EmptyImage().generate(8, 8, 2, 0x808080)
    assert img.device == dev
    for _ in range(3):
        (img,) = ImageInvert().invert(img)
    (img,) = ImageBlur().blur(img, 1, 1.0)
    assert img.device.type == "cuda"
    ui = PreviewImage().save_images(img)
    ui2 = SaveImage().save_images(image, "gpu")
    assert len(ui["ui"]["images"]) == 2 and ui2["ui"]["images"][0]["filename"] == "gpu_00001_.png"
