"""runtime.preview.EncodedPreview: a preview encoded once, JPEG or PNG, fitted into max_size."""

from __future__ import annotations

import io
import threading

from PIL import Image

from toucan_nb.runtime.preview import EncodedPreview


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_jpeg_is_fitted_into_max_size_keeping_the_aspect_ratio():
    preview = EncodedPreview("jpeg", Image.new("RGBA", (400, 100), (255, 0, 0, 128)), 200)
    image = _decode(preview.encoded())
    assert (image.format, image.size, image.mode) == ("JPEG", (200, 50), "RGB")
    assert preview.mime_type == "image/jpeg"


def test_png_keeps_its_size_without_a_limit_and_any_other_format_means_jpeg():
    png = EncodedPreview("PNG", Image.new("RGB", (30, 20), (0, 255, 0)), None)
    image = _decode(png.encoded())
    assert (image.format, image.size, png.mime_type) == ("PNG", (30, 20), "image/png")
    assert image.getpixel((0, 0)) == (0, 255, 0)
    assert EncodedPreview("WEBP", Image.new("RGB", (2, 2)), None).format == "JPEG"


def test_encoded_once_for_every_consumer_and_thread():
    calls = []

    class CountingImage:
        def convert(self, mode: str) -> Image.Image:
            calls.append(mode)
            return Image.new("RGB", (4, 4))

    preview = EncodedPreview("JPEG", CountingImage(), None)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(preview.encoded())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == ["RGB"] and len(set(results)) == 1 and len(results) == 8


def test_from_bytes_sends_the_bytes_as_given():
    preview = EncodedPreview.from_bytes("PNG", b"\x89PNG already encoded")
    assert preview.encoded() == b"\x89PNG already encoded" and preview.mime_type == "image/png"
