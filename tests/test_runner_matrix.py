"""`sio-harness matrix` on a small slice: the table, the HTML page, exit codes."""

from __future__ import annotations

import asyncio

from harness.cli import main
from harness.commands.matrix import FAMILIES, cell_scenario
from harness.scenario import PROFILES


def test_every_cell_scenario_resolves():
    for profile in PROFILES:
        for family in FAMILIES:
            scenario = cell_scenario(profile, family)
            assert scenario.target.profile == profile
            assert [f.kind for f in scenario.faults] == [f["kind"] for f in FAMILIES[family]]


async def test_matrix_slice(tmp_path, capsys):
    args = ["matrix", "--profiles", "baseline,exactly-once", "--faults", "none,ack_drop",
            "--reports", str(tmp_path), "--strict"]
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out
    assert "no acks at this step" in out
    (folder,) = tmp_path.glob("matrix-*")
    page = (folder / "index.html").read_text()
    assert page.count('class="ok"') == 3 and page.count('class="na"') == 1
    assert len(list(folder.glob("*/report.html"))) == 3


def test_matrix_rejects_unknown_names(capsys):
    assert main(["matrix", "--faults", "meteor"]) == 2
    assert "unknown fault family meteor" in capsys.readouterr().err
