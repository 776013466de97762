"""Mask nodes and image/mask compositing on small tensors with hand-checked values."""

from __future__ import annotations

import pytest
import torch

from toucan_nb.nodes.compositing import ImageCompositeMasked, JoinImageWithAlpha, SplitImageWithAlpha
from toucan_nb.nodes.masks import (
    CropMask,
    FeatherMask,
    GrowMask,
    ImageToMask,
    InvertMask,
    MaskComposite,
    MaskToImage,
    SolidMask,
    ThresholdMask,
)


def test_image_to_mask_picks_channel():
    img = torch.tensor([0.1, 0.2, 0.3, 0.4]).expand(1, 2, 2, 4)
    for i, name in enumerate(["red", "green", "blue", "alpha"]):
        (mask,) = ImageToMask().image_to_mask(img, name)
        assert mask.shape == (1, 2, 2) and torch.allclose(mask, torch.full((1, 2, 2), 0.1 * (i + 1)))


def test_image_to_mask_alpha_of_rgb_raises_index_error():
    # vectors/ws_transcripts/e_runtime_error.json
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 3 with size 3"):
        ImageToMask().image_to_mask(torch.zeros(1, 4, 4, 3), "alpha")


def test_mask_to_image_accepts_2d_and_3d():
    (img,) = MaskToImage().mask_to_image(torch.tensor([[0.0, 0.5, 1.0]]))
    assert img.shape == (1, 1, 3, 3) and img[0, 0, 1].tolist() == [0.5] * 3
    (img,) = MaskToImage().mask_to_image(torch.rand(2, 3, 4))
    assert img.shape == (2, 3, 4, 3)


def test_solid_and_invert_mask():
    (mask,) = SolidMask().solid(0.25, width=3, height=2)
    assert mask.shape == (1, 2, 3) and mask.dtype == torch.float32 and bool((mask == 0.25).all())
    (inv,) = InvertMask().invert(mask)
    assert bool((inv == 0.75).all())


def test_crop_mask():
    mask = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    (out,) = CropMask().crop(mask, x=1, y=1, width=2, height=5)
    assert out.tolist() == [[[5.0, 6.0], [9.0, 10.0]]]


@pytest.mark.parametrize(("operation", "expected"), [
    ("multiply", 0.3 * 0.6),
    ("add", 0.9),
    ("subtract", 0.0),        # 0.3 - 0.6 clamped
    ("and", 0.0),             # round(0.3)=0 and round(0.6)=1
    ("or", 1.0),
    ("xor", 1.0),
])
def test_mask_composite_operations_in_visible_region(operation, expected):
    dest = torch.full((1, 3, 3), 0.3)
    src = torch.full((1, 2, 2), 0.6)
    (out,) = MaskComposite().combine(dest, src, x=2, y=1, operation=operation)
    assert out.shape == (1, 3, 3)
    # only rows 1-2 of column 2 overlap
    want = torch.full((3, 3), 0.3)
    want[1:, 2] = expected
    assert torch.allclose(out[0], want)
    assert bool((dest == torch.tensor(0.3)).all())  # input untouched


def test_feather_mask_left_and_top():
    (out,) = FeatherMask().feather(torch.ones(1, 3, 4), left=2, top=3, right=0, bottom=0)
    assert torch.allclose(out[0], torch.tensor([
        [1 / 3 * 0.5, 1 / 3, 1 / 3, 1 / 3],
        [2 / 3 * 0.5, 2 / 3, 2 / 3, 2 / 3],
        [0.5, 1.0, 1.0, 1.0],
    ]))


def test_feather_mask_right_edge_quirk():
    # QUIRK(ComfyUI nodes_mask.FeatherMask): ramp index -0 hits column 0, the last column gets 2/right.
    (out,) = FeatherMask().feather(torch.ones(1, 1, 4), left=0, top=0, right=3, bottom=0)
    assert out[0, 0].tolist() == pytest.approx([1 / 3, 1.0, 1.0, 2 / 3])
    (out,) = FeatherMask().feather(torch.ones(1, 4, 1), left=0, top=0, right=0, bottom=2)
    assert out[0, :, 0].tolist() == pytest.approx([0.5, 1.0, 1.0, 1.0])
    # sides longer than the mask are cut to its size
    (out,) = FeatherMask().feather(torch.ones(1, 1, 2), left=10, top=0, right=0, bottom=0)
    assert out[0, 0].tolist() == pytest.approx([0.5, 1.0])


