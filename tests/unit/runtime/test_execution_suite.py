"""ComfyUI's execution test suite (docs/execution.md §6.1), in process, over the test pack in tests/packs.

Each test builds graphs with GraphBuilder the way ComfyUI's suite does and reads the outcome the
way its client does: a node "ran" if an `executing` event named it, it was "cached" if
`execution_cached` listed it, and any `execution_error` fails the run. Runs over the cache
configurations ComfyUI's suite uses: default, --cache-lru 0 (= classic), --cache-lru 100, --cache-none.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toucan_nb.host.assembly import start_runtime
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.errors import PromptValidationError
from toucan_nb.runtime.graph_utils import GraphBuilder
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

PACKS = str(Path(__file__).resolve().parents[2] / "packs")
CONFIGS = {"default": ("classic", 0), "lru0": ("lru", 0), "lru100": ("lru", 100), "none": ("none", 0)}


class RunFailed(Exception):
    def __init__(self, error: ev.ExecutionError) -> None:
        super().__init__(error.exception_message)
        self.error = error


@dataclass
class RunResult:
    prompt_id: str
    events: list[ev.Event] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def did_run(self, node) -> bool:
        node_id = node if isinstance(node, str) else node.id
        return any(isinstance(e, ev.Executing) and e.node == node_id for e in self.events)

    def was_cached(self, node) -> bool:
        node_id = node if isinstance(node, str) else node.id
        return any(isinstance(e, ev.ExecutionCached) and node_id in e.nodes for e in self.events)

    def was_executed(self, node) -> bool:
        return self.did_run(node) or self.was_cached(node)


class Client:
    """Runs a prompt and collects its events, like ComfyUI's suite client (client_id set)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def run(self, graph: GraphBuilder, partial_execution_targets: list[str] | None = None) -> RunResult:
        prompt_id = str(uuid.uuid4())
        result = RunResult(prompt_id)
        done = threading.Event()

        def on_event(e: ev.Event) -> None:
            if getattr(e, "prompt_id", None) != prompt_id:
                return
            result.events.append(e)
            if isinstance(e, ev.Executing) and e.node is None:
                done.set()

        unsubscribe = self.runtime.events.subscribe(on_event)
        try:
            self.runtime.submit(graph.finalize(), prompt_id=prompt_id, client_id="suite",
                                partial_execution_targets=partial_execution_targets)
            assert done.wait(60), "prompt did not finish"
        finally:
            unsubscribe()
        errors = [e for e in result.events if isinstance(e, ev.ExecutionError) and not e.is_blocker_notice]
        if errors:
            raise RunFailed(errors[0])
        result.outputs = self.runtime.history.get_one(prompt_id)["outputs"]
        return result

    def images(self, result: RunResult, node) -> list[np.ndarray]:
        items = result.outputs[node.id]["images"]
        folders = self.runtime.folders
        return [np.array(Image.open(Path(folders.directory_by_type(i["type"])) / i["subfolder"] / i["filename"]))
                for i in items]


@pytest.fixture(scope="module", params=list(CONFIGS))
def runtime(request, tmp_path_factory):
    mode, size = CONFIGS[request.param]
    rt = start_runtime(Runtime(RuntimeConfig(base_dir=str(tmp_path_factory.mktemp("suite")), cache_mode=mode,
                                             cache_size=size, custom_node_dirs=[PACKS], persist=False)))
    rt.cache_name = request.param
    yield rt
    rt.stop()


@pytest.fixture
def client(runtime) -> Client:
    return Client(runtime)


@pytest.fixture
def g(request) -> GraphBuilder:
    return GraphBuilder(prefix=request.node.name)


def caching(runtime) -> bool:
    return runtime.cache_name != "none"


def test_pack_loaded(runtime):
    assert "TestLazyMixImages" in runtime.registry
    assert [f.name for f in runtime.load_report.failed] == ["broken_pack"]


