"""`%load_ext toucan_nb` outside a kernel: which kernel (if any) this process is."""

from __future__ import annotations

import subprocess
import sys

# Run in a fresh interpreter: IPython's application singletons are process-wide.
TERMINAL_IPYTHON = """
from IPython.terminal.ipapp import TerminalIPythonApp
TerminalIPythonApp.instance()
from toucan_nb.notebook.magics import _kernel_id
print(repr(_kernel_id()))
"""


def test_terminal_ipython_is_not_a_kernel():
    # Regression: terminal IPython's app holds the singleton IPKernelApp shares, so
    # `IPKernelApp.instance()` raised MultipleInstanceError and `%load_ext toucan_nb` failed.
    done = subprocess.run([sys.executable, "-c", TERMINAL_IPYTHON], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
