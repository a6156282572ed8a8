"""`sio-harness matrix` on a small slice: the table, the HTML page, exit codes."""

from __future__ import annotations

import asyncio

import orjson

from harness.cli import main
from harness.commands.matrix import cell_scenario
from harness.guarantees import EXPECTED, FAMILIES
from harness.steps import STEPS


def test_every_cell_is_the_guarantee_suites_cell():
    for profile in STEPS:
        for family, fam in FAMILIES.items():
            scenario = cell_scenario(profile, family, proxy="toxiproxy")
            assert scenario.target.profile == profile
            assert [f.kind for f in scenario.faults] == [f["kind"] for f in fam.faults_for(profile)]
            assert scenario.proxy == ("embedded" if fam.needs_frames(profile) else "toxiproxy")
            assert sorted(scenario.expectations.guarantees) == sorted(EXPECTED[(family, profile)].holds)


async def test_matrix_slice(tmp_path, capsys):
    args = ["matrix", "--profiles", "baseline,exactly-once", "--faults", "lost_ack",
            "--reports", str(tmp_path), "--strict", "--jobs", "2"]
    assert await asyncio.to_thread(main, args) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines to the captured terminal's width
    assert "2 cells: 0 break the tutorial's promise for their step; 0 differ from what the guarantee suite" in out
    (folder,) = tmp_path.glob("matrix-*")
    page = (folder / "index.html").read_text()
    # baseline promises at-most-once and keeps it when a sent EVENT is dropped; exactly-once dedupes the
    # retry after the lost ack: both cells keep their promise.
    assert page.count('class="ok"') == 2
    assert len(list(folder.glob("*/report.html"))) == 2
    # --jobs 2: the two cells ran at once (their histories share the harness's one monotonic clock).
    spans = []
    for history in folder.glob("*/history.jsonl"):
        times = [orjson.loads(line)["t"] for line in history.read_bytes().splitlines()]
        spans.append((times[0], times[-1]))
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_matrix_rejects_unknown_names(capsys):
    assert main(["matrix", "--faults", "meteor"]) == 2
    assert "unknown fault family meteor" in capsys.readouterr().err
