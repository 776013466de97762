"""The notebook's public surface is small and pinned; importing it starts and loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import toucan_nb.notebook as nb


def test_exported_names_are_pinned():
    assert sorted(nb.__all__) == ["ProgressWidget", "Workflow", "load_workflow", "node", "nodes", "register",
                                  "runtime", "show", "to_pil"]
    for name in nb.__all__:
        assert getattr(nb, name) is not None


def test_session_entry_point_for_load_ext_has_the_agreed_signature():
    import inspect

    from toucan_nb.notebook.session import get_runtime

    params = inspect.signature(get_runtime).parameters
    assert list(params) == ["create", "config"]
    assert params["create"].default is True and params["config"].kind is inspect.Parameter.VAR_KEYWORD


def test_import_has_no_side_effects():
    code = (
        "import sys, threading\n"
        "import toucan_nb.notebook as nb\n"
        "heavy = [m for m in ('torch', 'anywidget', 'ipywidgets', 'toucan_nb.runtime.runtime') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert threading.active_count() == 1\n"
        "from toucan_nb.notebook import session\n"
        "assert session.find_runtime() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
