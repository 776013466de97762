"""A small fake ComfyUI checkout, written into a folder by the tests (no ComfyUI code is committed).

It has the import-time behaviours that the host of a checkout must handle (docs/comfyui-checkout.md):
`comfy.cli_args` parses `sys.argv` once at import when `comfy.options.enable_args_parsing()` ran;
`comfy.model_management` reads the args at import; `nodes.py` puts `comfy/` first on `sys.path`, so
the root `utils` package must be imported before it; `folder_paths` takes its base from the args;
`nodes.init_extra_nodes` is async and loads `comfy_extras` (a V3 node) and `custom_nodes` (a V1 pack
with a route and `send_sync`, and a pack that fails to import); a root `server.py` that must never be
imported. Its V3 API (`comfy_api.latest`) is toucan_nb's own (tests cannot ship ComfyUI's).
"""

from __future__ import annotations

import os
import textwrap

FILES: dict[str, str] = {}

FILES["comfy/__init__.py"] = ""
FILES["comfy/options.py"] = """
args_parsing = False

def enable_args_parsing(enable=True):
    global args_parsing
    args_parsing = enable
"""
FILES["comfy/cli_args.py"] = """
import argparse
import comfy.options

parser = argparse.ArgumentParser()
parser.add_argument("--cpu", action="store_true")
parser.add_argument("--lowvram", action="store_true")
parser.add_argument("--listen", default="127.0.0.1")
parser.add_argument("--preview-method", default="none")
parser.add_argument("--preview-size", type=int, default=512)
parser.add_argument("--base-directory", default=None)
parser.add_argument("--output-directory", default=None)
parser.add_argument("--input-directory", default=None)
parser.add_argument("--user-directory", default=None)
parser.add_argument("--temp-directory", default=None)
parser.add_argument("--extra-model-paths-config", nargs="+", action="append", default=None)
parser.add_argument("--disable-all-custom-nodes", action="store_true")
parser.add_argument("--whitelist-custom-nodes", nargs="*", default=[])
parser.add_argument("--disable-api-nodes", action="store_true")
parser.add_argument("--disable-metadata", action="store_true")

args = parser.parse_args() if comfy.options.args_parsing else parser.parse_args([])
"""
FILES["comfy/model_management.py"] = """
import threading
from comfy.cli_args import args

# What the flags were when this module was imported (ComfyUI picks the device and vram mode here).
ARGS_AT_IMPORT = {"cpu": args.cpu, "lowvram": args.lowvram}

class InterruptProcessingException(Exception):
    pass

interrupt_processing_mutex = threading.RLock()
interrupt_processing = False

def interrupt_current_processing(value=True):
    global interrupt_processing
    with interrupt_processing_mutex:
        interrupt_processing = value

def processing_interrupted():
    with interrupt_processing_mutex:
        return interrupt_processing

def throw_exception_if_processing_interrupted():
    global interrupt_processing
    with interrupt_processing_mutex:
        if interrupt_processing:
            interrupt_processing = False
            raise InterruptProcessingException()

def unload_all_models():
    # Written where the tests can see it from outside the server process.
    import os
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "unloads.log"), "a") as f:
        f.write("unload_all_models" + chr(10))

def soft_empty_cache(force=False):
    pass
"""
FILES["comfy/utils.py"] = """
PROGRESS_BAR_HOOK = None

def set_progress_bar_global_hook(function):
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function

class ProgressBar:
    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0
        self.hook = PROGRESS_BAR_HOOK
        self.node_id = node_id

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        if self.hook is not None:
            self.hook(self.current, self.total, preview, node_id=self.node_id)
"""
FILES["comfy_execution/__init__.py"] = ""
FILES["comfy_execution/utils.py"] = """
import contextvars
from typing import NamedTuple, Optional

class ExecutionContext(NamedTuple):
    prompt_id: str
    node_id: str
    list_index: Optional[int]

current_executing_context = contextvars.ContextVar("current_executing_context", default=None)

def get_executing_context():
    return current_executing_context.get(None)

class CurrentNodeContext:
    def __init__(self, prompt_id, node_id, list_index=None):
        self.context = ExecutionContext(prompt_id, node_id, list_index)

    def __enter__(self):
        self.token = current_executing_context.set(self.context)
        return self

    def __exit__(self, *exc):
        current_executing_context.reset(self.token)
"""
FILES["comfy_execution/graph_utils.py"] = """
class ExecutionBlocker:
    def __init__(self, message):
        self.message = message
"""
FILES["comfy_execution/progress.py"] = """
class ProgressRegistry:
    def update_progress(self, node_id, value, max_value, image=None):
        raise RuntimeError("ComfyUI's own registry is not attached to the running prompt")

global_progress_registry = ProgressRegistry()

def get_progress_state():
    return global_progress_registry
"""
FILES["utils/__init__.py"] = ""
FILES["utils/extra_config.py"] = """
import os
import yaml
import folder_paths

def load_extra_path_config(yaml_path):
    with open(yaml_path) as stream:
        config = yaml.safe_load(stream)
    for section in config.values():
        base = section.pop("base_path", "")
        for name, paths in section.items():
            for path in str(paths).split("\\n"):
                if path.strip():
                    folder_paths.add_model_folder_path(name, os.path.join(base, path.strip()))
"""
FILES["folder_paths.py"] = """
import os
from comfy.cli_args import args

supported_pt_extensions = {".ckpt", ".pt", ".bin", ".pth", ".safetensors"}
if args.base_directory:
    base_path = os.path.abspath(args.base_directory)
else:
    base_path = os.path.dirname(os.path.realpath(__file__))
models_dir = os.path.join(base_path, "models")
folder_names_and_paths = {
    "checkpoints": ([os.path.join(models_dir, "checkpoints")], supported_pt_extensions),
    "loras": ([os.path.join(models_dir, "loras")], supported_pt_extensions),
    "embeddings": ([os.path.join(models_dir, "embeddings")], supported_pt_extensions),
    "custom_nodes": ([os.path.join(base_path, "custom_nodes")], set()),
}
output_directory = os.path.join(base_path, "output")
temp_directory = os.path.join(base_path, "temp")
input_directory = os.path.join(base_path, "input")
user_directory = os.path.join(base_path, "user")

def set_output_directory(d):
    global output_directory
    output_directory = d

def set_temp_directory(d):
    global temp_directory
    temp_directory = d

def set_input_directory(d):
    global input_directory
    input_directory = d

def set_user_directory(d):
    global user_directory
    user_directory = d

def get_output_directory():
    return output_directory

def get_temp_directory():
    return temp_directory

def get_input_directory():
    return input_directory

def get_user_directory():
    return user_directory

def add_model_folder_path(folder_name, full_folder_path, is_default=False):
    if folder_name == "clip":
        folder_name = "text_encoders"
    if folder_name in folder_names_and_paths:
        paths = folder_names_and_paths[folder_name][0]
        if full_folder_path not in paths:
            paths.insert(0, full_folder_path) if is_default else paths.append(full_folder_path)
    else:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())

def get_folder_paths(folder_name):
    return folder_names_and_paths[folder_name][0][:]

def get_filename_list(folder_name):
    out = []
    for d in folder_names_and_paths[folder_name][0]:
        if os.path.isdir(d):
            out += sorted(os.listdir(d))
    return out
"""
FILES["latent_preview.py"] = """
from PIL import Image
import comfy.utils
from comfy.cli_args import args

default_preview_method = args.preview_method

def set_preview_method(override=None):
    args.preview_method = override if override else default_preview_method

def prepare_callback(steps):
    pbar = comfy.utils.ProgressBar(steps)

    def callback(step):
        preview = None
        if args.preview_method != "none":
            preview = ("JPEG", Image.new("RGB", (8, 8), (255, 0, 0)), args.preview_size)
        pbar.update_absolute(step + 1, steps, preview)

    return callback
"""
FILES["server.py"] = """
raise RuntimeError("the checkout's server.py must never be imported under toucan_nb")
"""
FILES["nodes.py"] = r'''
import asyncio
import importlib.util
import logging
import os
import sys

# As ComfyUI's nodes.py: comfy/ first on sys.path (comfy/utils.py then shadows the root utils).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "comfy"))

import torch

import comfy.model_management
import comfy.utils
import folder_paths
import latent_preview
from comfy_execution.graph_utils import ExecutionBlocker
from comfy_execution.progress import get_progress_state
from comfy_execution.utils import get_executing_context

MAX_RESOLUTION = 16384


class EmptyImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"width": ("INT", {"default": 8, "min": 1, "max": MAX_RESOLUTION}),
                             "height": ("INT", {"default": 8, "min": 1, "max": MAX_RESOLUTION}),
                             "value": ("FLOAT", {"default": 0.25})}}
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "fake_checkout"

    def make(self, width, height, value):
        return (torch.full((1, height, width, 3), value),)


class EmptyLatentImage:
    """Shares its name with a built-in toucan_nb node: the checkout's must win."""
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"size": ("INT", {"default": 4})}}
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "fake_checkout"

    def make(self, size):
        return ({"samples": torch.zeros(1, 4, size, size)},)


class CheckpointLoaderSimple:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}
    RETURN_TYPES = ("STRING",)
    FUNCTION = "load"
    CATEGORY = "fake_checkout"

    def load(self, ckpt_name):
        return (ckpt_name,)


class KSampler:
    """Reports every step through latent_preview's callback; `steps` large enough to interrupt."""
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "steps": ("INT", {"default": 3, "min": 1, "max": 10**9})}}
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "sample"
    CATEGORY = "fake_checkout"

    def sample(self, image, steps):
        callback = latent_preview.prepare_callback(steps)
        for step in range(steps):
            image = image + 0  # the work of one step
            callback(step)
        return (image,)


class ContextProbe:
    """What ComfyUI's globals tell node code while it runs."""
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "probe"
    CATEGORY = "fake_checkout"

    def probe(self, value):
        ctx = get_executing_context()
        get_progress_state().update_progress(ctx.node_id, 1, 2, None)  # as comfy_api's set_progress
        return {"ui": {"text": [ctx.prompt_id, ctx.node_id, str(torch.is_inference_mode_enabled()),
                                str(comfy.model_management.ARGS_AT_IMPORT["lowvram"])]}}


class BlockImage:
    """Returns ComfyUI's ExecutionBlocker: everything downstream must not run."""
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "block"
    CATEGORY = "fake_checkout"

    def block(self, image):
        return (ExecutionBlocker(None),)


class SaveImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}}
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "save"
    CATEGORY = "image"

    def save(self, images, filename_prefix="ComfyUI"):
        from PIL import Image
        out = folder_paths.get_output_directory()
        os.makedirs(out, exist_ok=True)
        name = f"{filename_prefix}_00001_.png"
        array = (images[0].clamp(0, 1) * 255).byte().numpy()
        Image.fromarray(array).save(os.path.join(out, name))
        return {"ui": {"images": [{"filename": name, "subfolder": "", "type": "output"}]}}


NODE_CLASS_MAPPINGS = {"EmptyImage": EmptyImage, "EmptyLatentImage": EmptyLatentImage,
                       "CheckpointLoaderSimple": CheckpointLoaderSimple, "KSampler": KSampler,
                       "ContextProbe": ContextProbe, "BlockImage": BlockImage, "SaveImage": SaveImage}
NODE_DISPLAY_NAME_MAPPINGS = {"KSampler": "KSampler (fake)"}
EXTENSION_WEB_DIRS = {}
LOADED_MODULE_DIRS = {}


async def load_custom_node(module_path, module_parent="custom_nodes"):
    name = os.path.splitext(os.path.basename(module_path))[0]
    target = os.path.join(module_path, "__init__.py") if os.path.isdir(module_path) else module_path
    try:
        spec = importlib.util.spec_from_file_location(name, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        LOADED_MODULE_DIRS[name] = os.path.abspath(module_path)
        web = getattr(module, "WEB_DIRECTORY", None)
        if web is not None:
            EXTENSION_WEB_DIRS[name] = os.path.abspath(os.path.join(module_path, web))
        for key, cls in getattr(module, "NODE_CLASS_MAPPINGS", {}).items():
            NODE_CLASS_MAPPINGS[key] = cls
            cls.RELATIVE_PYTHON_MODULE = f"{module_parent}.{name}"
        NODE_DISPLAY_NAME_MAPPINGS.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}))
        entry = getattr(module, "comfy_entrypoint", None)
        if entry is not None:
            extension = await entry()
            for cls in await extension.get_node_list():
                schema = cls.GET_SCHEMA()
                NODE_CLASS_MAPPINGS[schema.node_id] = cls
                cls.RELATIVE_PYTHON_MODULE = f"{module_parent}.{name}"
        return True
    except Exception as e:
        logging.warning(f"Cannot import {module_path} module for custom nodes: {e}")
        return False


async def init_extra_nodes(init_custom_nodes=True, init_api_nodes=True):
    extras = os.path.join(os.path.dirname(os.path.realpath(__file__)), "comfy_extras")
    for file in sorted(os.listdir(extras)):
        if file.endswith(".py"):
            await load_custom_node(os.path.join(extras, file), module_parent="comfy_extras")
    if init_custom_nodes:
        for folder in folder_paths.get_folder_paths("custom_nodes"):
            if os.path.isdir(folder):
                for entry in sorted(os.listdir(folder)):
                    if entry != "__pycache__":
                        await load_custom_node(os.path.join(folder, entry))
    return []
'''
FILES["comfy_api/__init__.py"] = ""
FILES["comfy_api/latest/__init__.py"] = """
from toucan_nb.compat.public_api import ComfyExtension
from toucan_nb.compat.v3 import io, ui
"""
FILES["comfy_extras/nodes_invert.py"] = '''
from comfy_api.latest import ComfyExtension, io


class ImageInvertV3(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="ImageInvertV3", display_name="Invert (V3)", category="fake_checkout",
                         inputs=[io.Image.Input("image")], outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, image):
        return io.NodeOutput(1.0 - image)


class InvertExtension(ComfyExtension):
    async def get_node_list(self):
        return [ImageInvertV3]


async def comfy_entrypoint():
    return InvertExtension()
'''
FILES["custom_nodes/fake_pack/__init__.py"] = '''
import os

import folder_paths
from aiohttp import web
from server import PromptServer

folder_paths.add_model_folder_path("fake_pack_models", os.path.join(folder_paths.models_dir, "fake_pack"))


@PromptServer.instance.routes.get("/fake_pack/hello")
async def hello(request):
    return web.json_response({"hello": "from fake_pack"})


class FakePackPing:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "ping"})}}
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "ping"
    CATEGORY = "fake_pack"

    def ping(self, text):
        PromptServer.instance.send_sync("fake_pack.ping", {"text": text})
        return {}


NODE_CLASS_MAPPINGS = {"FakePackPing": FakePackPing}
'''
FILES["custom_nodes/fake_pack/prestartup_script.py"] = """
import os
import sys

# Runs before nodes.py and comfy.model_management are imported, as under ComfyUI's main.py.
order = "before" if "comfy.model_management" not in sys.modules and "nodes" not in sys.modules else "after"
with open(os.path.join(os.path.dirname(__file__), "prestartup.log"), "w") as f:
    f.write(order)
"""
FILES["custom_nodes/broken_pack/__init__.py"] = """
raise ImportError("broken_pack needs a module that is not installed")
"""
FILES["models/checkpoints/fake_model.safetensors"] = ""
FILES["models/embeddings/fake_embedding.pt"] = ""


def write_fake_checkout(root: str) -> str:
    """Write the fake checkout into `root` (created); returns `root`."""
    for rel, text in FILES.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
    return root
