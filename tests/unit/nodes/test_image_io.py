"""LoadImage, LoadImageMask, SaveImage and PreviewImage against files on disk."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from toucan_nb.nodes import set_metadata_enabled
from toucan_nb.nodes.image_io import LoadImage, LoadImageMask, PreviewImage, SaveImage


def _open(path):
    """The image at `path`, fully read, its file closed (PNG text chunks stay readable)."""
    with Image.open(path) as img:
        img.load()
        return img


def _save_input(folders, name, img):
    path = os.path.join(folders.input_dir, name)
    img.save(path)
    return path


# -- LoadImage --------------------------------------------------------------------------------------------
def test_load_rgba_gives_rgb_image_and_inverted_alpha_mask(active_folders):
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[..., 0] = 255            # red
    pixels[0, 0, 3] = 255           # opaque
    pixels[0, 1, 3] = 51            # 20% alpha
    pixels[1, 2, 3] = 0             # transparent
    _save_input(active_folders, "rgba.png", Image.fromarray(pixels, "RGBA"))
    image, mask = (t.cpu() for t in LoadImage().load_image("rgba.png"))
    assert image.shape == (1, 2, 3, 3) and image.dtype == torch.float32
    assert torch.equal(image[0, :, :, 0], torch.ones(2, 3))
    assert torch.equal(image[0, :, :, 1:], torch.zeros(2, 3, 2))
    assert mask.shape == (1, 2, 3)
    assert mask[0, 0, 0].item() == 0.0
    assert mask[0, 0, 1].item() == pytest.approx(0.8)
    assert mask[0, 1, 2].item() == 1.0


def test_load_rgb_gives_64x64_zero_mask(active_folders):
    _save_input(active_folders, "rgb.png", Image.new("RGB", (5, 7), (0, 128, 255)))
    image, mask = LoadImage().load_image("rgb.png")
    assert image.shape == (1, 7, 5, 3)
    assert image[0, 0, 0].tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    # QUIRK(ComfyUI nodes.py LoadImage): the mask is 64x64 whatever the image size.
    assert mask.shape == (1, 64, 64) and not mask.any()


def test_load_palette_with_transparency(active_folders):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 1
    _save_input(active_folders, "pal.png", img)
    image, mask = LoadImage().load_image("pal.png")
    assert image[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert mask[0].tolist() == [[0.0, 1.0]]


def test_load_multi_frame_gif_batches_frames(active_folders):
    frames = [Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))]
    frames[0].save(os.path.join(active_folders.input_dir, "anim.gif"), save_all=True, append_images=frames[1:])
    image, mask = LoadImage().load_image("anim.gif")
    assert image.shape == (2, 4, 4, 3)
    assert image[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert image[1, 0, 0].tolist() == [0.0, 0.0, 1.0]
    assert mask.shape == (2, 64, 64)


def test_load_32bit_integer_image_is_rescaled(active_folders):
    values = np.array([[0, 255, 255 * 100, 255 * 255]], dtype=np.int32)
    _save_input(active_folders, "deep.tiff", Image.fromarray(values))
    assert _open(os.path.join(active_folders.input_dir, "deep.tiff")).mode == "I"
    image, _ = LoadImage().load_image("deep.tiff")
    assert (image[0, 0, :, 0] * 255).round().tolist() == [0, 1, 100, 255]


def test_load_annotated_name_reads_output_dir(active_folders):
    Image.new("RGB", (3, 3), (255, 255, 255)).save(os.path.join(active_folders.output_dir, "x.png"))
    image, _ = LoadImage().load_image("x.png [output]")
    assert image.shape == (1, 3, 3, 3) and bool((image == 1).all())
    assert LoadImage.VALIDATE_INPUTS("x.png [output]") is True


def test_is_changed_is_sha256_of_file(active_folders):
    path = _save_input(active_folders, "h.png", Image.new("RGB", (2, 2), (1, 2, 3)))
    with open(path, "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    assert LoadImage.IS_CHANGED("h.png") == expected
    assert LoadImageMask.IS_CHANGED("h.png", "alpha") == expected
    Image.new("RGB", (2, 2), (9, 9, 9)).save(path)
    assert LoadImage.IS_CHANGED("h.png") != expected


def test_validate_inputs_message_matches_comfyui(active_folders):
    # vectors/validation_errors.json loadimage_missing_file: "image - Invalid image file: nope.png"
    assert LoadImage.VALIDATE_INPUTS("nope.png") == "Invalid image file: nope.png"
    assert LoadImageMask.VALIDATE_INPUTS("nope.png") == "Invalid image file: nope.png"
    _save_input(active_folders, "yes.png", Image.new("RGB", (1, 1)))
    assert LoadImage.VALIDATE_INPUTS("yes.png") is True


def test_loaders_refuse_names_that_lead_out_of_the_folders(active_folders, tmp_path):
    """Deviation from ComfyUI (whose loaders open any joined path): a prompt cannot read an image
    outside input/output/temp by `..`, an absolute path or a symlink that leads out."""
    secret = tmp_path / "secret_dir" / "secret.png"
    secret.parent.mkdir()
    Image.new("RGB", (2, 2), (7, 7, 7)).save(secret)
    os.symlink(secret, os.path.join(active_folders.input_dir, "link.png"))
    os.makedirs(os.path.join(active_folders.input_dir, "sub"), exist_ok=True)
    _save_input(active_folders, "sub/ok.png", Image.new("RGB", (2, 2)))
    relative = os.path.relpath(secret, active_folders.input_dir)
    for name in (str(secret), relative, "link.png", f"{relative} [output]", "a\x00.png"):
        for node in (LoadImage, LoadImageMask):
            assert node.VALIDATE_INPUTS(name) == f"Invalid image file: {name}"
        with pytest.raises(ValueError, match="outside the input, output and temp folders"):
            LoadImage().load_image(name)
        with pytest.raises(ValueError):
            LoadImage.IS_CHANGED(name)
    assert LoadImage.VALIDATE_INPUTS("sub/ok.png") is True and LoadImage().load_image("sub/ok.png")[0].shape[1] == 2


def test_load_image_mask_channels(active_folders):
    _save_input(active_folders, "c.png", Image.new("RGBA", (2, 2), (255, 102, 0, 51)))
    node = LoadImageMask()
    assert node.load_image("c.png", "red")[0].tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    assert node.load_image("c.png", "green")[0][0, 0, 0].item() == pytest.approx(0.4)
    assert node.load_image("c.png", "blue")[0].sum().item() == 0.0
    assert node.load_image("c.png", "alpha")[0][0, 0, 0].item() == pytest.approx(0.8)
    # An RGB file gets an opaque alpha: its alpha mask is all zero, at the image's size.
    _save_input(active_folders, "rgb.png", Image.new("RGB", (3, 2), (0, 0, 0)))
    mask = node.load_image("rgb.png", "alpha")[0]
    assert mask.shape == (1, 2, 3) and not mask.any()


# -- SaveImage ---------------------------------------------------------------------------------------------
def _image(b=1, h=4, w=6, value=0.5):
    return torch.full((b, h, w, 3), value)


def test_save_image_writes_pngs_with_metadata(active_folders):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 6}}}
    extra = {"workflow": {"id": "wf-1", "nodes": []}, "other": [1, 2]}
    images = torch.stack([torch.full((4, 6, 3), 0.25), torch.full((4, 6, 3), 1.0)])
    ui = SaveImage().save_images(images, "ComfyUI", prompt=prompt, extra_pnginfo=extra)
    assert ui == {"ui": {"images": [
        {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
        {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
    ]}}
    first = _open(os.path.join(active_folders.output_dir, "ComfyUI_00001_.png"))
    assert first.size == (6, 4) and first.mode == "RGB"
    assert first.text == {"prompt": json.dumps(prompt), "workflow": json.dumps(extra["workflow"]),
                          "other": json.dumps([1, 2])}
    # 0.25 * 255 = 63.75 is truncated, as numpy's astype(uint8) does in ComfyUI.
    assert first.getpixel((0, 0)) == (63, 63, 63)
    assert _open(os.path.join(active_folders.output_dir, "ComfyUI_00002_.png")).getpixel((5, 3)) == (255,) * 3


def test_save_image_clamps_and_counts_on(active_folders):
    node = SaveImage()
    node.save_images(_image(value=2.0), "run")
    ui = node.save_images(_image(value=-1.0), "run")
    assert ui["ui"]["images"][0]["filename"] == "run_00002_.png"
    assert _open(os.path.join(active_folders.output_dir, "run_00001_.png")).getpixel((0, 0)) == (255,) * 3
    assert _open(os.path.join(active_folders.output_dir, "run_00002_.png")).getpixel((0, 0)) == (0,) * 3


def test_save_image_subfolder_and_batch_number(active_folders):
    ui = SaveImage().save_images(_image(b=2), "sub/dir/img_%batch_num%")
    assert [i["filename"] for i in ui["ui"]["images"]] == ["img_0_00001_.png", "img_1_00002_.png"]
    assert {i["subfolder"] for i in ui["ui"]["images"]} == {os.path.join("sub", "dir")}
    assert os.path.exists(os.path.join(active_folders.output_dir, "sub", "dir", "img_1_00002_.png"))


def test_save_image_outside_output_dir_is_refused(active_folders):
    with pytest.raises(ValueError, match="outside the output folder"):
        SaveImage().save_images(_image(), "../escape")


def test_metadata_can_be_disabled(active_folders):
    set_metadata_enabled(False)
    try:
        SaveImage().save_images(_image(), "plain", prompt={"a": 1}, extra_pnginfo={"workflow": {}})
    finally:
        set_metadata_enabled(True)
    assert _open(os.path.join(active_folders.output_dir, "plain_00001_.png")).text == {}


def _expected_png(pixels: np.ndarray, compress_level: int, prompt) -> bytes:
    info = PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info, compress_level=compress_level)
    return buf.getvalue()


def test_save_image_uses_compress_level_4(active_folders):
    gradient = torch.linspace(0, 1, 16 * 16 * 3).reshape(1, 16, 16, 3)
    SaveImage().save_images(gradient, "lvl", prompt={"p": 1})
    written = Path(active_folders.output_dir, "lvl_00001_.png").read_bytes()
    pixels = (gradient[0] * 255).clamp(0, 255).to(torch.uint8).numpy()
    assert written == _expected_png(pixels, 4, {"p": 1})


# -- PreviewImage ------------------------------------------------------------------------------------------
def test_preview_image_names_and_temp_type(active_folders):
    node = PreviewImage()
    ui = node.save_images(_image(b=2), prompt={"p": 1})
    names = [i["filename"] for i in ui["ui"]["images"]]
    # vectors/ws_transcripts/g_preview_image.json: ComfyUI_temp_duirg_00001_.png, ..._00002_.png
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", names[0])
    assert names[1] == names[0].replace("00001", "00002")
    assert all(i["type"] == "temp" and i["subfolder"] == "" for i in ui["ui"]["images"])
    assert sorted(os.listdir(active_folders.temp_dir)) == names
    assert os.listdir(active_folders.output_dir) == []
    # Same instance, same suffix: a re-run continues the counter.
    again = node.save_images(_image(), prompt={"p": 1})["ui"]["images"][0]["filename"]
    assert again == names[0].replace("00001", "00003")


def test_preview_suffix_is_per_instance_from_comfyui_alphabet(active_folders):
    suffixes = {PreviewImage().prefix_append for _ in range(40)}
    assert len(suffixes) > 30
    # QUIRK(ComfyUI nodes.py PreviewImage): the alphabet has no "w".
    assert all(re.fullmatch(r"_temp_[a-vx-z]{5}", s) for s in suffixes)


def test_preview_image_uses_compress_level_1(active_folders):
    gradient = torch.linspace(0, 1, 16 * 16 * 3).reshape(1, 16, 16, 3)
    name = PreviewImage().save_images(gradient, prompt={"p": 2})["ui"]["images"][0]["filename"]
    written = Path(active_folders.temp_dir, name).read_bytes()
    pixels = (gradient[0] * 255).clamp(0, 255).to(torch.uint8).numpy()
    assert written == _expected_png(pixels, 1, {"p": 2})
