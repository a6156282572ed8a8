"""Where the example targets live, and what running them needs (examples/package.json's npm packages).

Tests that take the `node_server` fixture get the same check; `example_node_packages()` is it for a test
that names the examples' files itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backends_support import missing_backend

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "targets"


def example_node_packages() -> None:
    """Skip (fail in CI) unless `make test-setup` has installed the examples' packages."""
    modules = ROOT / "examples" / "node_modules"
    if not shutil.which("node") or not all((modules / p).is_dir() for p in ("socket.io", "better-sqlite3")):
        missing_backend("Node.js with the examples' npm packages (run `make test-setup`)")
