"""Patches over a shared network and the device LRU (memory.py, patcher.py), on a small network.

The accelerator is simulated with the `meta` device and a patched free-memory figure, so the
offload order can be checked on any machine."""

from __future__ import annotations

import torch
from torch import nn

from toucan_nb.diffusion import memory
from toucan_nb.diffusion.lora import LoRAPatch
from toucan_nb.diffusion.patcher import ModelPatcher, Network


def _network(seed: int = 0) -> Network:
    torch.manual_seed(seed)
    return Network(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), "test")


def _lora(scale: float) -> LoRAPatch:
    return LoRAPatch(up=torch.full((3, 1), scale), down=torch.ones(1, 4), alpha=None)


def test_clones_carry_their_own_patches():
    net = _network()
    base = ModelPatcher(net, torch.device("cpu"), torch.float32)
    w0 = net.base["0.weight"]
    a = base.clone()
    assert a.add_patches({"0.weight": _lora(1.0), "missing.weight": _lora(1.0)}, 0.5) == ["0.weight"]
    b = a.clone()
    b.add_patches({"0.weight": _lora(2.0)}, 1.0, strength_model=0.5)
    assert not base.patches and len(a.patches["0.weight"]) == 1 and len(b.patches["0.weight"]) == 2
    memory.load(a)
    assert torch.allclose(net.params["0.weight"], w0 + 0.5)
    memory.load(b)  # strength_model scales the weight before that patch is added
    assert torch.allclose(net.params["0.weight"], (w0 + 0.5) * 0.5 + 2.0)
    memory.load(base)
    assert net.params["0.weight"].data_ptr() == w0.data_ptr() and not net.patched


def test_rounding_through_fp16():
    net = Network(nn.Linear(2, 2, bias=False), "text", rounding=torch.float16)
    with torch.no_grad():
        net.params["weight"].data = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        net.base["weight"] = net.params["weight"].data
    p = ModelPatcher(net, torch.device("cpu"), torch.float32)
    p.add_patches({"weight": LoRAPatch(up=torch.full((2, 1), 1e-4), down=torch.ones(1, 2), alpha=None)})
    memory.load(p)
    expected = (torch.eye(2) + 1e-4).half().float()
    assert torch.equal(net.params["weight"].data, expected)


def test_lru_offload(monkeypatch):
    meta = torch.device("meta")
    nets = [_network(i) for i in range(3)]
    patchers = [ModelPatcher(n, meta, torch.float32) for n in nets]
    free = {"bytes": 10**12}
    monkeypatch.setattr(memory, "get_free_memory", lambda device=None: free["bytes"])
    memory.unload_all()
    for p in patchers:
        memory.load(p)
    assert [n.device.type for n in nets] == ["meta"] * 3
    assert memory.loaded_networks()[-1] is nets[2]
    memory.load(patchers[0])  # now the most recently used
    free["bytes"] = 0  # nothing fits: loading anything offloads the others, oldest first
    offloaded = memory.free_memory(1, meta, keep=(nets[0],))
    assert offloaded == 2 and nets[0].device.type == "meta" and {nets[1].device.type, nets[2].device.type} == {"cpu"}
    memory.unload_all()
    assert all(n.device.type == "cpu" for n in nets) and not memory.loaded_networks()
