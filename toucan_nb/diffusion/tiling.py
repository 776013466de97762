"""Running a function tile by tile with feathered overlaps (ComfyUI's `tiled_scale`).

For each batch item the input is cut into tiles of at most `tile` (height, width) starting every
`tile - overlap` pixels, the last tile pulled back so it ends at the border; each tile's output
(scaled by `scale`) is weighted by a mask that ramps linearly over the scaled overlap at every
edge ((t + 1) / feather for the t-th row or column from the edge), summed, and divided by the sum
of the masks. An input that fits in one tile is passed through whole. `steps` counts the tiles,
for progress bars. Pure torch; any thread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch


def tile_count(height: int, width: int, tile_h: int, tile_w: int, overlap: int) -> int:
    rows = 1 if height <= tile_h else math.ceil((height - overlap) / (tile_h - overlap))
    cols = 1 if width <= tile_w else math.ceil((width - overlap) / (tile_w - overlap))
    return rows * cols


def tiled_scale(samples: torch.Tensor, function: Callable[[torch.Tensor], torch.Tensor], tile: tuple[int, int],
                overlap: int, scale: float, out_channels: int,
                on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """`function` applied over [B, C, H, W] `samples` in tiles; output [B, out_channels, H*scale, W*scale] (CPU)."""
    dims = 2
    out_size = [round(scale * s) for s in samples.shape[2:]]
    output = torch.empty([samples.shape[0], out_channels, *out_size])
    for b in range(samples.shape[0]):
        s = samples[b:b + 1]
        if all(s.shape[d + 2] <= tile[d] for d in range(dims)):
            output[b:b + 1] = function(s).cpu()
            if on_tile:
                on_tile()
            continue
        out = torch.zeros([1, out_channels, *out_size])
        weight = torch.zeros([1, out_channels, *out_size])
        positions = [range(0, s.shape[d + 2] - overlap, tile[d] - overlap) if s.shape[d + 2] > tile[d] else [0]
                     for d in range(dims)]
        for starts in itertools.product(*positions):
            piece = s
            offsets = []
            for d in range(dims):
                pos = max(0, min(s.shape[d + 2] - overlap, starts[d]))
                length = min(tile[d], s.shape[d + 2] - pos)
                piece = piece.narrow(d + 2, pos, length)
                offsets.append(round(scale * pos))
            result = function(piece).cpu()
            mask = torch.ones_like(result)
            feather = round(scale * overlap)
            for d in range(2, dims + 2):
                if feather >= mask.shape[d]:
                    continue
                for t in range(feather):
                    a = (t + 1) / feather
                    mask.narrow(d, t, 1).mul_(a)
                    mask.narrow(d, mask.shape[d] - 1 - t, 1).mul_(a)
            o, w = out, weight
            for d in range(dims):
                o = o.narrow(d + 2, offsets[d], mask.shape[d + 2])
                w = w.narrow(d + 2, offsets[d], mask.shape[d + 2])
            o.add_(result * mask)
            w.add_(mask)
            if on_tile:
                on_tile()
        output[b:b + 1] = out / weight
    return output
