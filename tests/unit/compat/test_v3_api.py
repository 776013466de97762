"""The V3 node API as packs import it: comfy_api.latest (io, ui), v0_0_2, _io, internal (docs/execution.md §1.9)."""

from __future__ import annotations

import enum
import os

import pytest
import torch
from PIL import Image


def test_entry_points_share_one_api(runtime):
    import comfy_api.latest as latest
    import comfy_api.v0_0_1 as v0_0_1
    import comfy_api.v0_0_2 as v0_0_2
    from comfy_api.input import ImageInput, VideoInput
    from comfy_api.internal import _ComfyNodeInternal, _NodeOutputInternal
    from comfy_api.latest import IO, UI, ComfyExtension, Input, InputImpl, Types, io, ui
    from comfy_api.latest._io import ComfyNode, DynamicSlot, _UIOutput, get_finalized_class_inputs
    from comfy_api.latest._ui import PreviewImage
    from comfy_api.util import VideoContainer

    assert IO is io and UI is ui and latest.ComfyAPI.VERSION == "latest"
    assert v0_0_2.io is io and v0_0_2.ui is ui and v0_0_2.ComfyExtension is ComfyExtension
    assert v0_0_2.ComfyAPI.VERSION == "0.0.2" and issubclass(v0_0_2.Input, Input)
    assert not hasattr(v0_0_1, "io") and issubclass(v0_0_1.Types, Types) and issubclass(v0_0_1.InputImpl, InputImpl)
    assert io.ComfyNode is ComfyNode and ui.PreviewImage is PreviewImage and issubclass(ui.PreviewText, _UIOutput)
    assert issubclass(ComfyNode, _ComfyNodeInternal) and issubclass(io.NodeOutput, _NodeOutputInternal)
    assert ImageInput is torch.Tensor and Input.Image is torch.Tensor and Input.Video is VideoInput
    assert VideoContainer.get_extension("auto") == "mp4" and Types.VideoContainer is VideoContainer
    assert DynamicSlot.io_type == "COMFY_DYNAMICSLOT_V3" and callable(get_finalized_class_inputs)
    assert not hasattr(io, "DynamicSlot") and not hasattr(io, "_UIOutput")  # `io` holds the public names only
    namespace: dict = {}
    exec("from comfy_api.latest._io import *", namespace)  # noqa: S102
    assert namespace["Autogrow"] is io.Autogrow and "_UIOutput" not in namespace


