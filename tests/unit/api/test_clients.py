"""ClientConnection outbox: order kept, previews coalesced behind a slow socket, JSON never dropped;
ClientTable reconnect rule."""

from __future__ import annotations

import asyncio

from PIL import Image

from toucan_nb.api.clients import ClientConnection, ClientTable, PreviewRender
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.preview import EncodedPreview


class SlowSink:
    """A socket whose writes complete only when the test says so."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []
        self.writes = 0
        self.pending: list[asyncio.Future[None]] = []

    def write_frames(self, frames: list[str | bytes]) -> asyncio.Future[None]:
        self.frames.extend(frames)
        self.writes += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        return fut

    def release(self) -> None:
        for fut in self.pending:
            if not fut.done():
                fut.set_result(None)
        self.pending.clear()


def _render(color: int) -> PreviewRender:
    image = EncodedPreview("PNG", Image.new("RGB", (2, 2), (color, 0, 0)), None)
    return PreviewRender(ev.PreviewImage(image=image, prompt_id="p", node_id="1", display_node_id="1",
                                         real_node_id="1"), None)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


def test_slow_client_gets_latest_preview_and_every_json_frame():
    async def scenario() -> tuple[list[str | bytes], int]:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        conn.send('{"n": 0}')
        await _settle()                      # frame 0 written; its write is still in flight
        renders = [_render(i) for i in range(5)]
        for i, render in enumerate(renders):
            conn.send_preview(render)
            conn.send(f'{{"n": {i + 1}}}')
        conn.send('{"type": "execution_success"}')
        sink.release()
        await _settle()
        sink.release()
        await _settle()
        latest = await renders[-1].frame(False)
        return [f if isinstance(f, str) else (f == latest) for f in sink.frames], conn.dropped_previews

    frames, dropped = asyncio.run(scenario())
    # Previews 0-2 were replaced while the socket was busy; 3 and 4 (the newest two) went out.
    assert [f for f in frames if f is not True and f is not False] == [
        '{"n": 0}', '{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}', '{"type": "execution_success"}']
    assert frames[-3:] == [True, '{"n": 5}', '{"type": "execution_success"}']
    assert frames.count(False) == 1 and dropped == 3


def test_fast_client_gets_every_preview():
    async def scenario() -> int:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        for i in range(3):
            conn.send_preview(_render(i))
            await _settle()
            sink.release()
        await _settle()
        return len(sink.frames)

    assert asyncio.run(scenario()) == 3


def test_closed_socket_stops_sending():
    from tornado.websocket import WebSocketClosedError

    class ClosedSink:
        def write_frames(self, frames):
            raise WebSocketClosedError()

    async def scenario() -> bool:
        conn = ClientConnection("c", ClosedSink())
        conn.send("x")
        await _settle()
        conn.send("y")  # ignored
        return conn.closed

    assert asyncio.run(scenario())


def test_table_unregisters_only_the_current_connection():
    table = ClientTable()
    old, new = ClientConnection("s", SlowSink()), ClientConnection("s", SlowSink())
    table.register(old)
    table.register(new)
    assert table.unregister(old) is False and table.get("s") is new
    assert table.unregister(new) is True and table.get("s") is None and not table


class _Snapshot:
    """A stand-in for wire.ProgressStateFrames: the frame is the number of the newest state."""

    def __init__(self, prompt_id: str, nodes: int = 3) -> None:
        self.prompt_id = prompt_id
        self.state = 0
        self.nodes = nodes

    def frame(self) -> str:
        return f'{{"progress": {self.state}}}'

    def __len__(self) -> int:
        return self.nodes


def test_progress_snapshots_coalesce_only_behind_a_backlog():
    from toucan_nb.api.clients import COALESCE_AFTER

    async def scenario() -> list[str | bytes]:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        conn.send('{"n": 0}')
        await _settle()  # frame 0 in flight: everything below waits in the outbox
        progress = _Snapshot("p")
        for i in range(1, 200):
            progress.state = i
            conn.send_progress(progress)
            conn.send(f'{{"executing": {i}}}')
        conn.send('{"type": "execution_success"}')
        for _ in range(4):
            sink.release()
            await _settle()
        return sink.frames

    frames = asyncio.run(scenario())
    executing = [f for f in frames if "executing" in f]
    snapshots = [f for f in frames if "progress" in f]
    assert len(executing) == 199 and frames[-1] == '{"type": "execution_success"}'  # nothing else dropped
    # Up to the backlog limit every snapshot went out exactly as it was; after it, only the newest.
    exact = COALESCE_AFTER // 2
    assert snapshots[:exact] == [f'{{"progress": {i}}}' for i in range(1, exact + 1)]
    assert len(snapshots) <= exact + 2 and snapshots[-1] == '{"progress": 199}'


def test_a_burst_of_frames_is_one_socket_write():
    async def scenario() -> SlowSink:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        for i in range(5):
            conn.send(f'{{"n": {i}}}')
        conn.send(b"\x00\x00\x00\x03bin")
        await _settle()
        return sink

    sink = asyncio.run(scenario())
    assert sink.writes == 1
    assert sink.frames == [*(f'{{"n": {i}}}' for i in range(5)), b"\x00\x00\x00\x03bin"]


def test_snapshots_of_large_prompts_coalesce_without_a_backlog():
    from toucan_nb.api.clients import EXACT_SNAPSHOT_NODES

    async def scenario(nodes: int) -> list[str | bytes]:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        progress = _Snapshot("p", nodes)
        for i in range(1, 6):  # one burst: every event of it reaches the outbox before the drain runs
            progress.state = i
            conn.send_progress(progress)
            conn.send(f'{{"executing": {i}}}')
        await _settle()
        return sink.frames

    small = asyncio.run(scenario(EXACT_SNAPSHOT_NODES))
    assert small == [f for i in range(1, 6) for f in (f'{{"progress": {i}}}', f'{{"executing": {i}}}')]
    large = asyncio.run(scenario(EXACT_SNAPSHOT_NODES + 1))
    assert large == [*(f'{{"executing": {i}}}' for i in range(1, 5)), '{"progress": 5}', '{"executing": 5}']


def test_back_to_back_snapshots_of_a_large_prompt_go_out_once_in_place():
    from toucan_nb.api.clients import EXACT_SNAPSHOT_NODES

    async def scenario() -> list[str | bytes]:
        sink = SlowSink()
        conn = ClientConnection("c", sink)
        progress = _Snapshot("p", EXACT_SNAPSHOT_NODES + 1)
        conn.send('{"executing": 1}')
        for state in (1, 2, 3):  # finish of one node, start of the next: nothing in between
            progress.state = state
            conn.send_progress(progress)
        conn.send('{"executing": 2}')
        await _settle()
        return sink.frames

    assert asyncio.run(scenario()) == ['{"executing": 1}', '{"progress": 3}', '{"executing": 2}']
