"""Loading and encoding never touch the network: the tokenizer's vocabulary and every config come
from the package and the weights' shapes."""

from __future__ import annotations

import socket

import pytest

from toucan_nb.diffusion import loaders, tokenizer


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_load_and_encode_offline(no_network, fresh_cache, sdxl_path):
    tokenizer._vocabulary.cache_clear()
    tokenizer.shared_tokenizer.cache_clear()
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("pypi.org", 443))
    _, clip, _ = loaders.load_checkpoint(sdxl_path, embedding_dirs=[])
    cond = clip.encode_from_tokens_scheduled(clip.tokenize("an offline (photo:1.2) of a toucan"))
    assert cond[0][0].shape == (1, 77, 2048)
