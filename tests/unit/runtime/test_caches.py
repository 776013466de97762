"""runtime.caches: what each output cache keeps across prompts, and the object cache (docs/execution.md §4).

The caches are driven as the executor drives them: `set_prompt` with a real SignatureBuilder over
the prompt, `clean_unused`, then `get`/`set` per node.
"""

from __future__ import annotations

import pytest

from toucan_nb.runtime.caches import (
    CacheEntry,
    HierarchicalCache,
    LRUCache,
    NullCache,
    ObjectCache,
    RAMPressureCache,
    make_output_cache,
)
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.signature import IsChangedCache, SignatureBuilder


def chain(value: float) -> dict:
    return {"1": {"class_type": "Const", "inputs": {"value": value}},
            "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}


def start_prompt(cache, registry, prompt: dict) -> DynamicPrompt:
    """What the executor does before the first node of a prompt."""
    dyn = DynamicPrompt(prompt)
    signatures = SignatureBuilder(dyn, registry, IsChangedCache("p", dyn, registry, {}))
    cache.set_prompt(signatures, prompt.keys())
    cache.clean_unused()
    return dyn


def entry(value: float) -> CacheEntry:
    return CacheEntry(ui=None, outputs=[[value]])


def test_make_output_cache_picks_the_class_for_each_mode():
    assert type(make_output_cache("classic")) is HierarchicalCache
    assert type(make_output_cache("lru", 0)) is HierarchicalCache  # --cache-lru 0 is the classic cache
    assert type(make_output_cache("lru", 5)) is LRUCache and make_output_cache("lru", 5).max_size == 5
    assert type(make_output_cache("ram")) is RAMPressureCache
    assert type(make_output_cache("none")) is NullCache


def test_classic_keeps_only_what_the_new_prompt_can_use(registry):
    cache = HierarchicalCache()
    start_prompt(cache, registry, chain(1.0))
    cache.set("1", entry(1.0))
    start_prompt(cache, registry, chain(1.0))  # same inputs: same signature, result kept
    assert cache.get("1").outputs == [[1.0]]
    start_prompt(cache, registry, chain(2.0))  # changed input: a miss, and the old result is dropped
    assert cache.get("1") is None
    start_prompt(cache, registry, chain(1.0))
    assert cache.get("1") is None  # classic does not keep results the previous prompt could not use
    assert sorted(cache.all_node_ids()) == ["1", "2"]


def test_a_downstream_node_misses_when_anything_upstream_changed(registry):
    cache = HierarchicalCache()
    start_prompt(cache, registry, chain(1.0))
    cache.set("2", entry(1.0))
    start_prompt(cache, registry, chain(3.0))  # node 2's own inputs are the same link; its source changed
    assert cache.get("2") is None


def test_expanded_children_live_under_their_parent(registry):
    cache = HierarchicalCache()
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}}}
    dyn = start_prompt(cache, registry, prompt)
    dyn.add_ephemeral_node("1.0.0", {"class_type": "Const", "inputs": {"value": 5.0}}, "1", "1")
    cache.ensure_subcache_for("1", ["1.0.0"])
    cache.set("1.0.0", entry(5.0))
    assert cache.get("1.0.0").outputs == [[5.0]]
    assert sorted(cache.all_node_ids()) == ["1", "1.0.0"]
    # The next prompt's parent re-expands into the same children: they are found again (§4.3).
    dyn = start_prompt(cache, registry, prompt)
    dyn.add_ephemeral_node("1.0.0", {"class_type": "Const", "inputs": {"value": 5.0}}, "1", "1")
    assert cache.get("1.0.0").outputs == [[5.0]]
    # Sub-levels are kept by (parent id, class): a prompt with no such node drops the whole level.
    start_prompt(cache, registry, {"1": {"class_type": "Output", "inputs": {"value": 1.0}}})
    assert cache.all_node_ids() == ["1"]


def test_lru_keeps_older_generations_until_the_count_is_exceeded(registry):
    cache = LRUCache(2)
    start_prompt(cache, registry, chain(1.0))
    cache.set("1", entry(1.0))
    start_prompt(cache, registry, chain(2.0))
    cache.set("1", entry(2.0))
    start_prompt(cache, registry, chain(1.0))  # two entries: nothing evicted, the first result is back
    assert cache.get("1").outputs == [[1.0]]
    cache.set("2", entry(1.0))  # a third entry, evicted at the next prompt start
    start_prompt(cache, registry, chain(3.0))
    # The oldest generation goes first: value 2.0 was last used two prompts ago, 1.0 in the last one.
    start_prompt(cache, registry, chain(2.0))
    assert cache.get("1") is None
    start_prompt(cache, registry, chain(1.0))
    assert cache.get("1").outputs == [[1.0]]


def test_ram_cache_does_not_evict_by_count_and_evicts_under_pressure(registry, monkeypatch):
    import psutil

    cache = RAMPressureCache()
    for value in range(10):
        start_prompt(cache, registry, chain(float(value)))
        cache.set("1", entry(float(value)))
    start_prompt(cache, registry, chain(0.0))
    assert cache.get("1").outputs == [[0.0]]  # ten generations kept: no count limit

    class LowMemory:
        available = 0  # below any headroom: evict until nothing is left to evict

    monkeypatch.setattr(psutil, "virtual_memory", lambda: LowMemory())
    cache.poll(ram_headroom=1.0)
    start_prompt(cache, registry, chain(5.0))
    assert cache.get("1") is None


def test_null_cache_keeps_results_for_the_current_prompt_only(registry):
    cache = NullCache()
    start_prompt(cache, registry, chain(1.0))
    cache.set("1", entry(1.0))
    assert cache.get("1").outputs == [[1.0]]  # one run per node within a prompt
    start_prompt(cache, registry, chain(1.0))
    assert cache.get("1") is None and cache.all_node_ids() == []


@pytest.mark.parametrize("mode", ["classic", "lru", "ram", "none"])
def test_clear_forgets_everything(registry, mode):
    cache = make_output_cache(mode, 10)
    start_prompt(cache, registry, chain(1.0))
    cache.set("1", entry(1.0))
    cache.clear()
    start_prompt(cache, registry, chain(1.0))
    assert cache.get("1") is None


class Counter:
    made = 0

    def __init__(self) -> None:
        Counter.made += 1


def test_object_cache_keeps_instances_while_their_node_stays():
    objects = ObjectCache()
    first = objects.get("1", "Counter", Counter)
    assert objects.get("1", "Counter", Counter) is first
    objects.set_prompt({"1": {"class_type": "Counter"}, "1.0.2": {"class_type": "Counter"}})
    assert objects.get("1", "Counter", Counter) is first
    child = objects.get("1.0.2", "Counter", Counter)
    objects.set_prompt({"1": {"class_type": "Counter"}})  # an expanded child survives with its root
    assert objects.get("1.0.2", "Counter", Counter) is child
    objects.set_prompt({"2": {"class_type": "Counter"}})
    assert objects.get("1", "Counter", Counter) is not first


def test_object_cache_makes_a_new_instance_for_a_re_registered_class_or_when_disabled():
    objects = ObjectCache()
    old = objects.get("1", "Counter", Counter)

    class Counter2(Counter):
        pass

    assert type(objects.get("1", "Counter", Counter2)) is Counter2 and objects.get("1", "Counter", Counter) is not old
    disabled = ObjectCache(enabled=False)
    assert disabled.get("1", "Counter", Counter) is not disabled.get("1", "Counter", Counter)
