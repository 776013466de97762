"""`RayBackend`: the driver side of scale-out, an `ExecutionBackend` (runtime/backend.py).

Threads of the driver process:

* the dispatcher ("toucan-ray-dispatch"): waits until a worker is idle and the queue holds a
  prompt, picks the prompt for that worker (`routing.choose`, through `PromptQueue.take`) and
  starts it; a prompt is never queued inside Ray, and a worker holds at most one;
* one thread per running prompt ("toucan-ray-run"): reads the worker's event batches in order,
  publishes the events on the runtime's bus (so /ws, widgets and clients see exactly the local
  executor's events) and records the end with `Runtime.finish_item`;
* the lease thread ("toucan-ray-lease"): renews every worker's lease, so that workers stop a
  prompt nobody watches once this process is gone.

Ray never retries a prompt by itself (max_task_retries=0). A worker that dies mid-prompt gives
that prompt an `execution_error` naming the lost worker; the prompt then runs once more, as
attempt 2, on the next idle worker (Ray restarts the lost actor). Nothing leaves the queue or
history on the way.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toucan_nb.runtime.events import NodeFailure, execution_error
from toucan_nb.runtime.executor import PromptResult
from toucan_nb.runtime.queue import QueueItem
from toucan_nb.scaleout import routing
from toucan_nb.scaleout.settings import NAMESPACE, RaySettings, require_ray

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
START_TIMEOUT_S = 300.0  # for the workers to start (a cold worker imports torch and the node library)
WORKER_KEY = "toucan_worker"  # in a running item's extra_data
WORKER_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


@dataclass
class _WorkerSlot:
    """The driver's view of one worker actor."""

    index: int
    name: str
    actor: Any
    device: dict[str, Any] = field(default_factory=dict)
    models: frozenset[str] = frozenset()
    running: QueueItem | None = None
    restarting: bool = False  # lost; Ray is restarting it

    @property
    def idle(self) -> bool:
        return self.running is None and not self.restarting


@dataclass
class _Retry:
    item: QueueItem
    attempt: int
    messages: list[list[Any]]


