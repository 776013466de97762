"""A custom node pack whose import fails: the loader must log it and keep loading the others."""

from __future__ import annotations

raise RuntimeError("broken_pack fails on import on purpose")
