"""Latent previews against ComfyUI's latent_preview: latent2rgb and TAESD images, method choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tests.unit.diffusion.sampling import toy
from tests.unit.diffusion.sampling.harness import goldens
from toucan_nb.diffusion import latent_formats, previews
from toucan_nb.diffusion.sampling.denoiser import SamplingStep

G = goldens("previews")
X0 = toy.contexts()["latent"] * 0.6


@pytest.mark.parametrize(("name", "fmt"), [("sd15", latent_formats.SD15), ("sdxl", latent_formats.SDXL)])
def test_latent2rgb_matches_comfyui(name, fmt):
    image = previews.Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias)
    array = np.asarray(image.decode_latent_to_preview(X0))
    assert array.shape == (8, 8, 3) and array.dtype == np.uint8
    np.testing.assert_array_equal(array, G[f"preview/latent2rgb/{name}"])


def _taesd_weights() -> dict[str, torch.Tensor]:
    shapes = [(k, tuple(v.shape)) for k, v in previews.taesd_decoder().state_dict().items()]
    assert shapes == [(k, tuple(s)) for k, s in json.loads(str(G["preview/taesd/keys"]))]
    return toy.random_state_dict(shapes, seed=5, scale=0.05)


def test_taesd_decoder_has_comfyuis_keys_and_output(tmp_path):
    path = tmp_path / "taesd_decoder.safetensors"
    save_file(_taesd_weights(), str(path))
    previewer = previews.TAESDPreviewer(previews.load_taesd_decoder(str(path)))
    array = np.asarray(previewer.decode_latent_to_preview(X0[:, :, :4, :4]))
    expected = G["preview/taesd/image"]
    assert array.shape == expected.shape == (32, 32, 3)
    # uint8 truncation may flip a value where float convolutions differ in the last bit
    assert np.abs(array.astype(int) - expected.astype(int)).max() <= 1
    assert expected.std() > 1  # the random decoder draws a real picture, not a flat one


class _Folders:
    def __init__(self, root, names):
        self.root, self.names = root, names

    def get_filename_list(self, folder_name):
        return list(self.names) if folder_name == "vae_approx" else []

    def get_full_path(self, folder_name, filename):
        return str(self.root / filename)


def test_previewer_choice(tmp_path, caplog):
    assert previews.get_previewer("none", latent_formats.SD15, None) is None
    assert isinstance(previews.get_previewer("auto", latent_formats.SD15, None), previews.Latent2RGBPreviewer)
    missing = previews.get_previewer("taesd", latent_formats.SDXL, _Folders(tmp_path, []))
    assert isinstance(missing, previews.Latent2RGBPreviewer)
    assert "taesdxl_decoder" in caplog.text
    save_file(_taesd_weights(), str(tmp_path / "taesd_decoder.safetensors"))
    found = previews.get_previewer("taesd", latent_formats.SD15,
                                   _Folders(tmp_path, ["taesd_decoder.safetensors", "taesdxl_decoder.pth"]))
    assert isinstance(found, previews.TAESDPreviewer)


def test_preview_method_per_prompt_else_server():
    assert previews.resolve_preview_method("taesd", "none") == "taesd"
    assert previews.resolve_preview_method("default", "latent2rgb") == "latent2rgb"
    assert previews.resolve_preview_method(None, "auto") == "auto"
    assert previews.resolve_preview_method("bogus", "none") == "none"


def test_preview_callback_reports_each_step_with_a_preview():
    reported = []
    callback = previews.preview_callback(previews.get_previewer("latent2rgb", latent_formats.SD15, None), 512,
                                         lambda value, total, preview: reported.append((value, total, preview)))
    for i in range(3):
        callback(SamplingStep(i, 3, torch.zeros(1, 4, 8, 8), X0))
    assert [(v, t) for v, t, _ in reported] == [(1, 3), (2, 3), (3, 3)]
    kind, image, size = reported[0][2]
    assert kind == "JPEG" and image.size == (8, 8) and size == 512
    no_preview = previews.preview_callback(None, 512, lambda v, t, p: reported.append((v, t, p)))
    no_preview(SamplingStep(7, 3, X0, X0))
    assert reported[-1] == (3, 3, None)
