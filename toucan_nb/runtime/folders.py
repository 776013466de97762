"""Where files live: input, output, temp, user and the model folders (ComfyUI's `folder_paths`).

One `Folders` per runtime. `active()` is the process's current one: ComfyUI node code reads a
process-global `folder_paths`, and built-in nodes list input files from `INPUT_TYPES`, which runs
outside any prompt, so a process-wide view is unavoidable; the runtime sets it when it starts.
Thread-safe for reads; configuration happens before the runtime starts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

SUPPORTED_PT_EXTENSIONS = frozenset(
    {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
)

# Registration order is what GET /models reports (docs/protocol.md §4).
MODEL_FOLDERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("checkpoints", SUPPORTED_PT_EXTENSIONS),
    ("configs", frozenset({".yaml"})),
    ("loras", SUPPORTED_PT_EXTENSIONS),
    ("vae", SUPPORTED_PT_EXTENSIONS),
    ("text_encoders", SUPPORTED_PT_EXTENSIONS),
    ("diffusion_models", SUPPORTED_PT_EXTENSIONS),
    ("clip_vision", SUPPORTED_PT_EXTENSIONS),
    ("style_models", SUPPORTED_PT_EXTENSIONS),
    ("embeddings", SUPPORTED_PT_EXTENSIONS),
    ("diffusers", frozenset({"folder"})),
    ("vae_approx", SUPPORTED_PT_EXTENSIONS),
    ("controlnet", SUPPORTED_PT_EXTENSIONS),
    ("gligen", SUPPORTED_PT_EXTENSIONS),
    ("upscale_models", SUPPORTED_PT_EXTENSIONS),
    ("latent_upscale_models", SUPPORTED_PT_EXTENSIONS),
    ("custom_nodes", frozenset()),
    ("hypernetworks", SUPPORTED_PT_EXTENSIONS),
    ("photomaker", SUPPORTED_PT_EXTENSIONS),
    ("classifiers", frozenset({""})),
    ("model_patches", SUPPORTED_PT_EXTENSIONS),
    ("audio_encoders", SUPPORTED_PT_EXTENSIONS),
)
# Old names that still resolve for lookups but are not keys of GET /models.
LEGACY_NAMES = {"unet": "diffusion_models", "clip": "text_encoders"}
# Which model folder keys live under `models/` by a different directory name.
_DIR_NAMES = {"text_encoders": ["text_encoders", "clip"], "diffusion_models": ["unet", "diffusion_models"]}
DIRECTORY_TYPES = ("input", "output", "temp")


@dataclass(frozen=True, slots=True)
class SavePath:
    """Where SaveImage writes its next file (ComfyUI's get_save_image_path 5-tuple, named)."""

    full_output_folder: str
    filename: str
    counter: int
    subfolder: str
    filename_prefix: str


class Folders:
    """The directories of one runtime. All paths are absolute."""

    def __init__(
        self,
        base_dir: str,
        *,
        input_dir: str | None = None,
        output_dir: str | None = None,
        temp_dir: str | None = None,
        user_dir: str | None = None,
        models_dir: str | None = None,
    ) -> None:
        self.base_dir = os.path.abspath(base_dir)
        self.input_dir = os.path.abspath(input_dir or os.path.join(self.base_dir, "input"))
        self.output_dir = os.path.abspath(output_dir or os.path.join(self.base_dir, "output"))
        self.temp_dir = os.path.abspath(temp_dir or os.path.join(self.base_dir, "temp"))
        self.user_dir = os.path.abspath(user_dir or os.path.join(self.base_dir, "user"))
        self.models_dir = os.path.abspath(models_dir or os.path.join(self.base_dir, "models"))
        self.custom_nodes_dirs: list[str] = [os.path.join(self.base_dir, "custom_nodes")]
        self._lock = threading.Lock()
        self.model_folders: dict[str, tuple[list[str], set[str]]] = {}
        for name, exts in MODEL_FOLDERS:
            if name == "custom_nodes":
                self.model_folders[name] = (self.custom_nodes_dirs, set(exts))
                continue
            dirs = [os.path.join(self.models_dir, d) for d in _DIR_NAMES.get(name, [name])]
            self.model_folders[name] = (dirs, set(exts))
        self._filename_cache: dict[str, tuple[list[str], float]] = {}
        self._save_counters: dict[tuple[str, str], int] = {}

    def ensure_dirs(self) -> None:
        """Create input/output/temp/user if missing."""
        for d in (self.input_dir, self.output_dir, self.temp_dir, self.user_dir):
            os.makedirs(d, exist_ok=True)

    # -- directory types --------------------------------------------------------------------
    def directory_by_type(self, type_name: str) -> str | None:
        """The folder for `input`/`output`/`temp`, or None for anything else."""
        return {"input": self.input_dir, "output": self.output_dir, "temp": self.temp_dir}.get(type_name)

    def annotated_filepath(self, name: str) -> tuple[str, str | None]:
        """Split `"x.png [output]"` into (`"x.png"`, output dir); no annotation gives (name, None)."""
        for type_name in DIRECTORY_TYPES:
            suffix = f" [{type_name}]"
            if name.endswith(suffix):
                return name[: -len(suffix)], self.directory_by_type(type_name)
        return name, None

    def get_annotated_filepath(self, name: str, default_dir: str | None = None) -> str:
        name, base = self.annotated_filepath(name)
        if base is None:
            base = default_dir if default_dir is not None else self.input_dir
        return os.path.join(base, name)

    def exists_annotated_filepath(self, name: str) -> bool:
        return os.path.exists(self.get_annotated_filepath(name))

    def annotated_filepath_within(self, name: str) -> str | None:
        """`get_annotated_filepath(name)` if it stays inside its folder (input, or the annotated one),
        symlinks resolved; None for `..`, absolute paths and links that lead out.

        Deviation: ComfyUI's core loaders open whatever the joined path names, so a prompt could read
        any image on the machine; toucan_nb's core nodes read only what the folders serve.
        """
        bare, base = self.annotated_filepath(name)
        base = self.input_dir if base is None else base
        path = os.path.join(base, bare)
        return path if "\x00" not in name and is_within(path, base) else None

    # -- model folders ----------------------------------------------------------------------
    def map_legacy(self, folder_name: str) -> str:
        return LEGACY_NAMES.get(folder_name, folder_name)

    def add_model_folder_path(self, folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
        folder_name = self.map_legacy(folder_name)
        with self._lock:
            paths, _exts = self.model_folders.setdefault(folder_name, ([], set(SUPPORTED_PT_EXTENSIONS)))
            full_folder_path = os.path.abspath(full_folder_path)
            if full_folder_path in paths:
                paths.remove(full_folder_path)
            if is_default:
                paths.insert(0, full_folder_path)
            else:
                paths.append(full_folder_path)
            self._filename_cache.pop(folder_name, None)

    def get_folder_paths(self, folder_name: str) -> list[str]:
        return list(self.model_folders[self.map_legacy(folder_name)][0])

    def model_folder_names(self) -> list[str]:
        return list(self.model_folders)

    def get_filename_list(self, folder_name: str) -> list[str]:
        """Sorted, de-duplicated model files of a folder, relative to its roots, filtered by extension."""
        folder_name = self.map_legacy(folder_name)
        if folder_name not in self.model_folders:
            return []
        paths, exts = self.model_folders[folder_name]
        found: set[str] = set()
        for root in paths:
            found.update(recursive_files(root, exts))
        return sorted(found)

    def get_full_path(self, folder_name: str, filename: str) -> str | None:
        folder_name = self.map_legacy(folder_name)
        if folder_name not in self.model_folders:
            return None
        # The name cannot climb out of the folder (normalised against "/"), but symlinks the owner
        # put into a model folder are followed, as the listing follows them and as ComfyUI does:
        # models are routinely linked in from another disk.
        filename = os.path.relpath(os.path.join("/", filename), "/")
        for root in self.model_folders[folder_name][0]:
            full = os.path.join(root, filename)
            if os.path.isfile(full):
                return full
        return None

    def get_full_path_or_raise(self, folder_name: str, filename: str) -> str:
        full = self.get_full_path(folder_name, filename)
        if full is None:
            raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
        return full

    # -- saving ----------------------------------------------------------------------------
    def get_save_image_path(self, filename_prefix: str, output_dir: str, image_width: int = 0,
                            image_height: int = 0) -> SavePath:
        """Next free counter for `<prefix>_NNNNN_.png` under `output_dir` (ComfyUI semantics)."""
        filename_prefix = filename_prefix.replace("%width%", str(image_width))
        filename_prefix = filename_prefix.replace("%height%", str(image_height))
        filename_prefix = _expand_date_tokens(filename_prefix)
        subfolder = os.path.dirname(os.path.normpath(filename_prefix))
        filename = os.path.basename(os.path.normpath(filename_prefix))
        full_output_folder = os.path.join(output_dir, subfolder)
        if not is_within(full_output_folder, output_dir):
            raise ValueError(
                f"**** ERROR: Saving image outside the output folder is not allowed.\n"
                f" full_output_folder: {os.path.abspath(full_output_folder)}\n"
                f"         output_dir: {output_dir}"
            )
        key = (os.path.abspath(full_output_folder), filename)
        with self._lock:
            counter = self._save_counters.get(key)
        if counter is not None:
            # Listing a folder of thousands of files on every save is what made saving O(files);
            # continue from the last counter, stepping over names that exist since.
            while os.path.exists(os.path.join(full_output_folder, f"{filename}_{counter:05}_.png")):
                counter += 1
        else:
            counter = 1
            try:
                prefix_len = len(filename)
                taken = []
                for f in os.listdir(full_output_folder):
                    if f[: prefix_len + 1] == filename + "_" and f[prefix_len + 1:].split("_")[0].isdigit():
                        taken.append(int(f[prefix_len + 1:].split("_")[0]))
                counter = max(taken, default=0) + 1
            except FileNotFoundError:
                os.makedirs(full_output_folder, exist_ok=True)
        with self._lock:
            self._save_counters[key] = counter
        return SavePath(full_output_folder, filename, counter, subfolder, filename_prefix)


def _expand_date_tokens(text: str) -> str:
    if "%date:" not in text:
        return text
    now = time.localtime()
    tokens = {"yyyy": f"{now.tm_year:04d}", "yy": f"{now.tm_year % 100:02d}", "MM": f"{now.tm_mon:02d}",
              "dd": f"{now.tm_mday:02d}", "hh": f"{now.tm_hour:02d}", "mm": f"{now.tm_min:02d}",
              "ss": f"{now.tm_sec:02d}"}
    out = text
    while "%date:" in out:
        start = out.index("%date:")
        end = out.find("%", start + 6)
        if end < 0:
            break
        fmt = out[start + 6: end]
        for token, value in sorted(tokens.items(), key=lambda kv: -len(kv[0])):
            fmt = fmt.replace(token, value)
        out = out[:start] + fmt + out[end + 1:]
    return out


def is_within(path: str, root: str) -> bool:
    """True if `path` (symlinks resolved) lies inside `root` (symlinks resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def inside(path: str, root: str) -> bool:
    """True if `path` lies inside `root` both as written (no `..` out) and with symlinks resolved."""
    root = os.path.abspath(root)
    path = os.path.abspath(path)
    lexical = path == root or path.startswith(root.rstrip(os.sep) + os.sep)
    return lexical and is_within(path, root)


def recursive_files(root: str, exts: Iterable[str]) -> list[str]:
    """Files under `root` (following symlinks, skipping `.git`), relative, filtered by extension set."""
    exts = set(exts)
    out: list[str] = []
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            if exts and os.path.splitext(f)[1].lower() not in exts:
                continue
            out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return out


_active: Folders | None = None


def active() -> Folders:
    """The process's current `Folders` (set by the runtime; a default under ./ otherwise)."""
    global _active
    if _active is None:
        _active = Folders(os.getcwd())
    return _active


def set_active(folders: Folders) -> None:
    global _active
    _active = folders
