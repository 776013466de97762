"""Tensors to PIL images, PNG bytes, and reading history image items safely."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from toucan_nb.notebook.images import display_pngs, history_image_paths, png_bytes, read_png, show, to_pil


def test_image_batches_become_one_pil_image_each():
    batch = torch.zeros(2, 4, 6, 3)
    batch[1, ..., 0] = 1.0
    images = to_pil(batch)
    assert [(im.mode, im.size) for im in images] == [("RGB", (6, 4))] * 2
    assert images[1].getpixel((0, 0)) == (255, 0, 0)
    assert to_pil(torch.full((4, 6, 3), 0.5))[0].getpixel((0, 0)) == (128, 128, 128)  # one image [H,W,C]
    assert to_pil(np.ones((1, 2, 2, 4), dtype=np.float32))[0].mode == "RGBA"


def test_masks_and_out_of_range_values():
    masks = to_pil(torch.tensor([[[2.0, -1.0]]]))  # [B,H,W], clipped to 0..1
    assert masks[0].mode == "L" and (masks[0].getpixel((0, 0)), masks[0].getpixel((1, 0))) == (255, 0)
    assert to_pil(torch.zeros(3, 5))[0].size == (5, 3)  # a single [H,W] mask


def test_lists_and_pil_pass_through_and_bad_input_is_refused():
    img = Image.new("RGB", (2, 2))
    assert to_pil([img, torch.zeros(1, 2, 2, 3)])[0] is img
    with pytest.raises(ValueError, match="shape"):
        to_pil(torch.zeros(1, 2, 2, 2, 5))
    with pytest.raises(TypeError):
        to_pil("not an image")


def test_history_items_resolve_inside_their_folder_only(tmp_path):
    out = tmp_path / "output"
    (out / "sub").mkdir(parents=True)
    Image.new("RGB", (2, 2)).save(out / "sub" / "a.png")
    (tmp_path / "secret.png").write_bytes(b"x")
    folders = SimpleNamespace(directory_by_type=lambda t: str(out) if t == "output" else None)
    ui = {"9": {"images": [{"filename": "a.png", "subfolder": "sub", "type": "output"},
                           {"filename": "../secret.png", "subfolder": "", "type": "output"},
                           {"filename": "a.png", "subfolder": "sub", "type": "temp"},
                           {"filename": "gone.png", "subfolder": "", "type": "output"}]},
          "3": {"text": ["hi"]}}
    assert history_image_paths(folders, ui) == [str(out / "sub" / "a.png")]


def test_png_reading_and_display(tmp_path, monkeypatch):
    jpg = tmp_path / "a.jpg"
    Image.new("RGB", (3, 2), (0, 0, 255)).save(jpg)
    data = read_png(str(jpg))
    assert data.startswith(b"\x89PNG")
    png = tmp_path / "b.png"
    png.write_bytes(data)
    assert read_png(str(png)) == data
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    display_pngs([])
    assert shown == []
    show(torch.zeros(2, 2, 2, 3))
    assert len(shown) == 2 and all(obj.format == "png" and obj.data.startswith(b"\x89PNG") for obj in shown)
    assert png_bytes(Image.new("L", (1, 1))).startswith(b"\x89PNG")
