"""EventFanout pacing: while a prompt runs, events reach a client in bursts collected by a timer;
a prompt's `executing null` goes out at once; an event after a quiet spell still arrives soon."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from tornado.ioloop import IOLoop

from toucan_nb.api.clients import ClientConnection, ClientTable
from toucan_nb.api.fanout import MAX_FLUSH_INTERVAL, EventFanout
from toucan_nb.runtime import events as ev


class RecordingSink:
    """Records each socket write (a list of frames) and when it happened."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, list[str | bytes]]] = []
        self.changed = asyncio.Event()

    def write_frames(self, frames: list[str | bytes]) -> asyncio.Future[None]:
        self.writes.append((time.monotonic(), list(frames)))
        self.changed.set()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def frames(self) -> list[dict]:
        return [json.loads(f) for _, batch in self.writes for f in batch]

    def when(self, predicate) -> float | None:
        for at, batch in self.writes:
            if any(predicate(json.loads(f)) for f in batch):
                return at
        return None

    async def wait_for(self, predicate, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while (at := self.when(predicate)) is None:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
        return at


def _is_done(frame: dict) -> bool:
    return frame["type"] == "executing" and frame["data"]["node"] is None


def _setup() -> tuple[EventFanout, RecordingSink]:
    clients = ClientTable()
    sink = RecordingSink()
    clients.register(ClientConnection("c", sink))
    return EventFanout(clients, IOLoop.current(), None), sink


def _publish_in_thread(steps) -> threading.Thread:
    """Run `steps` (a callable) on another thread, as the executor publishes."""
    thread = threading.Thread(target=steps)
    thread.start()
    return thread


def test_a_prompt_of_quick_nodes_goes_out_in_a_few_writes_in_order():
    async def scenario() -> tuple[RecordingSink, EventFanout]:
        fanout, sink = _setup()

        def steps() -> None:
            fanout.on_event(ev.ExecutionStart(prompt_id="p", client_id="c"))
            for i in range(200):
                fanout.on_event(ev.Executing(node=str(i), prompt_id="p", client_id="c"))
            fanout.on_event(ev.Executing(node=None, prompt_id="p", client_id="c"))

        thread = _publish_in_thread(steps)
        await sink.wait_for(_is_done)
        thread.join()
        return sink, fanout

    sink, fanout = asyncio.run(scenario())
    frames = sink.frames()
    assert [f["data"]["node"] for f in frames[1:]] == [*map(str, range(200)), None]  # nothing lost or reordered
    assert len(sink.writes) < 20  # 202 events, a handful of writes
    assert fanout._timer is None  # the prompt ended: no timer keeps waking the loop


def test_an_event_after_a_quiet_spell_arrives_without_waiting_for_the_prompt_to_end():
    async def scenario() -> float:
        fanout, sink = _setup()
        go = threading.Event()
        published: list[float] = []

        def steps() -> None:
            fanout.on_event(ev.ExecutionStart(prompt_id="p", client_id="c"))
            go.wait(5)
            published.append(time.monotonic())
            fanout.on_event(ev.Progress(value=1, max=2, prompt_id="p", node="1", client_id="c"))

        thread = _publish_in_thread(steps)
        await sink.wait_for(lambda f: f["type"] == "execution_start")
        await asyncio.sleep(4 * MAX_FLUSH_INTERVAL)  # the timer backs off to its longest interval
        go.set()
        arrived = await sink.wait_for(lambda f: f["type"] == "progress")
        thread.join()
        fanout.on_event(ev.Executing(node=None, prompt_id="p", client_id="c"))
        await sink.wait_for(_is_done)
        return arrived - published[0]

    # MAX_FLUSH_INTERVAL at most, plus scheduling slack on a busy machine.
    assert asyncio.run(scenario()) < MAX_FLUSH_INTERVAL + 0.2
