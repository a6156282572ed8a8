"""Checkers: pure functions from a run's history and final rows to a `Verdict`.

`check(events, rows, expected)` judges delivery (docs/checkers.md) in one pass; `check_files` and
`check_run_dir` do the same from saved files, reading each once. Checkers never import the runner:
anything that can write a history (a real run, a hand-built test, `synthetic`) can be checked.
"""

from harness.checkers.delivery import check
from harness.checkers.files import check_files, check_run_dir
from harness.checkers.verdict import (
    CATEGORIES,
    CLIENT_TO_SERVER,
    GUARANTEES,
    SERVER_TO_CLIENT,
    Expectations,
    Verdict,
)

__all__ = ["CATEGORIES", "CLIENT_TO_SERVER", "GUARANTEES", "SERVER_TO_CLIENT", "Expectations",
           "Verdict", "check", "check_files", "check_run_dir"]
