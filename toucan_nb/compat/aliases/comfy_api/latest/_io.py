"""Alias of ComfyUI's `comfy_api.latest._io` (toucan_nb.compat.v3.io), private names included."""

from __future__ import annotations

from toucan_nb.compat.v3.io import *  # noqa: F403
from toucan_nb.compat.v3.io import (  # noqa: F401
    _IO_V3,
    MODEL_PATCH,
    DynamicInput,
    DynamicOutput,
    DynamicSlot,
    __all__,
    _ComfyNodeBaseInternal,
    _ComfyType,
    _UIOutput,
    build_nested_inputs,
    create_input_dict_v1,
    get_finalized_class_inputs,
)
