"""`EncodedPreview`: a live preview image and its JPEG/PNG encoding (docs/execution.md §5.4).

Node code hands a PIL image (or already encoded bytes) to the runtime; the `PreviewImage` event
carries it (events.py) and every consumer that sends it (the WebSocket fan-out, the widget) asks
for the bytes, which are encoded once, on the first consumer's thread, however many ask. Any
thread; the encoding is locked.
"""

from __future__ import annotations

import io
import threading
from typing import Any

__all__ = ["EncodedPreview"]


class EncodedPreview:
    """A preview image, encoded at most once (JPEG q95 or PNG level 1) however many consumers read it."""

    __slots__ = ("format", "_image", "max_size", "_bytes", "_lock")

    def __init__(self, fmt: str, image: Any, max_size: int | None) -> None:
        self.format = "PNG" if str(fmt).upper() == "PNG" else "JPEG"
        self._image = image
        self.max_size = max_size
        self._bytes: bytes | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (e.g. from a scale-out worker to the driver) as its encoded bytes: the lock and
        # the PIL image stay behind, and the receiver does not encode again.
        return (EncodedPreview.from_bytes, (self.format, self.encoded()))

    @classmethod
    def from_bytes(cls, fmt: str, data: bytes) -> EncodedPreview:
        p = cls(fmt, None, None)
        p._bytes = data
        return p

    @property
    def mime_type(self) -> str:
        return "image/png" if self.format == "PNG" else "image/jpeg"

    def encoded(self) -> bytes:
        """The encoded bytes (docs/execution.md §5.4: contain() to max_size, bilinear)."""
        with self._lock:
            if self._bytes is None:
                from PIL import Image, ImageOps  # Pillow only once a preview is sent

                img = self._image
                if self.max_size is not None:
                    img = ImageOps.contain(img, (self.max_size, self.max_size), Image.Resampling.BILINEAR)
                buf = io.BytesIO()
                if self.format == "PNG":
                    img.save(buf, format="PNG", compress_level=1)
                else:
                    img.convert("RGB").save(buf, format="JPEG", quality=95)
                self._bytes = buf.getvalue()
                self._image = None
            return self._bytes
