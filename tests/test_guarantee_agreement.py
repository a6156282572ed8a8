"""`sio-harness matrix` and `pytest scenarios/` decide every cell alike, by construction.

Both run the cell of `harness.guarantees` and decide it with `harness.outcome.decide` over the resolved
scenario's expectations. This test derives, for each of the 80 cells (45 on one node, 35 on two), the
expectations the matrix's way (`commands.matrix.cell_scenario`) and the suite's way
(`scenarios/conftest.py`'s `suite_scenario`), and the decision over crafted verdicts both ways; no cell
is run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from test_outcome import verdict

from harness.commands.matrix import cell_scenario
from harness.expectations import CATEGORIES, GUARANTEES, Expectations
from harness.guarantees import EXPECTED, FAMILIES, Expected, cell_data
from harness.outcome import decide
from harness.steps import STEPS

NO_FINAL_SYNC = ("at-least-once", "exactly-once")


def suite_conftest() -> ModuleType:
    path = Path(__file__).parents[1] / "scenarios" / "conftest.py"
    spec = importlib.util.spec_from_file_location("guarantee_suite_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUITE = suite_conftest()


def suite_expectations(family: str, profile: str, proxy: str) -> Expectations:
    data = cell_data(family, profile, storage="sqlite")
    scenario = SUITE.suite_scenario(data, storage="sqlite", proxy=proxy,
                                    frames=FAMILIES[family].needs_frames(profile), seed=None)
    return scenario.expectations


def crafted(exp: Expected) -> list[tuple[dict[str, int], tuple[str, ...]]]:
    """Counts and inconclusive guarantees around the cell's expectation: what it asks for, each category
    added, each required violation missing, and the final sync missing."""
    base = dict(exp.finds)
    out = [(base, ()), ({}, ()), (base, NO_FINAL_SYNC), ({}, NO_FINAL_SYNC)]
    out += [({**base, c: base.get(c, 0) + 1}, ()) for c in CATEGORIES]
    out += [({k: v for k, v in base.items() if k != c}, ()) for c in base]
    out += [({**base, c: base.get(c, 0) + 1}, NO_FINAL_SYNC) for c in CATEGORIES]
    return out


def written_rule(exp: Expected, counts: dict[str, int]) -> bool:
    """The cell as `harness.guarantees` writes it, for a conclusive verdict: its guarantees hold, its
    violations are found, its absent categories are not."""
    return (not any(counts.get(c) for g in exp.holds for c in GUARANTEES[g])
            and all(counts.get(c, 0) >= n for c, n in exp.finds.items())
            and not any(counts.get(c) for c in exp.absent))


@pytest.mark.parametrize("profile", STEPS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_matrix_and_suite_decide_the_cell_alike(family: str, profile: str) -> None:
    exp = EXPECTED[(family, profile)]
    by_matrix = cell_scenario(profile, family).expectations
    assert by_matrix == Expectations(exp.holds, exp.finds, exp.absent)
    for proxy in ("embedded", "toxiproxy", "auto"):
        assert suite_expectations(family, profile, proxy) == by_matrix
    by_suite = suite_expectations(family, profile, "auto")
    for counts, unknown in crafted(exp):
        v = verdict(counts, unknown)
        for quiet in (True, False):
            for untriggered in ((), ("disconnect@c2",)):
                matrix = decide(v, by_matrix, quiet_reached=quiet, untriggered=untriggered)
                suite = decide(v, by_suite, quiet_reached=quiet, untriggered=untriggered)
                assert matrix == suite, (family, profile, counts, unknown, quiet, untriggered)
        if not unknown:
            assert decide(v, by_matrix).passed == written_rule(exp, counts), (family, profile, counts)
    assert decide(verdict(dict(exp.finds)), by_matrix).passed


def test_the_cells_are_all_there() -> None:
    assert len(EXPECTED) == 17 * 6, "9 single-node and 8 multi-node families x 5 steps and the durable page"
