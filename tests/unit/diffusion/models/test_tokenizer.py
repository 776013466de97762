"""The packaged CLIP BPE tokenizer and ComfyUI's prompt syntax against ComfyUI's own tokenizer
(transformers' CLIPTokenizer as ComfyUI ships it; goldens/tokenizer.json)."""

from __future__ import annotations

import pytest

from toucan_nb.diffusion.prompt import PromptTokenizer, TokenizerSpec, parse_parentheses, token_weights
from toucan_nb.diffusion.tokenizer import END_TOKEN, START_TOKEN, ClipTokenizer, vocabulary

from .goldens import golden, token_list

G = golden("tokenizer")
CLIP_L = TokenizerSpec(768, "clip_l", pad_with_end=True)


def test_vocabulary_is_clips():
    vocab = vocabulary()
    assert len(vocab) == 49408
    assert vocab["<|startoftext|>"] == START_TOKEN and vocab["<|endoftext|>"] == END_TOKEN
    assert vocab["a</w>"] == 320 and vocab["photo</w>"] == 1125 and vocab["!"] == 0


@pytest.mark.parametrize("text,ids", G["ids"], ids=range(len(G["ids"])))
def test_ids_match_comfyui(text, ids):
    assert ClipTokenizer().encode(text) == ids


@pytest.mark.parametrize("text,chunks", G["weighted"], ids=range(len(G["weighted"])))
def test_weighted_chunks_match_comfyui(text, chunks):
    tokens = PromptTokenizer(CLIP_L, embedding_dirs=[]).tokenize_with_weights(text)
    assert token_list({"l": tokens})["l"] == chunks


def test_weight_syntax():
    assert parse_parentheses("a (b (c)) d") == ["a ", "(b (c))", " d"]
    assert token_weights("(a:1.5) b", 1.0) == [("a", 1.5), (" b", 1.0)]
    nested = dict(token_weights("((a))", 1.0))
    assert nested["a"] == pytest.approx(1.21)
    assert token_weights("(a:x)", 1.0) == [("a:x", pytest.approx(1.1))]


def test_padding_and_word_ids():
    pad_zero = PromptTokenizer(TokenizerSpec(1280, "clip_g", pad_with_end=False), embedding_dirs=None)
    chunk = pad_zero.tokenize_with_weights("a cat", return_word_ids=True)[0]
    assert len(chunk) == 77
    assert chunk[:4] == [(START_TOKEN, 1.0, 0), (320, 1.0, 1), (2368, 1.0, 1), (END_TOKEN, 1.0, 0)]
    assert {t for t, _, _ in chunk[4:]} == {0}
    assert PromptTokenizer(CLIP_L, None).tokenize_with_weights("")[0][2:] == [(END_TOKEN, 1.0)] * 75
