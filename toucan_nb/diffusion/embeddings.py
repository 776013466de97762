"""Textual-inversion embeddings for `embedding:name` in prompts (the files ComfyUI accepts).

Lookup: `name` is joined to each embeddings folder and every folder below it (sorted, symlinks
followed) and must stay inside that folder; the exact file wins, else `name` plus `.safetensors`,
`.pt` or `.bin`. Formats: safetensors, or `torch.load(weights_only=True)` of A1111's
`{"string_to_param": {"*": rows}}`, a list of dicts (the rows of width `embedding_size`), a dict
holding the encoder's key (`clip_l`, `clip_g`, ...), a LoRA-bundled `bundle_emb.*` entry, else the
first tensor; an old pickle that weights_only refuses is read as raw float32 storage from its zip.
Returns the [n, width] rows (or a single row). A file that fails to load is skipped with a warning.
Any thread.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

_EXTENSIONS = (".safetensors", ".pt", ".bin")


def _all_dirs(roots: Sequence[str]) -> list[str]:
    out: list[str] = []
    for root in roots:
        out.append(root)
        for path, _dirs, _files in os.walk(root, followlinks=True):
            if path != root:
                out.append(path)
    return sorted(set(out), key=out.index)


def _locate(name: str, roots: Sequence[str]) -> str | None:
    for directory in _all_dirs(roots):
        base = os.path.abspath(directory)
        path = os.path.abspath(os.path.join(base, name))
        try:
            if os.path.commonpath((base, path)) != base:
                continue
        except ValueError:
            continue
        if os.path.isfile(path):
            return path
        for ext in _EXTENSIONS:
            if os.path.isfile(path + ext):
                return path + ext
    return None


def _raw_zip_rows(path: str) -> Any:
    """Rows from the float32 storages of a pickled checkpoint, without unpickling it."""
    import torch

    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if "data/" in n]
        for n in reversed(names):
            data = zf.read(n)
            count = len(data) // 4
            if count < 768:
                continue
            width = 768 if count % 768 == 0 else 1024
            rows = torch.frombuffer(bytearray(data), dtype=torch.float32)
            return rows.reshape(count // width, width).clone()
    return None


def _first_matching(data: dict[str, Any], prefix: str, suffix: str) -> Any:
    import torch

    parts = [v for k, v in data.items() if k.startswith(prefix) and k.endswith(suffix)]
    return torch.cat(parts, dim=0) if parts else None


def _rows(data: Any, embedding_size: int, key: str) -> Any:
    import torch

    if isinstance(data, dict) and "string_to_param" in data:
        return next(iter(data["string_to_param"].values()))
    if isinstance(data, list):
        parts = [t.reshape(-1, t.shape[-1]) for entry in data for t in entry.values()
                 if t.shape[-1] == embedding_size]
        return torch.cat(parts, dim=0)
    if key in data:
        return data[key]
    rows = _first_matching(data, "bundle_emb.", ".string_to_param.*")
    if rows is None:
        rows = _first_matching(data, "bundle_emb.", f".{key}")
    if rows is None:
        rows = next(iter(data.values()))
    return rows


def find_embedding(name: str, roots: Sequence[str], embedding_size: int, key: str) -> Any:
    """The rows of embedding `name` for an encoder of width `embedding_size`, or None."""
    import torch

    path = _locate(name, roots)
    if path is None:
        return None
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load_file

            data: Any = load_file(path, device="cpu")
        else:
            try:
                data = torch.load(path, weights_only=True, map_location="cpu")
            except Exception:
                return _raw_zip_rows(path)
        return _rows(data, embedding_size, key)
    except Exception:
        log.warning("error loading embedding, skipping loading: %s", name, exc_info=True)
        return None
