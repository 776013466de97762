"""The route set and /ws on top of Ray workers: ComfyUI's recorded WebSocket transcripts, the queue
and history routes, run unchanged against `toucan-nb serve --ray ADDRESS` (docs/scale-out.md §2).

The test functions are the protocol suite's own (tests/protocol), imported here; only the `server`
fixture differs: a serve process whose prompts run on a Ray worker. One worker: ComfyUI runs one
prompt at a time with one cache, and the recorded transcripts rely on that (a prompt run twice is
cached the second time); with several workers each has its own cache (tests/scaleout/test_ray_backend.py
checks that a prompt's events on any worker are the local executor's).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.protocol.support import ServeProcess
from tests.protocol.test_queue_and_jobs import (  # noqa: F401  (collected here, against this server)
    test_history_offsets,
    test_running_and_pending_snapshot,
    test_targeted_interrupt_of_an_idle_prompt_is_a_no_op,
)
from tests.protocol.test_ws_transcripts import (  # noqa: F401
    runs,
    test_history_of_the_scenarios,
    test_interrupt_scenarios,
    test_runtime_error_details,
    test_scenario_frames,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    base = str(tmp_path_factory.mktemp("serve_on_ray"))
    # RAY_AUTH_MODE / RAY_USAGE_STATS_ENABLED reach the server from this process (ray_cluster).
    proc = ServeProcess(base, "--ray", ray_cluster, "--ray-workers", "1", ready_timeout=240)
    yield proc
    proc.stop()
