"""Crafted histories, one folder per case under `tests/checker_corpus/`, in the manner of Jepsen's
checker tests: `history.jsonl` and `rows.jsonl` as the recorder writes them, and `expected.json`
holding the verdict they must get (its non-zero counts, every guarantee, the inconclusive reasons, and
optionally the offending ids and words a note must contain). Each folder says `why` it exists.

The files are checked as `sio-harness check` reads them (`check_files`), so the cases about the last
line of a history go through the same reader as a saved run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.checkers import check_files

CORPUS = Path(__file__).parent / "checker_corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def test_the_corpus_is_there() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_a_crafted_history_gets_its_expected_verdict(case: str) -> None:
    folder = CORPUS / case
    expected: dict[str, Any] = orjson.loads((folder / "expected.json").read_bytes())
    verdict = check_files(folder / "history.jsonl", folder / "rows.jsonl", expected.get("expect"))
    assert {name: n for name, n in verdict.counts.items() if n} == expected["counts"], expected["why"]
    assert verdict.guarantees == expected["guarantees"], expected["why"]
    assert verdict.inconclusive == expected["inconclusive"], expected["why"]
    for name, ids in expected.get("client_to_server", {}).items():
        assert verdict.client_to_server[name] == ids, name
    for proc, per in expected.get("server_to_client", {}).items():
        for name, ids in per.items():
            assert verdict.server_to_client[proc][name] == ids, (proc, name)
    for words in expected.get("notes", []):
        assert any(words in note for note in verdict.notes), words
