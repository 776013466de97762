"""The driving process dies: its workers stop the prompt once the lease runs out, and a new driver
re-attaches to the same named workers and finds the models still loaded (docs/scale-out.md §5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scaleout.conftest import ENV

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def driver(address: str, base: str, prefix: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.scaleout.driver_script", address, base, prefix, mode],
                            cwd=REPO, env={**ENV, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)


def test_workers_outlive_their_driver_and_a_new_driver_reattaches(ray_cluster: str, tmp_path: Path) -> None:
    import ray

    prefix = f"death-{os.getpid()}"
    first = driver(ray_cluster, str(tmp_path), prefix, "run")
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        assert line.strip() == "RUNNING", line
    finally:
        first.kill()
        first.wait(30)
    if not ray.is_initialized():
        ray.init(address=ray_cluster, namespace="toucan_nb", log_to_driver=False)
    workers = [ray.get_actor(f"{prefix}-{i}", namespace="toucan_nb") for i in range(2)]
    # Nobody renews the 1 s lease any more: the orphaned prompt is interrupted, the workers live.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        infos = ray.get([w.info.remote() for w in workers])
        if all(info["running"] is None for info in infos):
            break
        time.sleep(0.2)
    assert all(info["running"] is None for info in infos), infos
    second = driver(ray_cluster, str(tmp_path), prefix, "attach")
    out, _ = second.communicate(timeout=240)
    assert second.returncode == 0
    held = json.loads(out.strip().splitlines()[-1])
    assert ["reattach.safetensors"] in [w["models"] for w in held]
    loads = (tmp_path / "output" / "model_loads.txt").read_text().split("\n")
    assert len([line for line in loads if line.endswith("reattach.safetensors")]) == 1
