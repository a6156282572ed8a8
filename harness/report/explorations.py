"""Explorations merged: the `explore.json` of several searches (`--workers`, or the CI jobs of `--shard`)
as one campaign result (docs/explore.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.checkers.coverage import Coverage

RESULT = "explore.json"
EXIT_CODES = {"found": 1, "nothing-found": 0, "not-reproducible": 3, "unproven": 3, "interrupted": 130}
"""Per status of an exploration (docs/explore.md); `unproven`: found, but no time was left to replay it."""


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several searches (workers or shards): the quickest proven case (else an unproven
    one), every run counted, the coverage summed."""
    coverage = Coverage()
    for r in results:
        coverage = coverage.add(Coverage.from_json(r["coverage"]))
    cases = sorted((r["case"] for r in results if r.get("case")),
                   key=lambda c: (not c["proof"]["reproduced"], c["seconds_to_find"]))
    if cases:
        status = "found" if cases[0]["proof"]["reproduced"] else "unproven"
    else:
        status = "not-reproducible" if any(r.get("unreproducible") for r in results) else "nothing-found"
    return {"status": status, "exit_code": EXIT_CODES[status],
            "target": results[0]["target"], "profile": results[0]["profile"], "mutant": results[0]["mutant"],
            "searches": len(results), "seeds": [r["seed"] for r in results],
            "seconds": max(r["seconds"] for r in results), "runs": sum(r["runs"] for r in results),
            "inconclusive": [i for r in results for i in r["inconclusive"]],
            "case": cases[0] if cases else None,
            "hunt": any(r.get("hunt") for r in results),
            "findings": [f for r in results for f in r.get("findings", [])],
            "explained": sum(r.get("explained", 0) for r in results),
            "unreproducible": [u for r in results for u in r.get("unreproducible", [])],
            "partial": [u for r in results for u in r.get("partial", [])],
            "unconfirmed": [u for r in results for u in r.get("unconfirmed", [])],
            "coverage": coverage.to_json()}


def merge_below(root: Path) -> dict[str, Any] | None:
    """Merge every `explore.json` one folder below `root` into `root/explore.json`; None when there is none."""
    found = sorted(root.glob(f"*/{RESULT}"))
    if not found:
        return None
    merged = merge([json.loads(p.read_text()) for p in found])
    merged["merged"] = [str(p) for p in found]
    (root / RESULT).write_text(json.dumps(merged, indent=2) + "\n")
    return merged
