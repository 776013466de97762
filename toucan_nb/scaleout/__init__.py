"""Scale-out: one runtime's queue run on many GPUs through Ray (docs/scale-out.md).

`RayBackend` is an `ExecutionBackend` (runtime/backend.py): the queue, history, store, validation,
routes and WebSocket fan-out stay in this process; each Ray worker actor (`worker.Worker`) holds a
full runtime of its own (node library, custom node packs, caches, loaded models) and runs one prompt
at a time, streaming its events back in batches. Ray is imported only when a backend starts.
"""

from __future__ import annotations

from toucan_nb.scaleout.backend import RayBackend
from toucan_nb.scaleout.settings import RaySettings, RayUnavailableError

__all__ = ["RayBackend", "RaySettings", "RayUnavailableError"]
