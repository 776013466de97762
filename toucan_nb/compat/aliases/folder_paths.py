"""Alias of ComfyUI's `folder_paths`, backed by `toucan_nb.runtime.folders.active()`.

The module-level variables (`output_directory`, `input_directory`, `temp_directory`,
`user_directory`, `models_dir`, `base_path`, `folder_names_and_paths`) are live: this module's
class is `LiveFolderPathsModule`, whose properties read (and set) the active Folders.
"""

from __future__ import annotations

import sys

from toucan_nb.compat.folder_view import (
    SYSTEM_USER_PREFIX,
    LiveFolderPathsModule,
    add_model_folder_path,
    annotated_filepath,
    exists_annotated_filepath,
    extension_mimetypes_cache,
    filter_files_content_types,
    filter_files_extensions,
    get_annotated_filepath,
    get_directory_by_type,
    get_filename_list,
    get_folder_paths,
    get_full_path,
    get_full_path_or_raise,
    get_input_directory,
    get_input_subfolders,
    get_output_directory,
    get_public_user_directory,
    get_save_image_path,
    get_system_user_directory,
    get_temp_directory,
    get_user_directory,
    map_legacy,
    recursive_search,
    set_input_directory,
    set_output_directory,
    set_temp_directory,
    set_user_directory,
    supported_pt_extensions,
)

sys.modules[__name__].__class__ = LiveFolderPathsModule

__all__ = [
    "SYSTEM_USER_PREFIX",
    "add_model_folder_path",
    "annotated_filepath",
    "exists_annotated_filepath",
    "extension_mimetypes_cache",
    "filter_files_content_types",
    "filter_files_extensions",
    "get_annotated_filepath",
    "get_directory_by_type",
    "get_filename_list",
    "get_folder_paths",
    "get_full_path",
    "get_full_path_or_raise",
    "get_input_directory",
    "get_input_subfolders",
    "get_output_directory",
    "get_public_user_directory",
    "get_save_image_path",
    "get_system_user_directory",
    "get_temp_directory",
    "get_user_directory",
    "map_legacy",
    "recursive_search",
    "set_input_directory",
    "set_output_directory",
    "set_temp_directory",
    "set_user_directory",
    "supported_pt_extensions",
]
