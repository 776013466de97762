"""The CLIP byte-pair tokenizer, giving exactly the ids ComfyUI's tokenizer gives.

ComfyUI tokenizes with `transformers`' `CLIPTokenizer`, which (in the transformers releases it
runs on) is the Rust `tokenizers` pipeline. Its steps, reproduced here without that dependency:

1. `<|endoftext|>` written in the text is cut out first, on the raw text (it is a non-normalized
   added token); `<|startoftext|>` is cut out after normalization (a normalized one).
2. Normalization: Unicode NFC, every run of white space becomes one space, then each character is
   lowercased on its own (so no final-sigma rule).
3. Pre-tokenization keeps only the pieces matching
   `'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+` (letters by Unicode category L*,
   numbers by N*, one digit per piece); white space is dropped.
4. Each piece is UTF-8 encoded, its bytes mapped to GPT-2's printable byte alphabet, `</w>` is
   appended to its last symbol, and the ranked merges are applied (lowest rank first).

The vocabulary is package data (`data/clip_bpe_merges.txt.gz`, see `data/NOTICE.md`), so no file
is ever fetched. Ids: the 256 byte symbols, the same with `</w>`, one per merge, then the two
specials: 49 408 in all. Pure Python, thread-safe (the caches are read-mostly).
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from importlib import resources

START_TOKEN = 49406
END_TOKEN = 49407
_START_TEXT = "<|startoftext|>"
_END_TEXT = "<|endoftext|>"
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
# Unicode White_Space, as the regex engines behind `tokenizers` define `\s`.
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(symbol -> id, merge pair -> rank), read once from the packaged merges."""
    packed = resources.files("toucan_nb.diffusion").joinpath("data/clip_bpe_merges.txt.gz").read_bytes()
    lines = gzip.decompress(packed).decode("utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in lines if line]
    alphabet = list(_byte_alphabet().values())
    symbols = alphabet + [s + "</w>" for s in alphabet] + ["".join(pair) for pair in merges]
    symbols += [_START_TEXT, _END_TEXT]
    ranks = {(a, b): i for i, (a, b) in enumerate(merges)}
    return {s: i for i, s in enumerate(symbols)}, ranks


def vocabulary() -> dict[str, int]:
    """The full symbol -> id table (49 408 entries)."""
    return dict(_vocabulary()[0])


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    in_space = False
    for ch in text:
        if ch in _WHITE_SPACE:
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(ch.lower())
    return "".join(out)


def _category(ch: str) -> str:
    return unicodedata.category(ch)[0]


def _pieces(text: str) -> list[str]:
    """Pre-tokenization of normalized text (step 3 of the module docstring)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            contraction = next((c for c in _CONTRACTIONS if text.startswith(c, i)), None)
            if contraction is not None:
                out.append(contraction)
                i += len(contraction)
                continue
        if ch in _WHITE_SPACE:
            i += 1
            continue
        kind = _category(ch)
        j = i + 1
        if kind == "L":
            while j < n and _category(text[j]) == "L":
                j += 1
        elif kind != "N":
            while j < n and text[j] not in _WHITE_SPACE and _category(text[j]) not in ("L", "N"):
                j += 1
        out.append(text[i:j])
        i = j
    return out


class ClipTokenizer:
    """Text -> CLIP token ids, without the start and end tokens."""

    def __init__(self) -> None:
        self._ids, self._ranks = _vocabulary()
        self._bytes = _byte_alphabet()
        self._bpe_cached = functools.lru_cache(maxsize=65536)(self._bpe)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (what `CLIPTokenizer(text)["input_ids"][1:-1]` returns)."""
        ids: list[int] = []
        for i, raw in enumerate(text.split(_END_TEXT)):
            if i:
                ids.append(END_TOKEN)
            for j, part in enumerate(_normalize(raw).split(_START_TEXT)):
                if j:
                    ids.append(START_TOKEN)
                for piece in _pieces(part):
                    ids.extend(self._bpe_cached(piece))
        return ids

    def _bpe(self, piece: str) -> tuple[int, ...]:
        symbols = [self._bytes[b] for b in piece.encode("utf-8")]
        symbols[-1] += "</w>"
        ranks = self._ranks
        while len(symbols) > 1:
            best = min(range(len(symbols) - 1),
                       key=lambda k: ranks.get((symbols[k], symbols[k + 1]), 1 << 30))
            pair = (symbols[best], symbols[best + 1])
            if pair not in ranks:
                break
            merged: list[str] = []
            k = 0
            while k < len(symbols):
                if k < len(symbols) - 1 and (symbols[k], symbols[k + 1]) == pair:
                    merged.append(pair[0] + pair[1])
                    k += 2
                else:
                    merged.append(symbols[k])
                    k += 1
            symbols = merged
        return tuple(self._ids[s] for s in symbols)

    def decode_token(self, token: int) -> str:
        """The vocabulary symbol of one id (for debugging and `untokenize`-style views)."""
        inverse = _inverse_vocabulary()
        return inverse[token]


@functools.lru_cache(maxsize=1)
def _inverse_vocabulary() -> dict[int, str]:
    return {i: s for s, i in _vocabulary()[0].items()}


@functools.lru_cache(maxsize=1)
def shared_tokenizer() -> ClipTokenizer:
    """One tokenizer per process: its tables are large and immutable."""
    return ClipTokenizer()