def _node(schema_kwargs: dict, execute=None):
    from comfy_api.latest import io

    class Node(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(**schema_kwargs)

    if execute is not None:
        Node.execute = classmethod(execute)
    return Node


def test_schema_finalize_and_the_v1_attributes(runtime):
    from comfy_api.latest import io

    node = _node({"node_id": "N", "inputs": [io.Image.Input("image")], "hidden": [io.Hidden.unique_id],
                  "outputs": [io.Image.Output(), io.Int.Output("count", display_name="n", tooltip="how many")],
                  "is_output_node": True, "is_api_node": True, "description": "d", "category": "c"},
                 lambda cls, image: io.NodeOutput(image, 1))
    schema = node.GET_SCHEMA()
    assert [o.id for o in schema.outputs] == ["_0_IMAGE_", "count"]
    assert schema.hidden == [io.Hidden.unique_id, io.Hidden.auth_token_comfy_org, io.Hidden.api_key_comfy_org,
                             io.Hidden.prompt, io.Hidden.extra_pnginfo]
    assert node.INPUT_TYPES()["hidden"] == {"unique_id": ("UNIQUE_ID",), "auth_token_comfy_org": ("AUTH_TOKEN_COMFY_ORG",),
                                            "api_key_comfy_org": ("API_KEY_COMFY_ORG",), "prompt": ("PROMPT",),
                                            "extra_pnginfo": ("EXTRA_PNGINFO",)}
    assert node.RETURN_TYPES == ["IMAGE", "INT"] and node.RETURN_NAMES == ["IMAGE", "n"]
    assert node.OUTPUT_TOOLTIPS == [None, "how many"] and node.OUTPUT_IS_LIST == [False, False]
    assert node.OUTPUT_NODE is True and node.API_NODE is True and node.CATEGORY == "c" and node.DESCRIPTION == "d"
    assert node.INPUT_IS_LIST is False and node.NOT_IDEMPOTENT is False and node.FUNCTION == "EXECUTE_NORMALIZED"

    async def run_async(cls, image):
        return io.NodeOutput(image)

    assert _node({"node_id": "A"}, run_async).FUNCTION == "EXECUTE_NORMALIZED_ASYNC"


def test_schema_and_class_checks(runtime):
    from comfy_api.latest import io

    duplicated = _node({"node_id": "D", "inputs": [io.Int.Input("a"), io.Float.Input("a")],
                        "outputs": [io.Int.Output("x"), io.Int.Output("x")]}, lambda cls, a: None)
    with pytest.raises(ValueError) as raised:
        duplicated.GET_SCHEMA()
    assert str(raised.value) == ("Input ids must be unique, but ['a'] are not.\n"
                                 "Output ids must be unique, but ['x'] are not.")
    no_execute = _node({"node_id": "E"})
    with pytest.raises(Exception, match="^No execute function was defined for node class Node.$"):
        no_execute()
    with pytest.raises(ValueError, match="Allowed types must be a ComfyType or a list of ComfyTypes, got int"):
        io.MatchType.Template("t", [io.Image, int])


def test_execute_results_are_normalised(runtime):
    from comfy_api.latest import io
    from comfy_execution.graph_utils import ExecutionBlocker

    outputs = {"none": None, "tuple": (1, 2), "dict": {"result": (3,), "ui": {"text": ["t"]}},
               "blocker": ExecutionBlocker("stop"), "dict_blocker": {"result": ExecutionBlocker(None)}}
    node = _node({"node_id": "R", "inputs": [io.String.Input("form")]}, lambda cls, form: outputs[form])
    node.GET_SCHEMA()
    assert node.EXECUTE_NORMALIZED(form="none").result is None
    assert node.EXECUTE_NORMALIZED(form="tuple").args == (1, 2) and node.EXECUTE_NORMALIZED(form="tuple")[1] == 2
    shown = node.EXECUTE_NORMALIZED(form="dict")
    assert shown.result == (3,) and shown.ui == {"text": ["t"]} and shown.expand is None
    blocked = node.EXECUTE_NORMALIZED(form="blocker")
    assert blocked.result is None and blocked.block_execution == "stop"
    assert node.EXECUTE_NORMALIZED(form="dict_blocker").block_execution is None
    outputs["other"] = "text"
    with pytest.raises(Exception, match="^Invalid return type from node: <class 'str'>$"):
        node.EXECUTE_NORMALIZED(form="other")


def test_input_options(runtime):
    from comfy_api.latest import io

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    def v1(declaration):
        return io.add_to_dict_v1(declaration, d := {}) or d

    combo = io.Combo.Input("color", options=Color, default=Color.BLUE, upload=io.UploadType.image,
                           image_folder=io.FolderType.output, remote=io.RemoteOptions("/r", True, timeout=5),
                           optional=True, extra_dict={"advanced": True})
    assert v1(combo) == {"optional": {"color": ("COMBO", {
        "advanced": True, "default": "blue", "multiselect": False, "options": ["red", "blue"], "image_upload": True,
        "image_folder": "output", "remote": {"route": "/r", "refresh_button": True, "control_after_refresh": "first",
                                             "timeout": 5}})}}
    multi = io.MultiCombo.Input("tags", options=["a", "b"], default=["a"], chip=True)
    assert multi.as_dict() == {"optional": False, "default": ["a"], "multiselect": True, "options": ["a", "b"], "multi_select": True,
                               "chip": True}
    assert io.Boolean.Input("b", label_on="yes", socketless=True).as_dict() == {"optional": False, "socketless": True,
                                                                                "label_on": "yes"}
    assert io.Float.Input("f", display_mode=io.NumberDisplay.slider, round=0.5).as_dict()["display"] == "slider"
    assert io.String.Input("s", raw_link=True, lazy=True).as_dict() == {"optional": False, "lazy": True,
                                                                        "rawLink": True, "multiline": False}
    either = io.MultiType.Input(io.Int.Input("n", default=2, tooltip="a number"), types=[io.Float, io.Int])
    assert either.get_io_type() == "INT,FLOAT" and either.as_dict()["default"] == 2
    assert either.as_dict()["widgetType"] == "INT" and either.tooltip == "a number"
    token = io.Custom("TOKEN")
    assert token.io_type == "TOKEN" and token.Input("t").get_io_type() == "TOKEN"
    assert token.Output().get_io_type() == "TOKEN" and io.Image.Input("i").get_io_type() == "IMAGE"
    assert io.AnyType.io_type == "*" and io.Image.__name__ == "Image"


def test_hidden_holder_and_class_clones(runtime):
    from comfy_api.internal import lock_class, make_locked_method_func
    from comfy_api.latest import io

    holder = io.HiddenHolder.from_dict({"UNIQUE_ID": "7", io.Hidden.prompt: {"1": {}}})
    assert holder.unique_id == "7" and holder.prompt == {"1": {}} and holder.extra_pnginfo is None
    assert holder.anything_else is None and io.HiddenHolder.from_v3_data(None).unique_id is None

    def execute(cls, value):
        return io.NodeOutput(cls.hidden.unique_id, value)

    node = _node({"node_id": "H", "inputs": [io.Int.Input("value")], "hidden": [io.Hidden.unique_id]}, execute)
    clone = node.PREPARE_CLASS_CLONE({"hidden_inputs": {"UNIQUE_ID": "3"}})
    assert issubclass(clone, node) and clone.__name__ == "NodeClone" and node.hidden is None
    run = make_locked_method_func(node, "EXECUTE_NORMALIZED", clone)
    node.GET_SCHEMA()
    assert run(value=5).args == ("3", 5)
    locked = lock_class(clone)
    with pytest.raises(AttributeError, match="Cannot modify class attribute 'x' on locked class 'NodeClone'"):
        locked.x = 1


def test_dynamic_inputs_finalize_and_nest(runtime):
    from comfy_api.latest import _io, io

    options = [io.DynamicCombo.Option("one", [io.Int.Input("n")]),
               io.DynamicCombo.Option("two", [io.Int.Input("n"), io.Image.Input("image", optional=True)])]
    grow = io.Autogrow.TemplateNames(io.Float.Input("x"), names=["a", "b", "c"], min=2)
    node = _node({"node_id": "Dyn", "inputs": [io.DynamicCombo.Input("mode", options=options),
                                               io.Autogrow.Input("grow", template=grow),
                                               _io.DynamicSlot.Input(io.Mask.Input("slot"), [io.Int.Input("k")])]},
                 lambda cls, **kw: None)
    live = {"mode": "two", "mode.n": 1, "mode.image": ["9", 0], "grow.a": 1.0, "grow.c": 3.0, "slot": ["8", 0],
            "slot.k": 4}
    declared, hidden, data = _io.get_finalized_class_inputs(node.INPUT_TYPES(), live)
    assert list(declared["required"]) == ["mode.n", "mode", "grow.a", "slot.k"]
    assert list(declared["optional"]) == ["mode.image", "grow.c", "slot"] and hidden is None
    assert declared["optional"]["grow.c"] == ("FLOAT", {"forceInput": True})
    assert data["dynamic_paths"] == {"mode.n": "mode.n", "mode.image": "mode.image", "mode": "mode.mode",
                                     "grow.a": "grow.a", "grow.c": "grow.c", "slot.k": "slot.k", "slot": "slot.slot"}
    values = {"mode": "two", "mode.n": 1, "mode.image": "IMG", "grow.a": 1.0, "grow.c": 3.0, "slot": "M",
              "slot.k": 4, "other": 0}
    assert _io.build_nested_inputs(values, data) == {
        "other": 0, "mode": {"n": 1, "image": "IMG", "mode": "two"}, "grow": {"a": 1.0, "c": 3.0},
        "slot": {"k": 4, "slot": "M"}}
    paired = _io.build_nested_inputs({"grow.a": None}, {**data, "create_dynamic_tuple": True})
    assert paired["grow"]["a"] == (None, "grow.a") and paired["mode"]["n"] == (None, "mode.n")


def test_ui_outputs_write_files_as_comfyui_does(runtime):
    from comfy_api.latest import io, ui

    temp = runtime.folders.temp_dir
    preview = ui.PreviewImage(torch.rand(2, 5, 7, 3))
    images = preview.as_dict()["images"]
    assert preview.as_dict()["animated"] == (False,) and len(images) == 2
    prefix = images[0]["filename"][:-len("_00001_.png")]
    assert prefix.startswith("ComfyUI_temp_") and len(prefix) == len("ComfyUI_temp_") + 5
    assert [i["filename"] for i in images] == [f"{prefix}_00001_.png", f"{prefix}_00002_.png"]
    assert images[0] == {"filename": f"{prefix}_00001_.png", "subfolder": "", "type": "temp"}
    assert images[0].type is io.FolderType.temp and images[0].subfolder == ""
    with Image.open(os.path.join(temp, images[0]["filename"])) as saved:
        assert saved.size == (7, 5) and saved.mode == "RGB" and not saved.text  # no cls: no metadata
    mask = ui.PreviewMask(torch.ones(1, 3, 4)).as_dict()["images"][0]
    with Image.open(os.path.join(temp, mask["filename"])) as saved:
        assert saved.size == (4, 3) and saved.getpixel((0, 0)) == (255, 255, 255)
    assert ui.PreviewText("hello").as_dict() == {"text": ("hello",)}

    class WithHidden:
        hidden = io.HiddenHolder.from_dict({"PROMPT": {"1": {}}, "EXTRA_PNGINFO": {"workflow": {"v": 1}}})

    saved_ui = ui.ImageSaveHelper.get_save_images_ui(torch.zeros(1, 2, 2, 3), "sub/run", WithHidden)
    (result,) = saved_ui.as_dict()["images"]
    assert result == {"filename": "run_00001_.png", "subfolder": "sub", "type": "output"}
    with Image.open(os.path.join(runtime.folders.output_dir, "sub", "run_00001_.png")) as saved:
        assert saved.text == {"prompt": '{"1": {}}', "workflow": '{"v": 1}'}
    animated = ui.ImageSaveHelper.get_save_animated_png_ui(torch.rand(3, 2, 2, 3), "anim", None, 6.0, 4)
    assert animated.as_dict() == {"images": [{"filename": "anim_00001_.png", "subfolder": "", "type": "output"}],
                                  "animated": (True,)}
    with Image.open(os.path.join(runtime.folders.output_dir, "anim_00001_.png")) as saved:
        assert getattr(saved, "n_frames", 1) == 3