# -- lazy evaluation ---------------------------------------------------------------------------------
def test_lazy_input(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    black = g.node("StubImage", content="BLACK", height=64, width=64, batch_size=1)
    mask = g.node("StubMask", value=0.0, height=64, width=64, batch_size=1)
    mix = g.node("TestLazyMixImages", image1=white.out(0), image2=black.out(0), mask=mask.out(0))
    save = g.node("SaveImage", images=mix.out(0), filename_prefix="suite")
    result = client.run(g)
    assert result.did_run(mix) and result.did_run(white) and not result.did_run(black)
    assert client.images(result, save)[0].min() == 255


def test_mixed_lazy_results(client, g):
    values = g.node("TestMakeListNode", value1=0.0, value2=0.5, value3=1.0)
    mask = g.node("StubMask", value=values.out(0), height=64, width=64, batch_size=1)
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    black = g.node("StubImage", content="BLACK", height=64, width=64, batch_size=1)
    mix = g.node("TestLazyMixImages", image1=black.out(0), image2=white.out(0), mask=mask.out(0))
    rebatch = g.node("RebatchImages", images=mix.out(0), batch_size=3)
    save = g.node("SaveImage", images=rebatch.out(0), filename_prefix="suite")
    images = client.images(client.run(g), save)
    assert [int(i[0, 0, 0]) for i in images] == [0, 127, 255]


# -- caching -------------------------------------------------------------------------------------------
def _mix_graph(g: GraphBuilder, mask_value: float = 0.5):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    black = g.node("StubImage", content="BLACK", height=64, width=64, batch_size=1)
    mask = g.node("StubMask", value=mask_value, height=64, width=64, batch_size=1)
    mix = g.node("TestLazyMixImages", image1=white.out(0), image2=black.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix.out(0), filename_prefix="suite")
    return white, black, mask, mix


def test_full_cache(runtime, client, g):
    _mix_graph(g)
    client.run(g)
    again = client.run(g)
    for node in g.nodes.values():
        assert again.did_run(node) == (not caching(runtime)), node.class_type


def test_partial_cache(runtime, client, g):
    white, black, mask, mix = _mix_graph(g)
    client.run(g)
    mask.set_input("value", 0.25)
    again = client.run(g)
    assert again.did_run(mask) and again.did_run(mix)
    assert again.did_run(white) == (not caching(runtime)) and again.did_run(black) == (not caching(runtime))


@pytest.mark.parametrize("should_change", [False, True])
def test_custom_is_changed(runtime, client, g, should_change):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    changed = g.node("TestCustomIsChanged", image=white.out(0), should_change=should_change)
    g.node("SaveImage", images=changed.out(0), filename_prefix="suite")
    client.run(g)
    again = client.run(g)
    assert again.did_run(changed) == (should_change or not caching(runtime))


def test_is_changed_with_outputs(runtime, client, g):
    value = g.node("StubConstantImage", value=0.5, height=64, width=64, batch_size=1)
    changed = g.node("TestIsChangedWithConstants", image=value.out(0), value=0.5)
    save = g.node("SaveImage", images=changed.out(0), filename_prefix="suite")
    first = client.run(g)
    assert client.images(first, save)[0].max() == 63
    again = client.run(g)
    assert again.did_run(changed) == (not caching(runtime))


def test_output_reuse(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    a = g.node("SaveImage", images=white.out(0), filename_prefix="suite")
    b = g.node("SaveImage", images=white.out(0), filename_prefix="suite")
    result = client.run(g)
    assert len(result.outputs[a.id]["images"]) == 1 and len(result.outputs[b.id]["images"]) == 1


# -- validation and errors -------------------------------------------------------------------------
def test_error_reports_prompt_id(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    err = g.node("TestSyncError", value=white.out(0))
    g.node("SaveImage", images=err.out(0), filename_prefix="suite")
    with pytest.raises(RunFailed) as info:
        client.run(g)
    assert info.value.error.node_id == err.id and info.value.error.prompt_id


def test_validation_error_literal(client, runtime, g):
    validation = g.node("TestCustomValidation1", input1=5, input2=1.0)
    g.node("SaveImage", images=validation.out(0), filename_prefix="suite")
    with pytest.raises(PromptValidationError):
        client.run(g)


def test_missing_node_error(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    ok = g.node("SaveImage", images=white.out(0), filename_prefix="suite")
    g.node("SaveImage", images=["missing-node", 0])
    result = client.run(g)
    assert result.was_executed(ok) and ok.id in result.outputs  # the valid output still runs


def test_partial_execution_empty_list(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    g.node("SaveImage", images=white.out(0), filename_prefix="suite")
    with pytest.raises(PromptValidationError) as info:
        client.run(g, partial_execution_targets=[])
    assert info.value.error["type"] == "prompt_no_outputs"


def test_dynamic_cycle_error(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    cycle = g.node("TestDynamicDependencyCycle", input1=white.out(0), input2=white.out(0))
    g.node("SaveImage", images=cycle.out(0), filename_prefix="suite")
    with pytest.raises(RunFailed) as info:
        client.run(g)
    assert info.value.error.node_id == cycle.id
    assert info.value.error.exception_type == "graph.DependencyCycleError"


def test_async_error_names_the_node(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    err = g.node("TestAsyncError", value=white.out(0), error_after=0.05)
    g.node("SaveImage", images=err.out(0), filename_prefix="suite")
    with pytest.raises(RunFailed) as info:
        client.run(g)
    assert info.value.error.node_id == err.id


def test_next_prompt_runs_after_async_failure(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    err = g.node("TestAsyncError", value=white.out(0), error_after=0.05)
    g.node("SaveImage", images=err.out(0), filename_prefix="suite")
    with pytest.raises(RunFailed):
        client.run(g)
    ok = GraphBuilder(prefix="after")
    img = ok.node("StubImage", content="BLACK", height=8, width=8, batch_size=1)
    ok.node("SaveImage", images=img.out(0), filename_prefix="suite")
    assert client.run(ok).outputs


# -- expansion and flow control ---------------------------------------------------------------------
def test_undeclared_inputs(client, g):
    white = g.node("StubImage", content="WHITE", height=64, width=64, batch_size=1)
    black = g.node("StubImage", content="BLACK", height=64, width=64, batch_size=1)
    average = g.node("TestVariadicAverage", input1=white.out(0), input2=black.out(0), input3=black.out(0),
                     input4=black.out(0))
    save = g.node("SaveImage", images=average.out(0), filename_prefix="suite")
    assert client.images(client.run(g), save)[0].max() == 255 // 4


@pytest.mark.parametrize("iterations", [1, 2, 3, 4])
def test_for_loop(client, g, iterations):
    white = g.node("StubImage", content="WHITE", height=32, width=32, batch_size=1)
    black = g.node("StubImage", content="BLACK", height=32, width=32, batch_size=1)
    loop_open = g.node("TestForLoopOpen", remaining=iterations, initial_value1=white.out(0))
    average = g.node("TestVariadicAverage", input1=loop_open.out(2), input2=black.out(0))
    loop_close = g.node("TestForLoopClose", flow_control=loop_open.out(0), initial_value1=average.out(0))
    save = g.node("SaveImage", images=loop_close.out(0), filename_prefix="suite")
    assert client.images(client.run(g), save)[0].max() == 255 // 2**iterations


def test_mixed_expansion_returns(client, g):
    values = g.node("TestMakeListNode", value1=0.1, value2=0.2, value3=0.3)
    mixed = g.node("TestMixedExpansionReturns", input1=values.out(0))
    save_a = g.node("SaveImage", images=mixed.out(0), filename_prefix="suite")
    save_b = g.node("SaveImage", images=mixed.out(1), filename_prefix="suite")
    result = client.run(g)
    assert [int(i.max()) for i in client.images(result, save_a)] == [25, 51, 76]
    assert [int(i.min()) for i in client.images(result, save_b)] == [255, 255, 255]


def test_execution_block_list_output(client, g):
    values = g.node("TestMakeListNode", value1=1, value2=2, value3=3)
    white = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    is_two = g.node("TestIntConditions", a=values.out(0), b=2, operation="==")
    blocker = g.node("TestExecutionBlocker", input=white.out(0), block=is_two.out(0), verbose=False)
    save = g.node("SaveImage", images=blocker.out(0), filename_prefix="suite")
    assert len(client.run(g).outputs[save.id]["images"]) == 2


# -- partial execution ------------------------------------------------------------------------------
def test_partial_execution_included_outputs(client, g):
    a = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    b = g.node("StubImage", content="BLACK", height=16, width=16, batch_size=1)
    out_a = g.node("SaveImage", images=a.out(0), filename_prefix="suite")
    out_b = g.node("SaveImage", images=b.out(0), filename_prefix="suite")
    result = client.run(g, partial_execution_targets=[out_a.id])
    assert result.was_executed(out_a) and not result.did_run(out_b) and not result.did_run(b)


def test_partial_execution_dependencies(client, g):
    a = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    output_with_socket = g.node("TestOutputNodeWithSocketOutput", image=a.out(0), value=0.5)
    final = g.node("SaveImage", images=output_with_socket.out(0), filename_prefix="suite")
    result = client.run(g, partial_execution_targets=[final.id])
    assert result.was_executed(output_with_socket) and result.was_executed(final)


# -- async and parallelism --------------------------------------------------------------------------
def test_multiple_async_parallel_execution(client, g):
    white = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    for i, seconds in enumerate((0.3, 0.4, 0.5)):
        sleep = g.node("TestSleep", value=white.out(0), seconds=seconds)
        g.node("PreviewImage", images=sleep.out(0), id=f"preview{i}")
    start = time.monotonic()
    client.run(g)
    assert time.monotonic() - start < 0.8 + 0.3  # three sleeps of 0.3-0.5 s overlap


def test_parallel_sleep_expansion(client, g):
    images = [g.node("StubImage", content=c, height=16, width=16, batch_size=1) for c in ("WHITE", "WHITE", "BLACK")]
    sleep = g.node("TestParallelSleep", image1=images[0].out(0), image2=images[1].out(0),
                   image3=images[2].out(0), sleep1=0.4, sleep2=0.4, sleep3=0.4)
    save = g.node("SaveImage", images=sleep.out(0), filename_prefix="suite")
    start = time.monotonic()
    result = client.run(g)
    assert time.monotonic() - start < 1.0
    assert client.images(result, save)[0].max() == 170


def test_async_caching_behavior(runtime, client, g):
    white = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    sleep = g.node("TestSleep", value=white.out(0), seconds=0.2)
    g.node("SaveImage", images=sleep.out(0), filename_prefix="suite")
    client.run(g)
    again = client.run(g)
    assert again.did_run(sleep) == (not caching(runtime))


def test_sync_and_async_progress(client, g):
    white = g.node("StubImage", content="WHITE", height=16, width=16, batch_size=1)
    sync = g.node("TestSyncProgressUpdate", value=white.out(0), sleep_seconds=0.05)
    async_ = g.node("TestAsyncProgressUpdate", value=white.out(0), sleep_seconds=0.05)
    g.node("PreviewImage", images=sync.out(0))
    g.node("PreviewImage", images=async_.out(0))
    result = client.run(g)
    progressed = {e.entry.node_id for e in result.events if isinstance(e, ev.ProgressState)
                  and e.entry.state == "running" and e.entry.value > 0}
    assert {sync.id, async_.id} <= progressed
