"""ComfyUI's `folder_paths` module, backed by `toucan_nb.runtime.folders.active()`.

Functions keep ComfyUI's names, arguments and return shapes (`get_save_image_path` returns its
5-tuple). Module-level variables (`output_directory`, `models_dir`, `folder_names_and_paths` ...)
are properties of `LiveFolderPathsModule`, the class the `folder_paths` alias module takes on, so
they always read the active `Folders` and assignments write into it.

Any thread for reads; writes (`set_*_directory`, `add_model_folder_path`) belong to start-up.
"""

from __future__ import annotations

import mimetypes
import os
import types
from collections.abc import Collection
from typing import Literal

from toucan_nb.runtime import folders as _folders
from toucan_nb.runtime.folders import SUPPORTED_PT_EXTENSIONS

supported_pt_extensions: set[str] = set(SUPPORTED_PT_EXTENSIONS)
SYSTEM_USER_PREFIX = "__"
# Extensions mimetypes does not know, as ComfyUI seeds its cache.
extension_mimetypes_cache: dict[str, str] = {"webp": "image", "fbx": "model"}


def _active() -> _folders.Folders:
    return _folders.active()


def map_legacy(folder_name: str) -> str:
    return _active().map_legacy(folder_name)


def get_output_directory() -> str:
    return _active().output_dir


def get_input_directory() -> str:
    return _active().input_dir


def get_temp_directory() -> str:
    return _active().temp_dir


def get_user_directory() -> str:
    return _active().user_dir


def set_output_directory(output_dir: str) -> None:
    _active().output_dir = os.path.abspath(output_dir)


def set_input_directory(input_dir: str) -> None:
    _active().input_dir = os.path.abspath(input_dir)


def set_temp_directory(temp_dir: str) -> None:
    _active().temp_dir = os.path.abspath(temp_dir)


def set_user_directory(user_dir: str) -> None:
    _active().user_dir = os.path.abspath(user_dir)


def get_directory_by_type(type_name: str) -> str | None:
    """The folder for "input", "output" or "temp"; None for anything else."""
    return _active().directory_by_type(type_name)


def get_system_user_directory(name: str = "system") -> str:
    """`<user dir>/__<name>`: internal storage no HTTP route may reach."""
    if not name or not isinstance(name, str):
        raise ValueError("System user name cannot be empty")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"Invalid system user name: '{name}'")
    if name.startswith("_"):
        raise ValueError("System user name should not start with underscore")
    return os.path.join(get_user_directory(), f"{SYSTEM_USER_PREFIX}{name}")


def get_public_user_directory(user_id: str) -> str | None:
    if not user_id or not isinstance(user_id, str) or user_id.startswith(SYSTEM_USER_PREFIX):
        return None
    return os.path.join(get_user_directory(), user_id)


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """`"x.png [output]"` -> (`"x.png"`, output dir); no annotation -> (name, None)."""
    return _active().annotated_filepath(name)


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    return _active().get_annotated_filepath(name, default_dir)


def exists_annotated_filepath(name: str) -> bool:
    return _active().exists_annotated_filepath(name)


def filter_files_content_types(files: list[str],
                               content_types: Collection[Literal["image", "video", "audio", "model"]]) -> list[str]:
    """The files whose MIME major type (by extension) is one of `content_types`."""
    result = []
    for file in files:
        extension = file.split(".")[-1]
        content_type = extension_mimetypes_cache.get(extension)
        if content_type is None:
            mime_type, _ = mimetypes.guess_type(file, strict=False)
            if not mime_type:
                continue
            content_type = extension_mimetypes_cache[extension] = mime_type.split("/")[0]
        if content_type in content_types:
            result.append(file)
    return result


def filter_files_extensions(files: Collection[str], extensions: Collection[str]) -> list[str]:
    """Sorted files whose extension is in `extensions` (all files when it is empty)."""
    return sorted(f for f in files if not extensions or os.path.splitext(f)[-1].lower() in extensions)


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """Files under `directory` (relative) and the mtime of every folder walked."""
    if not os.path.isdir(directory):
        return [], {}
    excluded = set(excluded_dir_names or ())
    files: list[str] = []
    dirs: dict[str, float] = {}
    for dirpath, subdirs, filenames in os.walk(directory, followlinks=True, topdown=True):
        subdirs[:] = [d for d in subdirs if d not in excluded]
        try:
            dirs[dirpath] = os.path.getmtime(dirpath)
        except OSError:
            continue
        files.extend(os.path.relpath(os.path.join(dirpath, f), directory) for f in filenames)
    return files, dirs


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    _active().add_model_folder_path(folder_name, full_folder_path, is_default)


def get_folder_paths(folder_name: str) -> list[str]:
    return _active().get_folder_paths(folder_name)


def get_filename_list(folder_name: str) -> list[str]:
    return _active().get_filename_list(folder_name)


def get_full_path(folder_name: str, filename: str) -> str | None:
    return _active().get_full_path(folder_name, filename)


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    return _active().get_full_path_or_raise(folder_name, filename)


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                        image_height: int = 0) -> tuple[str, str, int, str, str]:
    """(full_output_folder, filename, counter, subfolder, filename_prefix), as ComfyUI returns it."""
    p = _active().get_save_image_path(filename_prefix, output_dir, image_width, image_height)
    return p.full_output_folder, p.filename, p.counter, p.subfolder, p.filename_prefix


def get_input_subfolders() -> list[str]:
    """Every folder under the input directory, relative, with forward slashes, sorted."""
    root = get_input_directory()
    if not os.path.isdir(root):
        return []
    found = []
    for dirpath, _dirnames, _filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            found.append(rel.replace(os.sep, "/"))
    return sorted(found)


class LiveFolderPathsModule(types.ModuleType):
    """The `folder_paths` alias module's class: its variables read and write the active Folders."""

    @property
    def base_path(self) -> str:
        return _active().base_dir

    @property
    def models_dir(self) -> str:
        return _active().models_dir

    @property
    def folder_names_and_paths(self) -> dict[str, tuple[list[str], set[str]]]:
        # The Folders' own dict: packs that add entries to it add model folders.
        return _active().model_folders

    @property
    def output_directory(self) -> str:
        return get_output_directory()

    @output_directory.setter
    def output_directory(self, value: str) -> None:
        set_output_directory(value)

    @property
    def input_directory(self) -> str:
        return get_input_directory()

    @input_directory.setter
    def input_directory(self, value: str) -> None:
        set_input_directory(value)

    @property
    def temp_directory(self) -> str:
        return get_temp_directory()

    @temp_directory.setter
    def temp_directory(self, value: str) -> None:
        set_temp_directory(value)

    @property
    def user_directory(self) -> str:
        return get_user_directory()

    @user_directory.setter
    def user_directory(self, value: str) -> None:
        set_user_directory(value)

