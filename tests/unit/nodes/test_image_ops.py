"""EmptyImage, ImageScale(By), ImageInvert, ImageBatch, ImagePadForOutpaint, ImageCrop, RebatchImages
and the shared resampling helpers, on small tensors with hand-checked values."""

from __future__ import annotations

import math

import pytest
import torch

from toucan_nb.nodes.image_ops import (
    EmptyImage,
    ImageBatch,
    ImageCrop,
    ImageInvert,
    ImagePadForOutpaint,
    ImageScale,
    ImageScaleBy,
    RebatchImages,
)
from toucan_nb.nodes.resample import bislerp, common_upscale, repeat_to_batch_size


def _columns(values, h=1):
    """[1, h, len(values), 3] image whose every channel holds `values` along the width."""
    row = torch.tensor(values, dtype=torch.float32)
    return row.reshape(1, 1, -1, 1).expand(1, h, -1, 3).contiguous()


def test_empty_image_color_and_shape():
    (img,) = EmptyImage().generate(width=3, height=2, batch_size=2, color=0x123456)
    assert img.shape == (2, 2, 3, 3) and img.dtype == torch.float32 and img.is_contiguous()
    assert img[1, 1, 2].tolist() == pytest.approx([0x12 / 255, 0x34 / 255, 0x56 / 255])
    # g_preview_image's colour 4660 = 0x001234
    (img,) = EmptyImage().generate(width=1, height=1, batch_size=1, color=4660)
    assert img[0, 0, 0].tolist() == pytest.approx([0.0, 0x12 / 255, 0x34 / 255])


def test_image_invert_is_one_minus_and_leaves_input_alone():
    image = torch.tensor([[[[0.0, 0.25, 1.0]]]])
    (out,) = ImageInvert().invert(image)
    assert out.tolist() == [[[[1.0, 0.75, 0.0]]]]
    assert image.tolist() == [[[[0.0, 0.25, 1.0]]]]


def test_image_scale_nearest_doubles_pixels():
    (out,) = ImageScale().upscale(_columns([0.0, 1.0]), "nearest-exact", 4, 2, "disabled")
    assert out.shape == (1, 2, 4, 3)
    assert out[0, :, :, 0].tolist() == [[0.0, 0.0, 1.0, 1.0]] * 2


def test_image_scale_bilinear_samples_at_pixel_centres():
    (out,) = ImageScale().upscale(_columns([0.0, 1.0]), "bilinear", 4, 1, "disabled")
    assert out[0, 0, :, 0].tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])


def test_image_scale_area_averages():
    img = _columns([0.0, 1.0, 0.5, 0.5], h=2)
    (out,) = ImageScale().upscale(img, "area", 2, 1, "disabled")
    assert out[0, 0, :, 0].tolist() == pytest.approx([0.5, 0.5])


def test_image_scale_zero_side_keeps_aspect_and_zero_both_is_identity():
    img = torch.rand(1, 2, 4, 3)
    assert ImageScale().upscale(img, "bilinear", 0, 4, "disabled")[0].shape == (1, 4, 8, 3)
    assert ImageScale().upscale(img, "bilinear", 2, 0, "disabled")[0].shape == (1, 1, 2, 3)
    assert ImageScale().upscale(img, "bilinear", 0, 0, "disabled")[0] is img


def test_image_scale_center_crop_cuts_to_target_aspect():
    # 4 wide, 2 high -> 2x2: the middle two columns survive.
    img = _columns([0.1, 0.2, 0.3, 0.4], h=2)
    (out,) = ImageScale().upscale(img, "nearest-exact", 2, 2, "center")
    assert out[0, 0, :, 0].tolist() == pytest.approx([0.2, 0.3])


def test_image_scale_lanczos_goes_through_8_bits():
    img = torch.full((1, 3, 3, 3), 128 / 255)
    (out,) = ImageScale().upscale(img, "lanczos", 5, 4, "disabled")
    assert out.shape == (1, 4, 5, 3)
    assert torch.allclose(out, torch.full_like(out, 128 / 255))


def test_image_scale_by_rounds_like_python():
    img = torch.rand(1, 2, 3, 3)
    # round(3 * 1.5) = round(4.5) = 4 (banker's rounding), round(2 * 1.5) = 3
    assert ImageScaleBy().upscale(img, "nearest-exact", 1.5)[0].shape == (1, 3, 4, 3)


def test_image_batch_adds_alpha_and_resizes_second():
    rgba = torch.full((1, 2, 2, 4), 0.5)
    rgb = torch.full((2, 4, 4, 3), 0.25)
    (out,) = ImageBatch().batch(rgba, rgb)
    assert out.shape == (3, 2, 2, 4)
    assert out[1:, ..., :3].allclose(torch.full((2, 2, 2, 3), 0.25))
    assert bool((out[1:, ..., 3] == 1.0).all())
    (out,) = ImageBatch().batch(rgb, rgba)
    assert out.shape == (3, 4, 4, 4) and bool((out[:2, ..., 3] == 1.0).all())


