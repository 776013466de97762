"""runtime.progress: the one progress fold (ProgressSnapshot) and the executor's ProgressRegistry."""

from __future__ import annotations

from toucan_nb.runtime import events as ev
from toucan_nb.runtime.progress import ProgressRegistry, ProgressSnapshot
from toucan_nb.runtime.prompt import DynamicPrompt


def _state(node: str, state: str, value: float = 0.0) -> ev.ProgressState:
    entry = ev.NodeProgress(node, state, value, 1.0, "p", node, None, node)
    return ev.ProgressState(entry=entry, prompt_id="p")


def test_snapshot_lists_started_nodes_where_first_seen_with_their_newest_state():
    snapshot = ProgressSnapshot("p")
    for event in (_state("3", "pending"), _state("1", "running"), _state("3", "running", 0.5),
                  _state("1", "finished", 1.0), _state("2", "pending"), ev.ProgressState(prompt_id="p")):
        snapshot.apply(event)
    assert list(snapshot.data()["nodes"]) == ["3", "1"]  # "2" is still pending
    assert snapshot.data()["nodes"]["3"]["value"] == 0.5 and snapshot.data()["nodes"]["1"]["state"] == "finished"
    assert len(snapshot) == 3 and snapshot.version == 5  # the entry-less event changed nothing
    assert snapshot.data()["prompt_id"] == "p"


def test_registry_publishes_each_change_and_finishes_at_the_last_max():
    bus = ev.EventBus()
    seen: list[ev.ProgressState] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, ev.ProgressState) else None)
    registry = ProgressRegistry("p", DynamicPrompt({"1": {"class_type": "X", "inputs": {}}}), bus, "client")
    registry.start_progress("1")
    registry.update_progress("1", 3, 8)
    registry.finish_progress("1")
    assert [(e.entry.state, e.entry.value, e.entry.max) for e in seen if e.entry] == [
        ("running", 0.0, 1.0), ("running", 3, 8), ("finished", 8, 8)]
    assert all(e.client_id == "client" and e.prompt_id == "p" for e in seen)
    assert registry.snapshot.data()["nodes"]["1"]["value"] == 8


def test_registry_names_an_expanded_nodes_display_parent_and_real_node():
    dyn = DynamicPrompt({"1": {"class_type": "X", "inputs": {}}})
    dyn.add_ephemeral_node("1.0.5", {"class_type": "Y", "inputs": {}}, "1", "1")
    registry = ProgressRegistry("p", dyn, ev.EventBus(), None)
    registry.start_progress("1.0.5")
    wire = registry.snapshot.data()["nodes"]["1.0.5"]
    assert (wire["display_node_id"], wire["parent_node_id"], wire["real_node_id"]) == ("1", "1", "1")
    registry.start_progress("1")
    assert registry.snapshot.data()["nodes"]["1"]["parent_node_id"] is None


def test_registry_without_subscribers_still_keeps_its_snapshot():
    registry = ProgressRegistry("p", DynamicPrompt({"1": {}}), ev.EventBus(), None)
    registry.finish_progress("1")  # finishing a node that never reported: max 1
    assert registry.snapshot.data()["nodes"]["1"] == {
        "value": 1.0, "max": 1.0, "state": "finished", "node_id": "1", "prompt_id": "p",
        "display_node_id": "1", "parent_node_id": None, "real_node_id": "1"}
