"""A custom node pack for the scale-out tests, written as an ordinary ComfyUI pack.

* Sleep: sleeps `seconds`, reporting progress every 10 ms through ComfyUI's ProgressBar (so an
  interrupt lands within one report), and returns which worker process ran it.
* LoadFakeModel: "loads" a model file by name: the first time a process sees a name it appends a
  line `<pid> <name>` to `<output dir>/model_loads.txt` (the tests count loads per model).
* CrashOnce: kills its process the first time a marker file does not exist yet (it creates it
  first), so a prompt's first attempt dies and its second runs.
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


class LoadFakeModel:
    CATEGORY = "testing/scaleout"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_name": ("STRING", {"default": "a.safetensors"})}}

    def load(self, model_name):
        if model_name not in _models:
            with open(os.path.join(folder_paths.get_output_directory(), "model_loads.txt"), "a") as f:
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


NODE_CLASS_MAPPINGS = {"ScaleoutSleep": Sleep, "ScaleoutLoadFakeModel": LoadFakeModel,
                       "ScaleoutCrashOnce": CrashOnce, "ScaleoutReport": Report}