def test_pad_for_outpaint_without_feathering():
    img = torch.full((1, 4, 4, 3), 0.2)
    new, mask = ImagePadForOutpaint().expand_image(img, left=2, top=0, right=0, bottom=1, feathering=0)
    assert new.shape == (1, 5, 6, 3) and mask.shape == (1, 5, 6)
    assert bool((new[0, :4, 2:] == 0.2).all())
    assert bool((new[0, :, :2] == 0.5).all()) and bool((new[0, 4] == 0.5).all())
    assert bool((mask[0, :4, 2:] == 0).all()) and bool((mask[0, :, :2] == 1).all()) and bool((mask[0, 4] == 1).all())


def test_pad_for_outpaint_feathers_quadratically_along_padded_sides():
    img = torch.zeros((1, 6, 6, 3))
    _, mask = ImagePadForOutpaint().expand_image(img, left=1, top=1, right=0, bottom=0, feathering=2)
    inner = mask[0, 1:, 1:]
    # distance d = min(row, col) from the padded top/left edges; weight ((2 - d) / 2)^2 when d < 2
    expected = torch.zeros(6, 6)
    for i in range(6):
        for j in range(6):
            d = min(i, j)
            expected[i, j] = ((2 - d) / 2) ** 2 if d < 2 else 0.0
    assert inner.tolist() == expected.tolist()
    assert expected[1, 3].item() == 0.25
    # Feathering at least half the image size is ignored.
    _, mask = ImagePadForOutpaint().expand_image(img, left=1, top=1, right=0, bottom=0, feathering=3)
    assert not mask[0, 1:, 1:].any()


def test_image_crop_slices_and_clamps_origin():
    img = torch.arange(4 * 5, dtype=torch.float32).reshape(1, 4, 5, 1).expand(1, 4, 5, 3)
    (out,) = ImageCrop().crop(img, width=2, height=3, x=1, y=1)
    assert out[0, :, :, 0].tolist() == [[6.0, 7.0], [11.0, 12.0], [16.0, 17.0]]
    (out,) = ImageCrop().crop(img, width=3, height=3, x=10, y=10)
    assert out[0, :, :, 0].tolist() == [[19.0]]


def test_rebatch_images_recuts_whole_lists():
    a = torch.stack([torch.full((1, 1, 3), float(i)) for i in range(3)])
    b = torch.stack([torch.full((1, 1, 3), float(i)) for i in (3, 4)])
    assert RebatchImages.INPUT_IS_LIST is True and RebatchImages.OUTPUT_IS_LIST == (True,)
    (batches,) = RebatchImages().rebatch([a, b], [2])
    assert [t.shape[0] for t in batches] == [2, 2, 1]
    assert [t[:, 0, 0, 0].tolist() for t in batches] == [[0.0, 1.0], [2.0, 3.0], [4.0]]


def test_bislerp_interpolates_direction_spherically():
    # Two orthogonal unit vectors; 2 -> 4 samples at ratios 0, 0.25, 0.75, 1 between them.
    lat = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)
    out = bislerp(lat, 4, 1)[0, :, 0, :].T
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    assert out.tolist() == [pytest.approx(v, abs=1e-6) for v in ([1, 0], [c, s], [s, c], [0, 1])]


def test_bislerp_interpolates_length_linearly_and_keeps_same_size():
    lat = torch.tensor([[2.0, 0.0], [0.0, 4.0]]).T.reshape(1, 2, 1, 2)
    out = bislerp(lat, 4, 1)[0, :, 0, :].T
    assert out.norm(dim=1).tolist() == pytest.approx([2.0, 2.5, 3.5, 4.0])
    # Nearly parallel neighbours are not blended at all: the first one is kept (ComfyUI's edge case).
    lat = torch.tensor([[2.0, 0.0], [4.0, 0.0]]).T.reshape(1, 2, 1, 2)
    assert bislerp(lat, 4, 1)[0, 0, 0, :].tolist() == [2.0, 2.0, 2.0, 4.0]
    x = torch.randn(2, 4, 3, 5)
    assert torch.allclose(bislerp(x, 5, 3), x, atol=1e-5)
    assert common_upscale(x, 10, 6, "bislerp", "disabled").shape == (2, 4, 6, 10)


def test_common_upscale_folds_a_time_axis():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(1, 3, 2, 2, 2)
    out = common_upscale(x, 4, 4, "nearest-exact", "disabled")
    assert out.shape == (1, 3, 2, 4, 4)
    assert torch.equal(out[..., ::2, ::2], x)


def test_repeat_to_batch_size():
    t = torch.arange(2).reshape(2, 1)
    assert repeat_to_batch_size(t, 5).reshape(-1).tolist() == [0, 1, 0, 1, 0]
    assert repeat_to_batch_size(t, 1).reshape(-1).tolist() == [0]
    assert repeat_to_batch_size(t, 2) is t
