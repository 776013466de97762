"""Rebuild toucan_nb/diffusion/data/clip_bpe_merges.txt.gz from the open_clip_torch wheel.

The CLIP BPE vocabulary ships with the package so that tokenizing never needs the network. Its
source is `open_clip/bpe_simple_vocab_16e6.txt.gz` in the MIT-licensed `open_clip_torch` wheel
(itself OpenAI CLIP's file). CLIP uses only its first 48 894 merges (vocabulary 49 408 = 2 * 256
byte symbols + merges + 2 specials), so only the header line and those merges are kept, which
makes the package data a quarter of the size. Run once by a maintainer:

    pip download --no-deps open_clip_torch==3.3.0 -d /tmp/oc
    python scripts/vocab/extract_clip_merges.py /tmp/oc/open_clip_torch-3.3.0-py3-none-any.whl
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import zipfile
from pathlib import Path

SOURCE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
SOURCE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
MERGES = 49408 - 2 * 256 - 2
TARGET = Path(__file__).resolve().parents[2] / "toucan_nb" / "diffusion" / "data" / "clip_bpe_merges.txt.gz"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(SOURCE_MEMBER)
    digest = hashlib.sha256(packed).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"unexpected {SOURCE_MEMBER}: sha256 {digest}")
    lines = gzip.decompress(packed).decode("utf-8").split("\n")
    kept = "\n".join(lines[: 1 + MERGES]) + "\n"
    # mtime=0 keeps the archive byte-identical between runs.
    TARGET.write_bytes(gzip.compress(kept.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes, {MERGES} merges)")


if __name__ == "__main__":
    main(sys.argv[1])
