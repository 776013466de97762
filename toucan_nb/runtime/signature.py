"""Cache keys ("signatures") of prompt nodes (docs/execution.md §4.2), built incrementally.

ComfyUI rebuilds each node's key from its whole ancestry on every prompt, which is quadratic in
chain length. Here a signature is hash-consed (Merkle style): a node's signature is an interned
tuple of its immediate signature with each link replaced by the *signature* of its source, and
the signature itself is the serial number that tuple was interned under. Building one costs O(inputs)
whatever the depth, and two nodes have equal signatures exactly when their whole ancestries are
equal, which is what ComfyUI's ancestor list encodes.

Values that cannot be hashed (objects in expanded graphs, a failing or NaN IS_CHANGED) become a
fresh `Unhashable`, equal only to itself, so they never match across prompts (ComfyUI's to_hashable).
Executor thread only (the intern table is guarded by a lock for tests that build in parallel).
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import threading
from typing import Any, Literal

from toucan_nb.runtime import v3
from toucan_nb.runtime.asynccall import call_node_method
from toucan_nb.runtime.graph_utils import ExecutionBlocker, is_link
from toucan_nb.runtime.invoke import is_changed_inputs
from toucan_nb.runtime.prompt import DynamicPrompt

log = logging.getLogger(__name__)


class Unhashable:
    """A value that equals only itself (identity hash)."""

    __slots__ = ("__weakref__",)


class Signature(int):
    """An interned cache key: a unique serial number. Equal signatures are the same object.

    An int subclass so that hashing and comparing it (a dozen times per node) stays in C.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Signature({int(self)})"


_serials = itertools.count(1)


# A plain dict (a WeakValueDictionary costs more than the rest of a lookup); `sweep()` drops what
# nothing outside the table references any more, and runs only when the table has doubled.
_interned: dict[tuple[Any, ...], Signature] = {}
_intern_lock = threading.Lock()
_sweep_at = 4096


def intern(parts: tuple[Any, ...]) -> Signature:
    """The one Signature object for `parts`."""
    sig = _interned.get(parts)
    if sig is None:
        with _intern_lock:
            sig = _interned.get(parts)
            if sig is None:
                sig = Signature(next(_serials))
                _interned[parts] = sig
    return sig


def _table_only_refcount() -> int:
    probe = Signature(0)
    table = {("probe",): probe}
    key = next(iter(table))
    del probe
    return sys.getrefcount(table[key])


_UNREFERENCED = _table_only_refcount()


def sweep(force: bool = False) -> int:
    """Forget signatures that only the intern table still holds; returns how many. Amortised O(1)."""
    global _sweep_at
    if not force and len(_interned) < _sweep_at:
        return 0
    removed = 0
    with _intern_lock:
        while True:
            dead = [k for k in list(_interned) if sys.getrefcount(_interned[k]) <= _UNREFERENCED]
            if not dead:
                break
            for k in dead:
                del _interned[k]
            removed += len(dead)
        _sweep_at = max(4096, 2 * len(_interned))
    return removed


def interned_count() -> int:
    return len(_interned)


_PRIMITIVES = (int, str, bool, bytes, type(None))


def to_hashable(value: Any) -> Any:
    """ComfyUI's to_hashable: primitives as is, containers recursively, anything else Unhashable."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, float):
        return Unhashable() if math.isnan(value) else value
    if isinstance(value, dict):
        try:
            return ("__dict__", frozenset((k, to_hashable(v)) for k, v in value.items()))
        except TypeError:
            return Unhashable()
    if isinstance(value, (list, tuple)):
        return ("__seq__", tuple(to_hashable(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("__set__", frozenset(to_hashable(v) for v in value))
    return Unhashable()


class IsChangedCache:
    """Calls IS_CHANGED (V3: fingerprint_inputs) at most once per node per prompt (docs/execution.md §1.6)."""

    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt, registry: Any, extra_data: dict[str, Any]) -> None:
        self.prompt_id = prompt_id
        self.dynprompt = dynprompt
        self.registry = registry
        self.extra_data = extra_data
        self._values: dict[str, Any] = {}
        self._methods: dict[type, str | None] = {}

    def method(self, cls: type) -> str | None:
        """The class's IS_CHANGED counterpart, if it has one (memoised for this prompt)."""
        try:
            return self._methods[cls]
        except KeyError:
            method = self._methods[cls] = v3.change_method(cls)
            return method

    def get(self, node_id: str) -> Any:
        if node_id in self._values:
            return self._values[node_id]
        node = self.dynprompt.get_node(node_id)
        cls = self.registry.get(node["class_type"])
        method = self.method(cls)
        if method is None:
            value: Any = False
        elif "is_changed" in node:
            # QUIRK(docs/execution.md §1.6): a value already in the prompt is used as is.
            value = node["is_changed"]
        else:
            value = self._call(node_id, node, cls, method)
            node["is_changed"] = value
        self._values[node_id] = value
        return value

    def _call(self, node_id: str, node: dict[str, Any], cls: type, method: str) -> Any:
        try:
            kwargs = is_changed_inputs(cls, node["inputs"], node_id, self.dynprompt, self.extra_data)
            if v3.is_v3(cls):
                # No DynamicPrompt or extra data here: hidden `prompt` is {}, as in ComfyUI (§1.3).
                data = v3.call_data(cls.INPUT_TYPES(), node["inputs"], node_id, None, {})  # type: ignore[attr-defined]  # V1/V3 node classes declare INPUT_TYPES
                fn = v3.bind(cls, method, data)
                kwargs = v3.nest_inputs(kwargs, data)
            else:
                fn = getattr(cls, method)
            result = call_node_method(fn, kwargs, self.prompt_id, node_id)
            values = [None if isinstance(result, ExecutionBlocker) else result]
        except Exception as exc:  # custom-node boundary: ComfyUI logs and uses NaN
            log.warning("%s of %s (%s) failed: %s", method, node_id, node["class_type"], exc)
            return float("nan")
        return values


