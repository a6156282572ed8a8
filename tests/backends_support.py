"""The one rule for every optional backend: skipped on a developer's machine, a failure under CI=true.

Its own module, not `conftest`: `tests/` and `scenarios/` each have a conftest, and whichever is imported
first owns the module name `conftest`, so support modules never import from it.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_backend(what: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available", pytrace=False)
    pytest.skip(f"{what} not available")
