"""nodes: NODE_CLASS_MAPPINGS / NODE_DISPLAY_NAME_MAPPINGS as live views of the registry."""

from __future__ import annotations

import pytest


class Builtin:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"


def test_mappings_are_live_views(runtime):
    import nodes

    assert nodes.MAX_RESOLUTION == 16384
    assert len(nodes.NODE_CLASS_MAPPINGS) == 0
    runtime.registry.register("SaveImage", Builtin, display_name="Save Image")
    assert nodes.NODE_CLASS_MAPPINGS["SaveImage"] is Builtin
    assert dict(nodes.NODE_DISPLAY_NAME_MAPPINGS) == {"SaveImage": "Save Image"}
    assert nodes.SaveImage is Builtin  # `from nodes import SaveImage`
    with pytest.raises(AttributeError):
        nodes.NotRegistered  # noqa: B018


def test_writes_go_into_the_registry(runtime):
    import nodes

    nodes.NODE_CLASS_MAPPINGS["Injected"] = Builtin
    nodes.NODE_DISPLAY_NAME_MAPPINGS.update({"Injected": "Injected Node"})
    assert runtime.registry.find("Injected") is Builtin
    assert runtime.registry.display_name("Injected") == "Injected Node"
    del nodes.NODE_CLASS_MAPPINGS["Injected"]
    assert "Injected" not in runtime.registry
    with pytest.raises(KeyError):
        nodes.NODE_CLASS_MAPPINGS["Injected"]


def test_extension_web_dirs_is_the_registry_dict(runtime):
    import nodes

    assert nodes.EXTENSION_WEB_DIRS is runtime.registry.web_dirs