_uses_unique_id: dict[type, bool] = {}


def _class_needs_id(cls: type) -> bool:
    """NOT_IDEMPOTENT or a hidden UNIQUE_ID puts the node id into the key (memoised per class)."""
    needs = _uses_unique_id.get(cls)
    if needs is None:
        needs = bool(getattr(cls, "NOT_IDEMPOTENT", False))
        if not needs:
            hidden = cls.INPUT_TYPES().get("hidden", {})  # type: ignore[attr-defined]  # V1 node classes declare INPUT_TYPES
            needs = isinstance(hidden, dict) and "UNIQUE_ID" in hidden.values()
        _uses_unique_id[cls] = needs
    return needs


class SignatureBuilder:
    """Signatures of the nodes of one prompt (original and expanded), memoised per node."""

    def __init__(self, dynprompt: DynamicPrompt, registry: Any, is_changed: IsChangedCache) -> None:
        self.dynprompt = dynprompt
        self.registry = registry
        self.is_changed = is_changed
        self.memo: dict[str, Signature | Unhashable] = {}
        # class_type -> (class, its leading key parts, whether the node id is part of the key,
        # whether it has an IS_CHANGED counterpart)
        self._classes: dict[str, tuple[type, tuple[Any, ...], bool, bool] | None] = {}

    def get(self, node_id: str) -> Signature | Unhashable:
        memo = self.memo
        sig = memo.get(node_id)
        if sig is not None:
            return sig
        # Fast path: every source already keyed (a prompt visited in order; a cached re-run).
        node = self.dynprompt.original_prompt.get(node_id)
        if node is not None and node_id not in self.dynprompt.ephemeral_prompt:
            for value in node["inputs"].values():
                if is_link(value) and value[0] not in memo:
                    break
            else:
                sig = memo[node_id] = self._immediate(node_id)
                return sig
        # Iterative post-order walk: deep chains must not recurse (5,000 nodes and more).
        stack: list[tuple[str, bool]] = [(node_id, False)]
        visiting: set[str] = set()
        dynprompt = self.dynprompt
        while stack:
            current, children_done = stack.pop()
            if current in memo:
                continue
            if children_done:
                visiting.discard(current)
                memo[current] = self._immediate(current)
                continue
            if not dynprompt.has_node(current):
                memo[current] = Unhashable()  # ComfyUI keys a missing ancestor as [NaN]
                continue
            if current in visiting:
                continue  # a cycle; _immediate of its member sees the gap and gives up on equality
            visiting.add(current)
            stack.append((current, True))
            for value in dynprompt.get_node(current)["inputs"].values():
                if is_link(value) and value[0] not in memo and value[0] not in visiting:
                    stack.append((value[0], False))
        return memo[node_id]

    def _class_parts(self, class_type: str) -> tuple[type, tuple[Any, ...], bool, bool] | None:
        known: tuple[type, tuple[Any, ...], bool, bool] | None | Literal[False] = self._classes.get(class_type, False)
        if known is not False:
            return known
        cls = self.registry.find(class_type)
        entry = None if cls is None else (cls, (class_type, self.registry.serial(class_type)), _class_needs_id(cls),
                                          self.is_changed.method(cls) is not None)
        self._classes[class_type] = entry
        return entry

    def _immediate(self, node_id: str) -> Signature | Unhashable:
        node = self.dynprompt.get_node(node_id)
        entry = self._class_parts(node["class_type"])
        if entry is None:
            return Unhashable()
        _cls, lead, needs_id, has_change_method = entry
        changed = to_hashable(self.is_changed.get(node_id)) if has_change_method else False
        parts: list[Any] = [*lead, changed]
        if needs_id:
            parts.append(node_id)
        inputs = node["inputs"]
        memo = self.memo
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                source = memo.get(value[0])
                if source is None:  # part of a cycle
                    return Unhashable()
                parts.append((name, source, value[1]))
            else:
                parts.append((name, to_hashable(value)))
        try:
            return intern(tuple(parts))
        except TypeError:
            return Unhashable()
