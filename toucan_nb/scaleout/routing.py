"""Which queued prompt an idle worker takes (docs/scale-out.md §3).

A prompt's models are the model-file names among its inputs (`*_name` inputs naming a
`.safetensors`/`.ckpt`/... file, as every loader node has). An idle worker takes, within a bounded
look-ahead of the queue in priority order: the first prompt whose models it already holds, else
the first whose models no other worker holds, else the head. A prompt passed over `LOOKAHEAD`
times is taken next, so nothing starves. Pure functions; the dispatcher thread calls them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from toucan_nb.runtime.queue import QueueItem

LOOKAHEAD = 8
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".sft", ".gguf")


def model_keys(prompt: Mapping[str, Any]) -> frozenset[str]:
    """The model files a prompt loads: `*_name` inputs whose value names a model file."""
    keys = set()
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        for name, value in inputs.items():
            if isinstance(value, str) and name.endswith("_name") and value.lower().endswith(MODEL_EXTENSIONS):
                keys.add(value)
    return frozenset(keys)


def choose(pending: Sequence[QueueItem], held: frozenset[str], held_elsewhere: Iterable[str],
           skipped: Mapping[str, int], lookahead: int = LOOKAHEAD) -> QueueItem | None:
    """The item for a worker holding `held`, from `pending` in priority order (None if empty)."""
    if not pending:
        return None
    head = pending[0]
    if skipped.get(head.prompt_id, 0) >= lookahead:
        return head
    window = [(item, model_keys(item.prompt)) for item in pending[:lookahead]]
    for item, keys in window:
        if keys and keys <= held:
            return item
    elsewhere = set(held_elsewhere)
    for item, keys in window:
        if keys and not keys & elsewhere:
            return item
    return head
