"""`sio-harness known`: the catalogue of reported bugs, its statuses and installed versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import known


def test_names_lists_the_scenarios_of_the_reproduced_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["known", "--names"]) == 0
    names = capsys.readouterr().out.split()
    reproduced = [r for r in known.catalogue() if r.status == "reproduced"]
    assert len(names) == len(reproduced) >= 6
    assert "known/zero-event-recovery" in names and "known/recovery-twice" not in names


def test_the_table_names_every_report_and_its_status(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["known", "--why"]) == 0
    out = capsys.readouterr().out
    for report in known.catalogue():
        assert report.reference in out
        assert known.status_text(report).split(" with ")[0] in out


def test_status_says_the_installed_version_or_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    report = known.Report(repository="o/r", issue=1, title="t", affected="x 1", package="no-such-package-here",
                          status="reproduced")
    assert known.status_text(report) == "reproduced with no-such-package-here (not installed: make known-setup)"
    monkeypatch.setattr(known, "installed_version", lambda package: "4.8.4")
    assert known.status_text(report) == "reproduced with no-such-package-here 4.8.4"


def test_a_bad_catalogue_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "catalogue.json"
    bad.write_text(json.dumps({"reports": [{"repository": "o/r", "issue": 1, "title": "t", "affected": "a",
                                            "package": "p", "status": "maybe"}]}))
    monkeypatch.setattr(known, "catalogue_path", lambda: bad)
    assert main(["known"]) == 2
    err = capsys.readouterr().err
    assert "status 'maybe'" in err and len(err.strip().splitlines()) == 1
