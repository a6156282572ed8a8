"""The mutant campaign: every mutant of the reference server is caught, the unmutated server never is.

Each mutant is run under the guarantee-suite cell that exposes the step it breaks, on the exactly-once
profile (which has every switch a mutant can corrupt), and must show its violation; the same cells
without a mutant must keep exactly-once. A checker regression (a category no longer counted) or a new
mutant without a catching scenario fails here.
"""

from __future__ import annotations

import pytest

from harness.guarantees import cell_data
from harness.runner import run_scenario
from harness.scenario import resolve
from reference_server.mutants import MUTANTS

CATCHES: dict[str, tuple[str, str]] = {
    "ack-before-commit": ("db_outage", "lost"),
    "ack-on-db-error": ("db_outage", "lost"),
    "broadcast-before-commit": ("db_outage", "phantom"),
    "no-dedupe": ("lost_ack", "duplicated"),
    "replay-off-by-one": ("server_restart", "redelivered"),
    # A page refresh, not a crash: the reloaded page connects with serverOffset 0 after c2's rows were
    # stored, so only the replay can bring them; after a crash both pages reconnect within a few ms of
    # each other and nothing may have been stored in between (docs/reliability.md).
    "drop-replay": ("page_refresh", "missed"),
}
"""mutant -> (the cell that exposes it, the violation it must show)"""

EXACTLY_ONCE = {"guarantees": ["exactly-once", "ordered", "no-phantoms"]}

pytestmark = pytest.mark.timeout(120)


def test_every_mutant_has_a_catching_scenario() -> None:
    assert set(CATCHES) == set(MUTANTS), "add the new mutant to CATCHES with the cell that exposes it"


def _scenario(family: str, mutant: str | None, expectations: dict) -> object:
    data = cell_data(family, "exactly-once")
    data["name"] = f"mutant-{mutant or 'none'}-{family}"
    data["target"]["mutant"] = mutant
    data["expectations"] = expectations
    return resolve(data, source=data["name"])


@pytest.mark.parametrize("mutant", sorted(CATCHES))
async def test_mutant_is_caught(mutant: str, tmp_path) -> None:
    family, category = CATCHES[mutant]
    result = await run_scenario(_scenario(family, mutant, {"guarantees": [], "violations": {category: 1}}),
                                tmp_path)
    assert result.passed and result.verdict.counts[category] >= 1, (
        f"mutant {mutant} went unnoticed under {family}: {result.outcome.reasons}; replay: {result.replay_command}")
    broken = [g for g in ("exactly-once", "no-phantoms") if result.verdict.guarantees[g] is False]
    assert broken, f"mutant {mutant} broke no guarantee: {result.verdict.guarantees}"


@pytest.mark.parametrize("family", sorted({family for family, _ in CATCHES.values()}))
async def test_unmutated_exactly_once_is_never_flagged(family: str, tmp_path) -> None:
    # A page refresh abandons what the page had not sent even on the unmutated server (the suite's
    # finding); what must hold there is the cell's own expectation, which includes "nothing missed".
    expectations = cell_data(family, "exactly-once")["expectations"] if family == "page_refresh" else EXACTLY_ONCE
    result = await run_scenario(_scenario(family, None, expectations), tmp_path)
    assert result.passed, (f"false alarm on the unmutated server: {result.outcome.reasons}; "
                           f"replay: {result.replay_command}")
