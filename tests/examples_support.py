"""Where the example targets live (their npm packages: the `node_server` fixture of conftest.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "targets"
