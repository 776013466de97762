"""What the WebSocket relay reads from a kernel's events: the prompts that started and did not end.

When a kernel dies mid-prompt its runtime cannot say so; the relay does, from what it saw pass
(`PromptsInFlight.lost_frames`). The frames it sends then have the kernel's own shapes: the
`execution_error` payload of `toucan_nb.runtime.events.execution_error` and the route set's JSON
frame encoding (`toucan_nb.api.wire.json_frame`). They are written out here rather than imported,
because the extension talks to kernels over the wire only and does not load the runtime; the unit
tests compare them with the route set's, key for key and byte for byte.

Threads: the Jupyter server's IO loop (one instance per relayed socket).
"""

from __future__ import annotations

import json
import time


class PromptsInFlight:
    """The prompts a relayed socket saw start and not end, from the kernel's JSON frames.

    When the kernel dies mid-prompt its runtime cannot say so; the relay does, with an
    `execution_error` (then `executing` null) for each such prompt, in the kernel's own frame shape.
    """

    _WATCHED = ('{"type": "execution_start"', '{"type": "executing"', '{"type": "execution_success"',
                '{"type": "execution_error"', '{"type": "execution_interrupted"')

    def __init__(self) -> None:
        self._running: dict[str, str] = {}  # prompt_id -> last node seen executing ("" before any)

    def observe(self, frame: str) -> None:
        if not frame.startswith(self._WATCHED):
            return
        try:
            message = json.loads(frame)
            kind, data = message["type"], message["data"]
            prompt_id = data["prompt_id"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return  # not an event this class tracks (a custom node may send any data under these types)
        if not isinstance(prompt_id, str):
            return
        if kind == "execution_start":
            self._running[prompt_id] = ""
        elif kind == "executing" and prompt_id in self._running:
            if data.get("node") is None:
                self._running.pop(prompt_id, None)
            else:
                self._running[prompt_id] = str(data.get("display_node") or data["node"])
        elif kind != "executing" and not (kind == "execution_error" and "timestamp" not in data):
            self._running.pop(prompt_id, None)  # ended (an ExecutionBlocked notice has no timestamp)

    def lost_frames(self) -> list[str]:
        frames = []
        for prompt_id, node_id in self._running.items():
            error = {"prompt_id": prompt_id, "node_id": node_id, "node_type": "", "executed": [],
                     "exception_message": "The kernel running this prompt stopped (it died or was "
                                          "restarted) before the prompt finished.\n",
                     "exception_type": "KernelStopped", "traceback": [], "current_inputs": {},
                     "current_outputs": [], "timestamp": int(time.time() * 1000)}
            frames.append(json.dumps({"type": "execution_error", "data": error}))
            frames.append(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}))
        self._running.clear()
        return frames
