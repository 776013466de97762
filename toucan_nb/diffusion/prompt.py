"""Prompt text -> chunks of (token, weight) pairs, as ComfyUI's `SDTokenizer` produces them.

Syntax: `(text)` multiplies the weight by 1.1 per level, `(text:1.3)` sets it (absolute, the
innermost number wins), `\\(` and `\\)` are literal parentheses, square brackets are plain text.
`embedding:name` (at the start or after a space or newline) inserts a textual inversion's rows,
each as one token, from the embeddings folders; a name that is not found is dropped with a
warning. Text is tokenized per weighted segment, then packed into chunks of `max_length` (77):
a start token, up to 75 tokens, an end token, then padding (the end token for CLIP-L, 0 for the
OpenCLIP towers). A word of fewer than 8 tokens that does not fit moves whole to the next chunk;
longer words are split. An empty prompt still gives one chunk. Word ids (1-based, per word or
embedding; 0 for start/end/padding) are kept when asked for, as ComfyUI's `return_word_ids` does.
Pure Python; any thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toucan_nb.diffusion.embeddings import find_embedding
from toucan_nb.diffusion.tokenizer import END_TOKEN, START_TOKEN, shared_tokenizer

log = logging.getLogger(__name__)

EMBEDDING_PREFIX = "embedding:"
# Words of at least this many tokens may be split across chunks; shorter ones move as a whole.
MAX_WORD_LENGTH = 8
_EMBEDDING_SPLIT = re.compile(f" {EMBEDDING_PREFIX}|\n{EMBEDDING_PREFIX}")

# A token is an id or one embedding row (a 1-D tensor); entries are (token, weight[, word_id]).
Entry = tuple[Any, ...]


def parse_parentheses(text: str) -> list[str]:
    """Split at top-level parenthesised groups, keeping each group with its parentheses."""
    out: list[str] = []
    current = ""
    depth = 0
    for ch in text:
        if ch == "(":
            if depth == 0:
                if current:
                    out.append(current)
                current = "("
            else:
                current += ch
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                out.append(current + ")")
                current = ""
            else:
                current += ch
        else:
            current += ch
    if current:
        out.append(current)
    return out


def token_weights(text: str, weight: float) -> list[tuple[str, float]]:
    """(segment, weight) pairs of a prompt with ComfyUI's `(text:w)` / `(text)` syntax."""
    out: list[tuple[str, float]] = []
    for part in parse_parentheses(text):
        if len(part) >= 2 and part[0] == "(" and part[-1] == ")":
            inner = part[1:-1]
            colon = inner.rfind(":")
            inner_weight = weight * 1.1
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1:])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out += token_weights(inner, inner_weight)
        else:
            out.append((part, weight))
    return out


def _escape(text: str) -> str:
    return text.replace("\\)", "\0\1").replace("\\(", "\0\2")


def _unescape(text: str) -> str:
    return text.replace("\0\1", ")").replace("\0\2", "(")


@dataclass(frozen=True)
class TokenizerSpec:
    """One text encoder's chunking rules."""

    embedding_size: int         # rows of another width are ignored (768 CLIP-L, 1024 H, 1280 bigG)
    embedding_key: str          # the key picked from multi-encoder embedding files ("clip_l", ...)
    pad_with_end: bool = True   # CLIP-L pads with the end token; the OpenCLIP towers with 0
    max_length: int = 77

    @property
    def pad_token(self) -> int:
        return END_TOKEN if self.pad_with_end else 0


class PromptTokenizer:
    """Tokenizes prompts for one text encoder; `embedding_dirs` are searched for `embedding:` names."""

    def __init__(self, spec: TokenizerSpec, embedding_dirs: Sequence[str] | None) -> None:
        self.spec = spec
        self.embedding_dirs = None if embedding_dirs is None else list(embedding_dirs)
        self._bpe = shared_tokenizer()

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False,
                              disable_weights: bool = False) -> list[list[Entry]]:
        """Chunks of `max_length` entries: (token, weight) or, with `return_word_ids`, (token, weight, word_id)."""
        text = _escape(text)
        segments = [(text, 1.0)] if disable_weights else token_weights(text, 1.0)
        groups: list[list[tuple[Any, float]]] = []
        for segment, weight in segments:
            groups += self._segment_groups(_unescape(segment), weight)
        return self._pack(groups, return_word_ids)

    def _segment_groups(self, segment: str, weight: float) -> list[list[tuple[Any, float]]]:
        parts = _EMBEDDING_SPLIT.split(segment)
        words = [parts[0]] + [EMBEDDING_PREFIX + p for p in parts[1:]]
        groups: list[list[tuple[Any, float]]] = []
        for word in (w for w in words if w != ""):
            if word.startswith(EMBEDDING_PREFIX) and self.embedding_dirs is not None:
                name = word[len(EMBEDDING_PREFIX):].strip("\n")
                rows, leftover = self._embedding(name)
                if rows is None:
                    log.warning("warning, embedding:%s does not exist, ignoring", name)
                elif rows.ndim == 1:
                    groups.append([(rows, weight)])
                else:
                    groups.append([(rows[i], weight) for i in range(rows.shape[0])])
                if leftover == "":
                    continue
                word = leftover
            groups.append([(t, weight) for t in self._bpe.encode(word)])
        return groups

    def _embedding(self, name: str) -> tuple[Any, str]:
        """(rows or None, text left over after the name), trying the name without trailing commas too."""
        split = name.split()
        if not split:
            return None, ""
        first, leftover = split[0], " ".join(split[1:])
        rows = find_embedding(first, self.embedding_dirs or [], self.spec.embedding_size, self.spec.embedding_key)
        if rows is None:
            stripped = first.strip(",")
            if len(stripped) < len(first):
                rows = find_embedding(stripped, self.embedding_dirs or [], self.spec.embedding_size,
                                      self.spec.embedding_key)
                return rows, f"{first[len(stripped):]} {leftover}"
        return rows, leftover

    def _pack(self, groups: list[list[tuple[Any, float]]], return_word_ids: bool) -> list[list[Entry]]:
        spec = self.spec
        pad = (spec.pad_token, 1.0, 0)
        batch: list[Entry] = [(START_TOKEN, 1.0, 0)]
        chunks = [batch]
        for word_index, group in enumerate(groups):
            word_id = word_index + 1
            splittable = len(group) >= MAX_WORD_LENGTH
            while group:
                if len(group) + len(batch) > spec.max_length - 1:
                    room = spec.max_length - len(batch) - 1
                    if splittable:
                        batch.extend((t, w, word_id) for t, w in group[:room])
                        batch.append((END_TOKEN, 1.0, 0))
                        group = group[room:]
                    else:
                        batch.append((END_TOKEN, 1.0, 0))
                        batch.extend([pad] * room)
                    batch = [(START_TOKEN, 1.0, 0)]
                    chunks.append(batch)
                else:
                    batch.extend((t, w, word_id) for t, w in group)
                    group = []
        batch.append((END_TOKEN, 1.0, 0))
        if len(batch) < spec.max_length:
            batch.extend([pad] * (spec.max_length - len(batch)))
        if return_word_ids:
            return chunks
        return [[(t, w) for t, w, _ in chunk] for chunk in chunks]
