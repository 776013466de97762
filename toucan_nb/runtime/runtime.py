"""Runtime: the node registry, queue, history, executor thread and event bus of one process.

This is the object the route set, the notebook API and the compat layer are given. Threads:
`submit`, `interrupt`, `free`, the queue/history views and `future` may be called from any
thread; prompts run one at a time on the runtime's own executor thread ("toucan-executor").

Several runtimes (kernels) may persist into one user folder at once (`store.py`): they share the
history and the priority counter; each runs the prompts it queued; `queue_listing` adds the prompts
the others have queued or are running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import random
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toucan_nb.runtime import device
from toucan_nb.runtime.backend import ExecutionBackend
from toucan_nb.runtime.errors import NotFoundError, QueueStoreUnavailableError
from toucan_nb.runtime.events import EventBus, Executing, NodeFailure, Status, execution_error, now_ms
from toucan_nb.runtime.executor import PromptExecutor, PromptResult
from toucan_nb.runtime.folders import Folders
from toucan_nb.runtime.history import History, HistoryEntry
from toucan_nb.runtime.interface import Submission
from toucan_nb.runtime.queue import PromptQueue, QueueItem
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.validation import validate_prompt

if TYPE_CHECKING:
    from toucan_nb.runtime.loader import LoadReport

NUMBER_BLOCK = 256  # priority numbers reserved from a shared store at a time (store.py)

log = logging.getLogger(__name__)

# Kept out of history and listings, still passed to execution (docs/protocol.md §6).
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
CACHE_MODES = ("classic", "lru", "none", "ram")
# Longest stretch of back-to-back prompts before the executor's loop gets a turn (seconds).
LOOP_TURN_INTERVAL = 0.02

# Prompt ids need uniqueness, not secrecy (they are listed by /queue): a private generator seeded
# from the OS avoids uuid4's os.urandom system call, which on the IO thread hands the GIL to a busy
# executor thread and waits up to a switch interval to get it back. Reseeded in forked children.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def new_prompt_id() -> str:
    """A random (version 4) UUID string, as ComfyUI's prompt ids."""
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


@dataclass
class RuntimeConfig:
    """How a runtime is set up; the CLI flags of `toucan-nb serve` map onto these fields.

    The fields about the device, the node library, custom nodes and ComfyUI's modules are read
    by the host's start-up (`toucan_nb.host.assembly.start_runtime`), not by the runtime itself.
    """

    base_dir: str = "."
    input_dir: str | None = None
    output_dir: str | None = None
    temp_dir: str | None = None
    user_dir: str | None = None
    models_dir: str | None = None
    cache_mode: str = "classic"
    cache_size: int = 0
    ram_headroom_gb: float = 4.0
    preview_method: str = "none"
    preview_size: int = 512
    max_upload_size_mb: float = 100.0
    device: str | None = None
    cpu: bool = False
    custom_node_dirs: list[str] = field(default_factory=list)
    disable_all_custom_nodes: bool = False
    load_builtin_nodes: bool = True
    persist: bool = True
    multi_user: bool = False
    disable_metadata: bool = False
    # Scale-out (toucan_nb/scaleout, docs/scale-out.md): "local" or a Ray cluster address; the
    # number of Ray workers (0: one per GPU); GPUs to declare to a local Ray; the workers' lease;
    # the workers' actor names (distinct per toucan server sharing one cluster).
    ray: str | None = None
    ray_workers: int = 0
    ray_num_gpus: int | None = None
    ray_lease_s: float = 10.0
    ray_worker_prefix: str | None = None  # None: $TOUCAN_NB_RAY_WORKER_PREFIX, else "toucan-worker"
    # Provide toucan_nb's ComfyUI modules even where a real ComfyUI is importable (`toucan-nb serve`:
    # there the live server and executor are ours, and the real ones' globals would stay unset).
    shadow_real_comfyui: bool = False
    # A user's ComfyUI checkout as the node library (docs/comfyui-checkout.md), and ComfyUI
    # command-line flags for its modules (`["--lowvram"]`); read by the host's start-up only.
    comfyui_root: str | None = None
    comfyui_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.cache_mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {CACHE_MODES}, not {self.cache_mode!r}")


