"""A custom node pack for the scale-out tests, written as an ordinary ComfyUI pack.

* Sleep: sleeps `seconds`, reporting progress every 10 ms through ComfyUI's ProgressBar (so an
  interrupt lands within one report), and returns which worker process ran it.
* Gate: holds until the file `path` exists (at most a minute), then returns which worker ran it:
  prompts that end together, whenever the test says.
* LoadFakeModel: "loads" a model file by name: the first time a process sees a name it appends a
  line `<pid> <name>` to `log` (default `<output dir>/model_loads.txt`; the tests count loads).
* CrashOnce: kills its process the first time a marker file does not exist yet (it creates it
  first), so a prompt's first attempt dies and its second runs.
* Chatter: reports `count` progress updates as fast as it can (event throughput, bench/).
* Report: an output node showing its text in the UI.
"""

import os
import time

import comfy.utils
import folder_paths

_models: dict[str, str] = {}


class Sleep:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 600.0}),
                             "tag": ("STRING", {"default": ""})}}

    def run(self, seconds, tag):
        steps = max(1, int(seconds / 0.01))
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            time.sleep(seconds / steps)
            bar.update(1)
        return (f"{tag}@{os.getpid()}",)


class Gate:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"path": ("STRING", {"default": ""}), "tag": ("STRING", {"default": ""})}}

    def run(self, path, tag):
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.005)
        return (f"{tag}@{os.getpid()}",)


class LoadFakeModel:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_name": ("STRING", {"default": "a.safetensors"})},
                "optional": {"log": ("STRING", {"default": ""})}}

    def load(self, model_name, log=""):
        if model_name not in _models:
            log = log or os.path.join(folder_paths.get_output_directory(), "model_loads.txt")
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {model_name}\n")
            _models[model_name] = f"model {model_name}"
        return (f"{_models[model_name]}@{os.getpid()}",)


class CrashOnce:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"marker": ("STRING", {"default": ""})}}

    @classmethod
    def IS_CHANGED(cls, marker):
        return float("nan")

    def run(self, marker):
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(3)
        return (f"survived@{os.getpid()}",)


class Chatter:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 10000, "min": 1, "max": 10_000_000})}}

    def run(self, count):
        bar = comfy.utils.ProgressBar(count)
        for _ in range(count):
            bar.update(1)
        return (f"chatter@{os.getpid()}",)


class Report:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"forceInput": True})}}

    def run(self, text):
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"ScaleoutSleep": Sleep, "ScaleoutGate": Gate, "ScaleoutLoadFakeModel": LoadFakeModel,
                       "ScaleoutCrashOnce": CrashOnce, "ScaleoutChatter": Chatter, "ScaleoutReport": Report}
