"""Signatures (docs/execution.md §4.2): equal exactly when ancestries are equal, built in linear time."""

from __future__ import annotations

from toucan_nb.runtime import signature as sig
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.registry import NodeRegistry

from .executor_nodes import NODES


def build(registry: NodeRegistry, prompt: dict) -> sig.SignatureBuilder:
    dyn = DynamicPrompt(prompt)
    return sig.SignatureBuilder(dyn, registry, sig.IsChangedCache("p", dyn, registry, {}))


def chain(n: int, first: float = 0.0) -> dict:
    prompt = {"0": {"class_type": "Const", "inputs": {"value": first}}}
    for i in range(1, n + 1):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": ["0", 0]}}
    return prompt


def test_each_node_is_keyed_once_however_deep_the_chain(registry, monkeypatch):
    calls = []
    original = sig.SignatureBuilder._immediate
    monkeypatch.setattr(sig.SignatureBuilder, "_immediate", lambda self, n: calls.append(n) or original(self, n))
    builder = build(registry, chain(3000))
    for node_id in chain(3000):
        builder.get(node_id)
    assert len(calls) == 3001  # linear: ComfyUI re-walks every ancestry (quadratic)


def test_equal_ancestries_give_the_same_signature_across_prompts(registry):
    a = build(registry, chain(50)).get("50")
    b = build(registry, chain(50)).get("50")
    c = build(registry, chain(50, first=1.0)).get("50")
    assert a is b and a != c


def test_node_ids_do_not_matter_but_inputs_do(registry):
    one = build(registry, {"x": {"class_type": "Const", "inputs": {"value": 2.0}}}).get("x")
    other = build(registry, {"y": {"class_type": "Const", "inputs": {"value": 2.0}}}).get("y")
    assert one is other


def test_unhashable_values_never_match(registry):
    a = build(registry, {"1": {"class_type": "Const", "inputs": {"value": float("nan")}}}).get("1")
    b = build(registry, {"1": {"class_type": "Const", "inputs": {"value": float("nan")}}}).get("1")
    assert a != b


def test_missing_ancestor_and_cycles_give_unique_keys(registry):
    missing = build(registry, {"1": {"class_type": "Add", "inputs": {"a": ["gone", 0], "b": ["gone", 0]}}})
    assert isinstance(missing.get("1"), (sig.Signature, sig.Unhashable))
    cyclic = {"1": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["2", 0]}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["1", 0]}}}
    builder = build(registry, cyclic)
    assert isinstance(builder.get("1"), sig.Unhashable) or isinstance(builder.get("2"), sig.Unhashable)


def test_re_registering_a_class_changes_its_signature(registry):
    before = build(registry, chain(3)).get("3")
    registry.register("Const", NODES["Const"])
    after = build(registry, chain(3)).get("3")
    assert before != after


def test_sweep_forgets_only_unreferenced_signatures(registry):
    kept = build(registry, chain(20)).get("20")
    build(registry, chain(20, first=5.0))  # its signatures are garbage now
    sig.sweep(force=True)
    assert build(registry, chain(20)).get("20") is kept
