"""A driver process for tests/scaleout/test_driver_death.py.

`python driver_script.py ADDRESS BASE PREFIX run`: starts a runtime on the cluster's workers named
PREFIX-i with a 1 s lease, loads a fake model, then starts a long prompt and prints RUNNING (the
test then kills this process). `... attach`: starts a runtime on the same workers and prints what
each worker holds as JSON, then stops.
"""

from __future__ import annotations

import json
import sys
import threading

from tests.scaleout.conftest import make_runtime
from toucan_nb.runtime import events


def main() -> None:
    address, base, prefix, mode = sys.argv[1:5]
    rt = make_runtime(base, address, prefix, ray_lease_s=1.0)
    if mode == "attach":
        print(json.dumps([{"name": s.name, "models": sorted(s.models)} for s in rt.backend.slots]), flush=True)
        rt.stop()
        return
    load = {"1": {"class_type": "ScaleoutLoadFakeModel", "inputs": {"model_name": "reattach.safetensors"}},
            "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}}
    assert rt.run(load, timeout=120).status_str == "success"
    started = threading.Event()
    rt.events.subscribe(lambda e: started.set() if isinstance(e, events.Progress) else None)
    rt.submit({"1": {"class_type": "ScaleoutSleep", "inputs": {"seconds": 120.0, "tag": "orphan"}},
               "2": {"class_type": "ScaleoutReport", "inputs": {"text": ["1", 0]}}})
    assert started.wait(120)
    print("RUNNING", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
