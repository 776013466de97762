"""The recorded real-ComfyUI responses in tests/vectors (how they were recorded: tests/vectors/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"


def load(name: str) -> Any:
    """Parse `tests/vectors/<name>` (e.g. "validation_errors.json", "ws_transcripts/b_success_cold.json")."""
    return json.loads((VECTORS_DIR / name).read_text())
