"""Reading model files into state dicts, and the cache that lets each file be read once.

`.safetensors`/`.sft` go through safetensors (with ComfyUI's messages for truncated or mislabelled
files); anything else through `torch.load(weights_only=True)`, unwrapping a Lightning
`state_dict` entry or a single top-level entry as ComfyUI does. No pickle is ever executed.
`PartCache` keeps what loaders built from a file (a MODEL, a CLIP, a VAE) under the file's
identity (resolved path, mtime, size) plus the part and its options, weakly: as long as any
node output, notebook variable or cache holds the object, loading it again returns it without
touching the disk; once nothing does, it is freed. Any thread (a lock guards the table).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def file_identity(path: str) -> tuple[str, int, int]:
    """(resolved path, mtime in ns, size): changes when the file is replaced or rewritten."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, st.st_mtime_ns, st.st_size


def load_state_dict(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """(tensors on the CPU, safetensors metadata or None)."""
    if path.lower().endswith((".safetensors", ".sft")):
        from safetensors import safe_open

        try:
            with safe_open(path, framework="pt", device="cpu") as f:
                sd = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
                return sd, f.metadata()
        except Exception as exc:
            message = str(exc.args[0]) if exc.args else ""
            if "HeaderTooLarge" in message or "header too large" in message:
                raise ValueError(f"{message}\n\nFile path: {path}\n\nThe safetensors file is corrupt or invalid. "
                                 "Make sure this is actually a safetensors file and not a ckpt or pt or other "
                                 "filetype.") from exc
            if "MetadataIncompleteBuffer" in message or "incomplete metadata" in message:
                raise ValueError(f"{message}\n\nFile path: {path}\n\nThe safetensors file is corrupt/incomplete. "
                                 "Check the file size and make sure you have copied/downloaded it correctly.") from exc
            raise
    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, dict) and "state_dict" in data:
        data = data["state_dict"]
    elif isinstance(data, dict) and len(data) == 1:
        only = next(iter(data.values()))
        if isinstance(only, dict):
            data = only
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a state dict")
    return data, None


class PartCache:
    """Weak map (file identity, part, options) -> built object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Hashable, weakref.ref[Any]] = {}

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            ref = self._items.get(key)
            value = ref() if ref is not None else None
            if ref is not None and value is None:
                del self._items[key]
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = weakref.ref(value)

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> T:
        found = self.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = build()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for ref in self._items.values() if ref() is not None)


parts = PartCache()