class RayBackend:
    """Runs a runtime's prompts on Ray worker actors (see the module docstring).

    `worker_config`: the RuntimeConfig fields each worker's runtime is made with; `assemble`:
    the host's assembly function (given, not imported: scale-out sits below the hosts).
    """

    def __init__(self, settings: RaySettings, worker_config: dict[str, Any],
                 assemble: Callable[[Runtime], Any]) -> None:
        self.settings = settings
        self.worker_config = worker_config
        self.assemble = assemble
        self.slots: list[_WorkerSlot] = []
        self.started_ray = False
        self._runtime: Runtime | None = None
        self._cond = threading.Condition()
        self._retries: list[_Retry] = []
        self._shipped: tuple[int, dict[str, bytes]] = (-1, {})  # registry version, pickled classes
        self._skipped: dict[str, int] = {}
        self.lookahead = routing.LOOKAHEAD  # 0: first come, first served (bench/bench_scaleout.py)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- ExecutionBackend ------------------------------------------------------------------------
    def start(self, runtime: Runtime) -> None:
        """Connect (or start a local Ray), attach the workers, and start dispatching.

        Ray is started from the dispatcher thread, which lives as long as the backend: Linux ends a
        process's children when the *thread* that started them exits (Ray asks for that), and the
        hosts start runtimes from short-lived start-up threads.
        """
        require_ray()
        self._runtime = runtime
        ready: dict[str, Any] = {}
        started = threading.Event()
        thread = threading.Thread(target=self._dispatch, args=(ready, started), name="toucan-ray-dispatch", daemon=True)
        thread.start()
        self._threads.append(thread)
        started.wait()
        if "error" in ready:
            raise ready["error"]
        lease = threading.Thread(target=self._renew_leases, name="toucan-ray-lease", daemon=True)
        lease.start()
        self._threads.append(lease)

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        ray = require_ray()
        if self.started_ray:
            self.release_workers()  # our own Ray: its workers go with us
        # On a cluster the workers stay (named, detached): the next driver re-attaches to them.
        ray.shutdown()

    def interrupt(self, prompt_id: str | None) -> bool:
        hit = False
        for slot in self.slots:
            item = slot.running
            if item is not None and (prompt_id is None or item.prompt_id == prompt_id):
                slot.actor.interrupt.remote(item.prompt_id)
                hit = True
        return hit or prompt_id is None

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Every worker frees now, or after its running prompt; returns once each has the request."""
        ray = require_ray()
        refs = [slot.actor.free.remote(unload_models, free_memory) for slot in self.slots if not slot.restarting]
        if unload_models or free_memory:
            for slot in self.slots:
                slot.models = frozenset()
        try:
            ray.get(refs, timeout=10)
        except Exception:  # a worker lost meanwhile: it comes back empty anyway
            log.warning("scale-out: not every worker confirmed /free", exc_info=True)

    @property
    def running_prompt_ids(self) -> list[str]:
        return [slot.running.prompt_id for slot in self.slots if slot.running is not None]

    def devices(self) -> list[dict[str, Any]]:
        return [dict(slot.device) for slot in self.slots]

    def release_workers(self) -> None:
        """End this server's workers for good (they otherwise outlive it on a cluster, holding their
        GPUs and models for the next driver)."""
        ray = require_ray()
        for slot in self.slots:
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:  # already gone
                pass

    def wait_until_ready(self, timeout: float) -> bool:
        """Block until no worker is restarting (True), or `timeout` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not any(s.restarting for s in self.slots), timeout)

    # -- start-up --------------------------------------------------------------------------------
    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        if self.settings.local:
            ray.init(namespace=NAMESPACE, num_gpus=self.settings.num_gpus, include_dashboard=False,
                     runtime_env={"env_vars": WORKER_ENV}, log_to_driver=False)
            self.started_ray = True
        else:
            ray.init(address=self.settings.address, namespace=NAMESPACE, log_to_driver=False)

    def _attach_workers(self, ray: Any) -> list[_WorkerSlot]:
        from toucan_nb.scaleout.worker import Worker

        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = self.settings.workers or gpus or 1
        per_worker_gpus = 1 if gpus >= count else 0
        actor_class = ray.remote(Worker)
        slots = []
        for index in range(count):
            name = f"{self.settings.name_prefix}-{index}"
            # A worker of an earlier driver is re-attached (models still loaded); else it is created.
            # Ray restarts a dead worker (max_restarts) but never retries a call (max_task_retries=0).
            actor = actor_class.options(
                name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached", max_restarts=-1,
                max_task_retries=0, max_concurrency=8, num_gpus=per_worker_gpus, num_cpus=0,
            ).remote(name, self.worker_config, self.assemble, self.settings.lease_s)
            slots.append(_WorkerSlot(index, name, actor))
        try:
            ray.get([slot.actor.renew_lease.remote(self.settings.lease_s) for slot in slots], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            free = ray.available_resources()
            raise RuntimeError(
                f"{count} Ray worker(s) needing {per_worker_gpus} GPU each did not start within {START_TIMEOUT_S:.0f} s; "
                f"the cluster has {free.get('GPU', 0):g} GPU(s) free (workers of another toucan server, or of an "
                f"earlier one with other settings, may hold them: see docs/scale-out.md §5)") from None
        infos = ray.get([slot.actor.info.remote() for slot in slots])
        for slot, info in zip(slots, infos, strict=True):
            slot.device = info["device"]
            slot.models = frozenset(info["models"])
            if info["running"]:
                # An earlier driver's prompt: the lease watchdog stops it; tell it now.
                slot.actor.interrupt.remote(info["running"])
        log.info("scale-out: %d Ray worker(s): %s", len(slots), ", ".join(s.device.get("name", s.name) for s in slots))
        return slots

    # -- the dispatcher thread -------------------------------------------------------------------
    def _dispatch(self, ready: dict[str, Any], started: threading.Event) -> None:
        runtime = self._runtime
        assert runtime is not None
        try:
            ray = require_ray()
            self._connect(ray)
            self.slots = self._attach_workers(ray)
        except BaseException as exc:  # noqa: BLE001 (raised again by start(), on the host's thread)
            ready["error"] = exc
            return
        finally:
            started.set()
        while not self._stopping.is_set():
            with self._cond:
                idle = next((s for s in self.slots if s.idle), None)
                if idle is None:
                    self._cond.wait(0.5)
                    continue
                retry = self._retries.pop(0) if self._retries else None
            if retry is not None:
                self._launch(idle, retry.item, retry.attempt, retry.messages)
                continue
            item = runtime.queue.take(lambda pending, slot=idle: self._route(slot, pending), timeout=0.5)
            if item is not None:
                self._launch(idle, item, 1, [])

    def _route(self, slot: _WorkerSlot, pending: list[QueueItem]) -> QueueItem | None:
        elsewhere = {key for other in self.slots if other is not slot for key in other.models}
        chosen = routing.choose(pending, slot.models, elsewhere, self._skipped, self.lookahead)
        if chosen is not None:
            self._skipped.pop(chosen.prompt_id, None)
            for item in pending[:pending.index(chosen)]:
                self._skipped[item.prompt_id] = self._skipped.get(item.prompt_id, 0) + 1
        return chosen

    def _launch(self, slot: _WorkerSlot, item: QueueItem, attempt: int, messages: list[list[Any]]) -> None:
        with self._cond:
            slot.running = item
        if len(self.slots) > 1:
            # /queue and /api/jobs show which worker runs the prompt (with one worker there is
            # nothing to tell apart, and the listings stay ComfyUI's to the byte). Not in history.
            item.extra_data[WORKER_KEY] = slot.name
        thread = threading.Thread(target=self._follow, args=(slot, item, attempt, messages),
                                  name="toucan-ray-run", daemon=True)
        thread.start()

    def _process_local_classes(self, runtime: Runtime) -> dict[str, bytes]:
        """The node classes only this process has (notebook cells), pickled for the workers: by
        value where they cannot be imported (cloudpickle), by reference otherwise. Cached per
        registry version; every prompt carries them all (a node may expand into any of them)."""
        with self._cond:
            version, blobs = self._shipped
        if version != runtime.registry.version:
            cloudpickle = require_ray().cloudpickle
            blobs = {}
            for class_type, entry in runtime.registry.process_local_classes().items():
                try:
                    blobs[class_type] = cloudpickle.dumps(entry)
                except Exception as exc:  # boundary: anything a class body may hold
                    log.warning("node class %s cannot be sent to the Ray workers (%s); prompts that use it "
                                "fail there", class_type, exc)
            with self._cond:
                self._shipped = (runtime.registry.version, blobs)
        return blobs

    # -- one running prompt ----------------------------------------------------------------------
    def _follow(self, slot: _WorkerSlot, item: QueueItem, attempt: int, messages: list[list[Any]]) -> None:
        ray = require_ray()
        runtime = self._runtime
        assert runtime is not None
        extra = {**item.extra_data, **item.sensitive}
        result: PromptResult | None = None
        try:
            stream = slot.actor.run.remote(item.prompt_id, item.prompt, extra, item.outputs_to_execute, attempt,
                                           self._process_local_classes(runtime))
            for expected, ref in enumerate(stream):
                batch = pickle.loads(ray.get(ref))  # plain pickle: see worker.EventBatch
                if (batch.prompt_id, batch.attempt, batch.seq) != (item.prompt_id, attempt, expected):
                    raise RuntimeError(f"out-of-order batch {batch.seq} (expected {expected}) from {slot.name}")
                for event in batch.events:
                    runtime.events.publish(event)
                if batch.result is not None:
                    result = batch.result
            if result is None:
                raise RuntimeError(f"{slot.name} ended prompt {item.prompt_id} without a result")
            slot.models = slot.models | routing.model_keys(item.prompt)
        except ray.exceptions.RayTaskError as exc:
            # The worker is alive and raised outside any node (node errors arrive as events): what
            # the local executor thread records as an internal error, with the cause named here, since
            # the worker's log is on another machine. Not retried: it would fail the same way.
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            log.error("prompt %s failed on %s: %s", item.prompt_id, slot.name, exc)
            failed = self._publish_error(item, f"internal error on Ray worker {slot.name}: {type(cause).__name__}: "
                                               f"{cause}", type(cause).__name__)
            result = PromptResult({}, {}, False, [failed])
        except Exception as exc:  # the worker died, or the stream broke
            lost = self._publish_error(item, f"lost Ray worker {slot.name} while running the prompt: "
                                             f"{type(exc).__name__}: {exc}", "WorkerLostError")
            messages = [*messages, lost]
            self._await_restart(slot)
            if attempt < MAX_ATTEMPTS and not self._stopping.is_set():
                log.warning("prompt %s: %s; retrying it as attempt %d", item.prompt_id, lost[1]["exception_message"],
                            attempt + 1)
                with self._cond:
                    slot.running = None
                    self._retries.append(_Retry(item, attempt + 1, messages))
                    self._cond.notify_all()
                return
            result = PromptResult({}, {}, False, [])
        if messages:
            result = PromptResult(result.outputs, result.meta, result.success, [*messages, *result.messages])
        item.extra_data.pop(WORKER_KEY, None)
        runtime.finish_item(item, result)
        with self._cond:
            slot.running = None
            self._cond.notify_all()

    def _await_restart(self, slot: _WorkerSlot) -> None:
        """Keep a lost worker out of dispatch until Ray has restarted it (it answers `info`)."""
        ray = require_ray()
        with self._cond:
            slot.restarting = True
            slot.models = frozenset()

        def wait() -> None:
            while not self._stopping.is_set():
                try:
                    info = ray.get(slot.actor.info.remote(), timeout=30)
                    ray.get(slot.actor.renew_lease.remote(self.settings.lease_s), timeout=30)
                    break
                except Exception:  # still restarting
                    self._stopping.wait(0.2)
            else:
                return
            with self._cond:
                slot.device = info["device"]
                slot.restarting = False
                self._cond.notify_all()
            log.info("scale-out: %s is back", slot.name)

        threading.Thread(target=wait, name="toucan-ray-restart", daemon=True).start()

    def _publish_error(self, item: QueueItem, message: str, exception_type: str) -> list[Any]:
        """Publish the `execution_error` of a prompt that failed outside any node (its worker went
        away, or raised outside the executor); return its history message."""
        runtime = self._runtime
        assert runtime is not None
        event = execution_error(item.prompt_id, NodeFailure("", message + "\n", exception_type),
                                client_id=item.extra_data.get("client_id"))
        runtime.events.publish(event)
        return [event.name, event.data()]

    # -- the lease thread ------------------------------------------------------------------------
    def _renew_leases(self) -> None:
        interval = max(0.2, self.settings.lease_s / 4)
        while not self._stopping.wait(interval):
            for slot in self.slots:
                try:
                    slot.actor.renew_lease.remote(self.settings.lease_s)
                except Exception:  # a restarting worker: renewed next round
                    pass
