"""The Ray worker actor: a full runtime of its own that runs one prompt at a time for the driver.

`Worker` is a plain class; the backend makes it a Ray actor (`backend.py`), one per GPU, named so
that a new driver finds it again. Its runtime is assembled by the function the host hands over
(`toucan_nb.host.assembly.start_runtime` with `start=False`): the same node library, custom node
packs and compat modules as the driver's, its own caches and loaded models. It is never started:
prompts run on the executor directly, from `run`.

`run` is a streaming generator: the prompt executes on a thread of its own while `run` yields the
events it publishes as `EventBatch`es, by time (`FLUSH_S`) and count (`BATCH_MAX`), at once after
`executed`, previews and the end, each tagged with the prompt id, attempt and a sequence number;
the last batch carries the `PromptResult`. Ray runs `interrupt`, `free`, `renew_lease` and `info`
on other threads of the actor (max_concurrency) while a prompt runs.

If the driver stops renewing the lease (it died), the watchdog interrupts the running prompt
instead of letting it run on unseen.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from toucan_nb.runtime import device
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.executor import PromptResult
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig
from toucan_nb.scaleout.routing import model_keys

log = logging.getLogger(__name__)

FLUSH_S = 0.005  # a batch waits at most this long for more events
BATCH_MAX = 512  # ... or until it holds this many
# Sent at once: what a client shows as soon as it arrives.
URGENT = (ev.Executed, ev.PreviewImage, ev.ExecutionSuccess, ev.ExecutionError, ev.ExecutionInterrupted)


@dataclass
class EventBatch:
    """Events of one attempt of one prompt, in order; `result` only on the last batch.

    `run` yields batches pickled with the standard library (protocol 5): for many small event
    objects that is several times faster than Ray's own serializer, and the driver unpickles them.
    """

    prompt_id: str
    attempt: int
    seq: int
    events: list[ev.Event] = field(default_factory=list)
    result: PromptResult | None = None


class Worker:
    """One scale-out worker (a Ray actor). See the module docstring."""

    def __init__(self, name: str, config: dict[str, Any], assemble: Callable[[Runtime], Any],
                 lease_s: float = 10.0) -> None:
        import torch

        self.name = name
        config = {**config, "persist": False}
        if not torch.cuda.is_available():
            config["cpu"] = True  # Ray pins GPUs through CUDA_VISIBLE_DEVICES; without CUDA: the CPU
        self.runtime = Runtime(RuntimeConfig(**config))
        assemble(self.runtime)
        self.executor = self.runtime.executor
        self.models: set[str] = set()
        self._installed: dict[str, bytes] = {}  # process-local classes from the driver, as pickled
        self._cond = threading.Condition()
        self._buffer: list[ev.Event] = []
        self._urgent = False
        self._running: str | None = None
        self._free_after: tuple[bool, bool] | None = None
        self._lease_s = lease_s
        self._lease_deadline = time.monotonic() + lease_s
        self.runtime.events.subscribe(self._collect)
        threading.Thread(target=self._watchdog, name="toucan-worker-lease", daemon=True).start()

    # -- the driver's calls ----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Who this worker is: name, pid, device entry for /system_stats, models held, running prompt."""
        stats = dict(device.device_stats())
        stats["name"] = f"{self.name}: {stats.get('name', '')}"
        return {"name": self.name, "pid": os.getpid(), "device": stats, "models": sorted(self.models),
                "running": self._running}

    def run(self, prompt_id: str, prompt: dict[str, Any], extra_data: dict[str, Any], outputs: list[str],
            attempt: int = 1, classes: dict[str, bytes] | None = None) -> Iterator[bytes]:
        """Execute one prompt, yielding its events in pickled `EventBatch`es and finally its result.

        `classes`: the driver's process-local node classes (`RayBackend._process_local_classes`).
        """
        self.renew_lease()
        self._install_classes(classes or {})
        self._running = prompt_id
        box: dict[str, Any] = {}
        done = threading.Event()

        def execute() -> None:
            try:
                box["result"] = self.executor.execute(prompt, prompt_id, extra_data, outputs)
            except BaseException as exc:  # noqa: BLE001 (handed to the driver as a failed prompt)
                box["error"] = exc
            finally:
                done.set()
                with self._cond:
                    self._urgent = True
                    self._cond.notify()

        threading.Thread(target=execute, name=f"toucan-worker-run-{prompt_id[:8]}", daemon=True).start()
        seq = 0
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._urgent or len(self._buffer) >= BATCH_MAX, timeout=FLUSH_S)
                    batch, self._buffer, self._urgent = self._buffer, [], False
                finished = done.is_set()
                if batch:
                    yield pickle.dumps(EventBatch(prompt_id, attempt, seq, batch), protocol=5)
                    seq += 1
                if finished:
                    with self._cond:
                        rest, self._buffer = self._buffer, []
                    break
            if "error" in box:
                raise box["error"]
            self.models |= model_keys(prompt)
            yield self._last_batch(EventBatch(prompt_id, attempt, seq, rest, box["result"]))
        finally:
            self._running = None
            self._apply_deferred_free()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        return self.executor.interrupt(prompt_id)

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        """POST /free for this worker: now when idle, else after the running prompt."""
        self._free_after = (unload_models, free_memory)
        if self._running is None:
            self._apply_deferred_free()

    def renew_lease(self, lease_s: float | None = None) -> None:
        """The driver is alive: extend the lease (by `lease_s`, the driver's setting, from now on)."""
        if lease_s is not None:
            self._lease_s = lease_s
        self._lease_deadline = time.monotonic() + self._lease_s

    # -- inside the worker -----------------------------------------------------------------------
    def _install_classes(self, classes: dict[str, bytes]) -> None:
        """Register the driver's process-local classes that are new or changed. Only those: a
        registration starts a new cache generation for that class (`NodeRegistry.serial`)."""
        for class_type, blob in classes.items():
            if self._installed.get(class_type) == blob:
                continue
            cls, display_name, python_module = pickle.loads(blob)
            self.runtime.registry.register(class_type, cls, display_name, python_module, process_local=True)
            self._installed[class_type] = blob

    @staticmethod
    def _last_batch(batch: EventBatch) -> bytes:
        """The pickled last batch. Handed-back values that cannot be pickled (a cell captured an
        output holding a lock or an open file) are dropped: the cell then reports that output as
        missing, and the prompt's other results still arrive."""
        try:
            return pickle.dumps(batch, protocol=5)
        except Exception as exc:  # boundary: whatever a node handed back
            assert batch.result is not None
            log.warning("prompt %s: values handed back to the driver cannot be pickled (%s); dropped",
                        batch.prompt_id, exc)
            batch.result = dataclasses.replace(batch.result, handed_back={})
            return pickle.dumps(batch, protocol=5)

    def _collect(self, event: ev.Event) -> None:
        # Publishing thread (the prompt's): hand over only.
        with self._cond:
            self._buffer.append(event)
            if isinstance(event, URGENT):
                self._urgent = True
                self._cond.notify()
            elif len(self._buffer) >= BATCH_MAX:
                self._cond.notify()

    def _apply_deferred_free(self) -> None:
        flags, self._free_after = self._free_after, None
        if flags is None:
            return
        unload_models, free_memory = flags
        self.runtime.apply_free(unload_models, free_memory)
        if unload_models or free_memory:
            self.models.clear()

    def _watchdog(self) -> None:
        while True:
            time.sleep(min(1.0, self._lease_s / 4))
            running = self._running
            if running is not None and time.monotonic() > self._lease_deadline:
                self.executor.interrupt(running)