def _dot(h=5, w=5, at=(2, 2)):
    m = torch.zeros(1, h, w)
    m[0, at[0], at[1]] = 1.0
    return m


def test_grow_mask_dilates_with_cross_or_square():
    (plus,) = GrowMask().expand_mask(_dot(), 1, True)
    assert plus[0].tolist() == [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    (square,) = GrowMask().expand_mask(_dot(), 1, False)
    assert square[0, 1:4, 1:4].sum().item() == 9 and square[0].sum().item() == 9
    (twice,) = GrowMask().expand_mask(_dot(), 2, True)
    assert twice[0].sum().item() == 13  # diamond of radius 2


def test_grow_mask_erodes_and_replicates_edges():
    block = torch.zeros(1, 5, 5)
    block[0, 1:4, 1:4] = 1.0
    for tapered in (True, False):
        (out,) = GrowMask().expand_mask(block, -1, tapered)
        assert out[0].tolist() == _dot()[0].tolist()
    # Outside the mask counts as a copy of the edge: a full mask does not erode at its border.
    (full,) = GrowMask().expand_mask(torch.ones(1, 3, 3), -1, False)
    assert bool((full == 1).all())
    (corner,) = GrowMask().expand_mask(_dot(at=(0, 0)), 1, True)
    assert corner[0, :2, :2].tolist() == [[1, 1], [1, 0]]
    (same,) = GrowMask().expand_mask(block, 0, True)
    assert torch.equal(same, block)


def test_threshold_mask_is_strict():
    (out,) = ThresholdMask().threshold(torch.tensor([[[0.2, 0.5, 0.7]]]), 0.5)
    assert out.tolist() == [[[0.0, 0.0, 1.0]]] and out.dtype == torch.float32


def test_image_composite_masked_pastes_at_offset():
    dest = torch.zeros(1, 4, 4, 3)
    src = torch.ones(1, 2, 2, 3)
    (out,) = ImageCompositeMasked().composite(dest, src, x=1, y=2, resize_source=False)
    expected = torch.zeros(4, 4)
    expected[2:4, 1:3] = 1
    assert out[0, :, :, 0].tolist() == expected.tolist()
    assert not dest.any()  # the destination input is not modified
    # Partly outside: only the overlapping column is pasted.
    (out,) = ImageCompositeMasked().composite(dest, src, x=3, y=0, resize_source=False)
    assert out[0, :, :, 1].sum().item() == 2 and out[0, 0:2, 3, 1].tolist() == [1.0, 1.0]


def test_image_composite_masked_with_mask_and_resize():
    dest = torch.zeros(1, 4, 4, 3)
    src = torch.ones(1, 2, 2, 3)
    (out,) = ImageCompositeMasked().composite(dest, src, 0, 0, False, mask=torch.full((1, 2, 2), 0.5))
    assert out[0, :2, :2].tolist() == [[[0.5] * 3] * 2] * 2 and out[0, 2:].sum().item() == 0
    (out,) = ImageCompositeMasked().composite(dest, src, 0, 0, True)
    assert bool((out == 1).all())


def test_join_image_with_alpha():
    img = torch.full((2, 2, 2, 3), 0.4)
    (out,) = JoinImageWithAlpha().join(img, torch.full((1, 1, 1), 0.25))
    # the shorter batch wins; the 1x1 mask is resized; alpha = 1 - mask
    assert out.shape == (1, 2, 2, 4)
    assert out[0, 1, 1].tolist() == pytest.approx([0.4, 0.4, 0.4, 0.75])


def test_split_image_with_alpha():
    rgba = torch.tensor([0.1, 0.2, 0.3, 0.8]).expand(1, 2, 2, 4)
    rgb, mask = SplitImageWithAlpha().split(rgba)
    assert rgb.shape == (1, 2, 2, 3) and rgb[0, 0, 0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert mask.shape == (1, 2, 2) and mask[0, 0, 0].item() == pytest.approx(0.2)
    _, mask = SplitImageWithAlpha().split(torch.rand(1, 2, 2, 3))
    assert not mask.any()