class Runtime:
    """One process's graph runtime (see the module docstring for threads).

    Implements `toucan_nb.runtime.interface.RuntimeInterface`, the route set's view of it.
    """

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        c = self.config
        self.folders = Folders(c.base_dir, input_dir=c.input_dir, output_dir=c.output_dir, temp_dir=c.temp_dir,
                               user_dir=c.user_dir, models_dir=c.models_dir)
        self.registry = NodeRegistry()
        self.events = EventBus()
        self.executor = PromptExecutor(self.registry, self.events, c.cache_mode, c.cache_size, c.ram_headroom_gb)
        self.store: Any = None
        self.queue = PromptQueue(on_change=self._queue_changed)
        self.history = History()
        self.load_report: LoadReport | None = None
        self._number = 0
        self._number_limit = 0  # with a store: the end of the block of numbers reserved for us
        self._number_lock = threading.Lock()
        self._foreign: tuple[int, list[QueueItem], list[QueueItem]] = (-1, [], [])
        self._futures: dict[str, concurrent.futures.Future[HistoryEntry]] = {}
        self._futures_lock = threading.Lock()
        self._free_flags = {"unload_models": False, "free_memory": False}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._folders_prepared = False
        self._restored = False
        self.started = False
        # Set by a host before start() to run prompts elsewhere (runtime/backend.py); None: here.
        self.backend: ExecutionBackend | None = None
        # Receives each finished prompt's handed-back values (the notebook's capture store), if set.
        self.hand_back_sink: Callable[[str, dict[str, list[Any]]], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    # The host assembles a runtime with nodes and ComfyUI's modules around these three steps
    # (toucan_nb.host.assembly.start_runtime); on its own, `start()` runs all three.
    def prepare_folders(self) -> None:
        """Empty the temp folder (as ComfyUI does at start-up) and create every folder. Once."""
        if self._folders_prepared:
            return
        if self._temp_dir_is_disposable():
            shutil.rmtree(self.folders.temp_dir, ignore_errors=True)
        self.folders.ensure_dirs()
        self._folders_prepared = True

    def restore(self) -> None:
        """Open the store (with `config.persist`) and restore the queue, history and counter. Once."""
        if self._restored:
            return
        if self.config.persist:
            self._open_store()
        self._restored = True

    def start(self) -> Runtime:
        """Prepare the folders and restore (if not done yet), then start the executor thread.

        Loads no nodes and changes no process-wide state: see `toucan_nb.host.assembly`.
        """
        if self.started:
            return self
        self.prepare_folders()
        self.restore()
        if self.backend is not None:
            self.backend.start(self)
        else:
            self._thread = threading.Thread(target=self._work, name="toucan-executor", daemon=True)
            self._thread.start()
        self.started = True
        return self

    def _temp_dir_is_disposable(self) -> bool:
        """Never empty a temp dir that holds the other folders, the base, a root or a home."""
        f = self.folders
        temp = os.path.realpath(f.temp_dir)
        if temp in (os.path.realpath(os.sep), os.path.realpath(os.path.expanduser("~"))):
            return False
        for other in (f.base_dir, f.input_dir, f.output_dir, f.user_dir, f.models_dir):
            other = os.path.realpath(other)
            if other == temp or other.startswith(temp.rstrip(os.sep) + os.sep):
                return False
        return True

    def _open_store(self) -> None:
        from toucan_nb.runtime.store import Store, StoreCorruptError, StoreLockedError, StoreVersionError

        try:
            self.store = Store.in_user_dir(self.folders.user_dir)
        except (StoreLockedError, StoreVersionError, StoreCorruptError, sqlite3.DatabaseError) as exc:
            # The file is held by an older toucan_nb, or is not ours: keep working in memory.
            log.warning("queue and history will not persist: %s", exc)
            return
        for entry in self.store.recover():
            log.warning("prompt %s was running when its runtime stopped; recorded as failed", entry.prompt_id)
        self.history = History(store=self.store)
        submitted_before_start = self.queue.pending()
        self.queue = PromptQueue(on_change=self._queue_changed, store=self.store,
                                 on_deleted_elsewhere=lambda item: self._cancel_futures([item.prompt_id]))
        for item in submitted_before_start:
            self.queue.put(item)
        with self._number_lock:
            if self._number:  # numbers handed out before the store opened stay used
                self.store.reserve_numbers(0, at_least=self._number)
            self._number_limit = self._number  # the next number comes from a reserved block
        with self._futures_lock:
            for item in self.queue.pending():
                self._futures.setdefault(item.prompt_id, concurrent.futures.Future())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking prompts, wait for the running one, close the store."""
        self._stopping.set()
        self.queue.close()
        if self.backend is not None and self.started:
            self.backend.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.store is not None:
            with self._number_lock:
                try:
                    self.store.release_numbers(self._number, self._number_limit)
                except Exception:  # already closed (a second stop()): nothing to give back
                    pass
            self.store.close()
        self.started = False

    # -- queueing -------------------------------------------------------------------------------
    def allocate_number(self, front: bool = False) -> int:
        """ComfyUI's priority counter: every POST without `number` advances it, valid or not.

        Raises QueueStoreUnavailableError (503) when the shared store cannot reserve numbers.
        """
        with self._number_lock:
            if self.store is not None and self._number >= self._number_limit:
                # Shared with the other runtimes of this folder: a block at a time (store.py).
                # Counting on in memory here would repeat numbers the other runtimes hand out.
                try:
                    first = self.store.reserve_numbers(NUMBER_BLOCK, at_least=self._number)
                except sqlite3.Error as exc:
                    log.warning("could not reserve priority numbers in %s: %s", self.store.path, exc)
                    raise QueueStoreUnavailableError(
                        f"the queue store {self.store.path} is busy or failing ({exc}); nothing was "
                        "queued, try again") from exc
                self._number, self._number_limit = first, first + NUMBER_BLOCK
            number = self._number
            self._number += 1
        return -number if front else number

    def submit(self, prompt: dict[str, Any], *, prompt_id: str | None = None, client_id: str | None = None,
               extra_data: dict[str, Any] | None = None, number: int | float | None = None, front: bool = False,
               partial_execution_targets: list[str] | None = None, has_client_id: bool | None = None) -> Submission:
        """Validate and queue a prompt. Raises PromptValidationError (nothing queued, counter advanced)."""
        if number is None:
            number = self.allocate_number(front)
        prompt_id = new_prompt_id() if prompt_id is None else str(prompt_id)
        result = validate_prompt(prompt, self.registry, partial_execution_targets, prompt_id=prompt_id)
        extra = dict(extra_data or {})
        if client_id is not None or has_client_id:
            extra["client_id"] = client_id
        sensitive = {k: extra.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra}
        extra["create_time"] = now_ms()
        item = QueueItem(number, prompt_id, prompt, extra, list(result.outputs), sensitive)
        with self._futures_lock:
            self._futures[prompt_id] = concurrent.futures.Future()
        self.queue.put(item)
        return Submission(prompt_id, number, result.node_errors)

    def run(self, prompt: dict[str, Any], timeout: float | None = None, **kwargs: Any) -> HistoryEntry:
        """Submit a prompt and wait for its history entry (convenience for notebooks and tests)."""
        submission = self.submit(prompt, **kwargs)
        return self.future(submission.prompt_id).result(timeout)

    def future(self, prompt_id: str) -> concurrent.futures.Future[HistoryEntry]:
        """A future resolving to the prompt's history entry; raises NotFoundError for unknown ids."""
        with self._futures_lock:
            fut = self._futures.get(prompt_id)
        if fut is not None:
            return fut
        entry = self.history.entry(prompt_id)
        if entry is None:
            raise NotFoundError(f"prompt {prompt_id} is neither queued nor in history")
        done: concurrent.futures.Future[HistoryEntry] = concurrent.futures.Future()
        done.set_result(entry)
        return done

    def queue_listing(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """(running, pending) for `/queue` and `/api/jobs`: ours, then those of the other runtimes on
        this folder (read from the store only when it says they changed something)."""
        running, pending = self.queue.running(), self.queue.pending()
        store = self.store
        if store is None:
            return running, pending
        version = store.foreign_version()
        seen, foreign_running, foreign_pending = self._foreign
        if version != seen:
            self.queue.drop_deleted_elsewhere()  # another runtime may have deleted some of ours
            running, pending = self.queue.running(), self.queue.pending()
            try:
                foreign_running, foreign_pending = store.foreign_queue()
            except Exception:
                log.exception("could not read the queues of other runtimes")
                foreign_running, foreign_pending = [], []
            self._foreign = (version, foreign_running, foreign_pending)
        if not foreign_running and not foreign_pending:
            return running, pending
        return running + foreign_running, pending + foreign_pending

    def delete_pending(self, ids: Iterable[str]) -> int:
        """Remove pending prompts (their futures are cancelled). With a backend running several
        prompts at once, deleting a running prompt interrupts it (nothing else could cancel it)."""
        ids = list(ids)
        if self.backend is not None:
            running = set(self.backend.running_prompt_ids)
            for prompt_id in ids:
                if prompt_id in running:
                    self.backend.interrupt(prompt_id)
        removed = self.queue.delete(ids)
        gone = [i for i in ids if not self._is_queued(i)]
        self._cancel_futures(gone)
        if self.store is not None and gone:
            # Queued by another runtime on this folder: its owner drops them (store.delete_elsewhere).
            removed += len(self._delete_elsewhere(gone))
        return removed

    def clear_pending(self) -> None:
        """Drop every pending prompt: ours, and those other runtimes on this folder queued."""
        ids = [item.prompt_id for item in self.queue.pending()]
        self.queue.clear()
        self._cancel_futures(ids)
        if self.store is not None:
            self._delete_elsewhere(None)

    def _delete_elsewhere(self, ids: list[str] | None) -> list[str]:
        assert self.store is not None
        try:
            deleted: list[str] = self.store.delete_elsewhere(ids)
        except sqlite3.Error:
            log.exception("could not delete prompts queued by other runtimes")
            return []
        # Our own commit does not count as a change by others: list their queues afresh.
        self._foreign = (-1, [], [])
        return deleted

    def _is_queued(self, prompt_id: str) -> bool:
        return any(i.prompt_id == prompt_id for i in (*self.queue.pending(), *self.queue.running()))

    def _cancel_futures(self, ids: Iterable[str]) -> None:
        with self._futures_lock:
            for prompt_id in ids:
                fut = self._futures.pop(prompt_id, None)
                if fut is not None:
                    fut.cancel()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the running prompt (only if it is `prompt_id`, when given)."""
        if self.backend is not None:
            return self.backend.interrupt(prompt_id)
        return self.executor.interrupt(prompt_id)

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        """Ask the executor to unload models / drop caches after the current prompt (now if idle)."""
        if self.backend is not None:
            self.backend.free(unload_models, free_memory)
            return
        self._free_flags["unload_models"] |= unload_models or free_memory
        self._free_flags["free_memory"] |= free_memory

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return self.registry.object_info(class_type)

    @property
    def running_prompt_id(self) -> str | None:
        if self.backend is not None:
            running = self.backend.running_prompt_ids
            return running[0] if running else None
        return self.executor.running_prompt_id

    def devices(self) -> list[dict[str, Any]]:
        """The /system_stats `devices`: this process's device, or one entry per backend worker."""
        if self.backend is not None:
            return self.backend.devices()
        return [device.device_stats()]

    # -- the executor thread ----------------------------------------------------------------------
    def _queue_changed(self) -> None:
        self.events.publish(Status(queue_remaining=self.queue.remaining()))

    def _work(self) -> None:
        self.executor.run(self._serve())

    async def _serve(self) -> None:
        """The executor thread's one coroutine: prompts back to back on one running loop.

        A prompt of synchronous nodes never suspends, so while prompts are waiting no loop round
        trip is paid (starting the loop for each prompt cost about as much as running a small one).
        When the queue is empty the thread blocks on the queue itself, as fast to wake as it gets;
        the loop gets a turn first, and every LOOP_TURN_INTERVAL while busy, for the callbacks
        prompts left on it (cancelled tasks of async nodes).
        """
        loop = asyncio.get_running_loop()
        last_turn = loop.time()
        while not self._stopping.is_set():
            item = self.queue.get(timeout=0)
            if item is None or loop.time() - last_turn > LOOP_TURN_INTERVAL:
                await asyncio.sleep(0)
                last_turn = loop.time()
            if item is None:
                item = self.queue.get(timeout=0.5)  # 0.5 s: apply POST /free while idle
            self._apply_free()  # after the previous prompt, before the next (or while idle)
            if item is not None:
                await self._run_item(item)

    def _apply_free(self) -> None:
        self.apply_free(self._free_flags["unload_models"], self._free_flags["free_memory"])
        self._free_flags["free_memory"] = self._free_flags["unload_models"] = False

    def apply_free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop the executor's caches (free_memory) and empty the device cache (unload_models) now.
        Only between prompts: the executor thread, or a worker that runs prompts itself."""
        if free_memory:
            self.executor.reset()
        if unload_models:
            device.unload_models()  # every model manager the host registered, then the device cache

    async def _run_item(self, item: QueueItem) -> None:
        if self.store is not None:
            # The running mark must be on disk before node code runs: if that code kills the
            # process, a restart reports the prompt as failed instead of running it again. Committed
            # here rather than by waiting for the writer thread, which costs two GIL handovers.
            self.store.write_through()
        extra = {**item.extra_data, **item.sensitive}
        try:
            result = await self.executor.execute_async(item.prompt, item.prompt_id, extra, item.outputs_to_execute)
        except Exception:  # a runtime bug, not a node error: record it, keep the thread alive
            log.exception("executor failed on prompt %s", item.prompt_id)
            error = execution_error(item.prompt_id, NodeFailure(
                "", "internal executor error (see the server log)\n", "RuntimeError"))
            result = PromptResult({}, {}, False, [[error.name, error.data()]])
        self.finish_item(item, result)

    def finish_item(self, item: QueueItem, result: PromptResult) -> None:
        """Record a prompt's end: history entry, queue, `executing null`, its future. Any thread
        (the executor thread, or a backend's)."""
        entry = HistoryEntry(prompt=item, outputs=result.outputs, meta=result.meta, status_str=result.status_str,
                             completed=result.success, messages=result.messages)
        self.history.add(entry)
        if result.handed_back and self.hand_back_sink is not None:
            self.hand_back_sink(item.prompt_id, result.handed_back)
        self.queue.task_done(item.prompt_id)
        self.events.publish(Executing(node=None, prompt_id=item.prompt_id, client_id=item.extra_data.get("client_id")))
        with self._futures_lock:
            fut = self._futures.pop(item.prompt_id, None)
        if fut is not None and not fut.cancelled():
            fut.set_result(entry)
