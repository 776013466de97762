"""Node classes defined in cells: `@node` / `register` add them to the runtime at once."""

from __future__ import annotations

import pytest

from toucan_nb.notebook import session
from toucan_nb.notebook.namespace import NodeNamespace
from toucan_nb.notebook.register import node, register


def make_class(factor: int = 2) -> type:
    class Scale:
        DESCRIPTION = "Multiplies a number."
        CATEGORY = "notebook"
        RETURN_TYPES = ("INT",)
        FUNCTION = "scale"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT", {"default": 1, "min": 0, "max": 100})}}

        def scale(self, x):
            return (x * factor,)

    return Scale


def test_registered_class_appears_in_object_info_and_nodes_and_runs(runtime):
    nodes = NodeNamespace(runtime.registry)
    cls = register(make_class(), name="NbScale", display_name="Scale (notebook)", runtime=runtime)
    info = runtime.object_info()["NbScale"]
    assert info["display_name"] == "Scale (notebook)"
    assert info["python_module"] == "custom_nodes.notebook"
    assert info["description"] == "Multiplies a number."
    assert info["input"]["required"]["x"] == ("INT", {"default": 1, "min": 0, "max": 100})
    assert cls.RELATIVE_PYTHON_MODULE == "custom_nodes.notebook"
    assert nodes.NbScale(x=21).run(runtime=runtime, progress=False, timeout=30) == 42


def test_a_v3_class_registers_under_its_schema_and_runs(runtime):
    from toucan_nb.compat.v3 import io

    class Triple(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="NbTriple", display_name="Triple (V3)", category="notebook",
                             inputs=[io.Int.Input("x", default=1)], outputs=[io.Int.Output()])

        @classmethod
        def execute(cls, x):
            return io.NodeOutput(x * 3)

    nodes = NodeNamespace(runtime.registry)
    register(Triple, runtime=runtime)
    info = runtime.object_info()["NbTriple"]
    assert info["display_name"] == "Triple (V3)" and info["python_module"] == "custom_nodes.notebook"
    assert info["input"]["required"]["x"] == ("INT", {"default": 1})
    assert nodes.NbTriple(x=4).run(runtime=runtime, progress=False, timeout=30) == 12


def test_re_running_the_cell_replaces_the_class(runtime):
    nodes = NodeNamespace(runtime.registry)
    register(make_class(2), name="NbReplace", runtime=runtime)
    assert nodes.NbReplace(x=5).run(runtime=runtime, progress=False, timeout=30) == 10
    register(make_class(3), name="NbReplace", runtime=runtime)
    assert nodes.NbReplace(x=5).run(runtime=runtime, progress=False, timeout=30) == 15


def test_decorator_forms(runtime):
    @node(runtime=runtime)
    class NbPlain:
        RETURN_TYPES = ("INT",)
        FUNCTION = "f"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def f(self):
            return (1,)

    @node(name="NbNamed", display_name="Named", runtime=runtime)
    class Whatever(NbPlain):
        pass

    assert isinstance(NbPlain, type) and "NbPlain" in runtime.registry
    assert runtime.registry.get("NbNamed") is Whatever
    assert runtime.registry.display_name("NbNamed") == "Named"


def test_bare_decorator_uses_the_session_runtime(runtime, monkeypatch):
    monkeypatch.setattr(session, "_runtime", None)
    session.set_runtime(runtime)

    @node
    class NbSession:
        RETURN_TYPES = ()
        OUTPUT_NODE = True
        FUNCTION = "f"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def f(self):
            return {}

    assert runtime.registry.get("NbSession") is NbSession


@pytest.mark.parametrize("broken, message", [
    (type("NoFunction", (), {"RETURN_TYPES": (), "INPUT_TYPES": classmethod(lambda c: {})}), "lacks FUNCTION"),
    (type("BadInputs", (), {"RETURN_TYPES": (), "FUNCTION": "f", "f": lambda s: (),
                            "INPUT_TYPES": classmethod(lambda c: [])}), "not a dict"),
    (type("NoMethod", (), {"RETURN_TYPES": (), "FUNCTION": "run", "INPUT_TYPES": classmethod(lambda c: {})}),
     "not a method"),
    (type("BadReturn", (), {"RETURN_TYPES": "INT", "FUNCTION": "f", "f": lambda s: (),
                            "INPUT_TYPES": classmethod(lambda c: {})}), "RETURN_TYPES"),
])
def test_classes_that_break_the_contract_are_refused(runtime, broken, message):
    with pytest.raises(TypeError, match=message):
        register(broken, runtime=runtime)
    assert broken.__name__ not in runtime.registry
    with pytest.raises(TypeError, match="class"):
        register(lambda: None, runtime=runtime)  # type: ignore[arg-type]


def test_cell_classes_are_process_local_and_a_pack_registration_is_not(runtime):
    # Scale-out ships process-local classes to its workers (docs/scale-out.md §2).
    cls = register(make_class(), name="NbLocal", runtime=runtime)
    assert runtime.registry.process_local_classes()["NbLocal"] == (cls, None, "custom_nodes.notebook")
    runtime.registry.register("NbLocal", make_class(5))  # the same name, now from a pack
    assert "NbLocal" not in runtime.registry.process_local_classes()
    register(make_class(), name="NbGone", runtime=runtime)
    runtime.registry.unregister("NbGone")
    assert "NbGone" not in runtime.registry.process_local_classes()
