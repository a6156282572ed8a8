"""The suite's index.html and summary.md, and `sio-harness report DIR` rebuilding them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from checkers_support import Story

from harness.checkers import check_run_dir
from harness.cli import main
from harness.report import write_run_report, write_suite_index

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>|`'


def save(folder: Path, s: Story, name: str, expectations: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "history.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in s.events))
    (folder / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in s.rows))
    scenario = {"name": name, **({"expectations": expectations} if expectations else {})}
    (folder / "scenario.json").write_bytes(orjson.dumps(scenario))
    return folder


def clean() -> Story:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    return s.end("c1")


def lossy() -> Story:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.invoke("c1:2").ack("c1:2")
    return s.end("c1")


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    save(root / "run-a", clean(), "clean run")
    save(root / "run-b", lossy(), EVIL)
    return root


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]
        assert not [k for k, _ in attrs if k.startswith("on")]


def test_the_report_command_rebuilds_everything(reports: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(reports)]) == 1  # run-b breaks exactly-once
    for run in ("run-a", "run-b"):
        for name in ("verdict.json", "junit.xml", "report.html"):
            assert (reports / run / name).is_file()
    links = Links()
    links.feed((reports / "index.html").read_text())
    assert links.hrefs == ["run-a/report.html", "run-b/report.html"]
    assert "script" not in links.tags and "img" not in links.tags
    summary = (reports / "summary.md").read_text()
    assert summary.startswith("## sio-harness: 1/2 runs met their expectations")
    row_b = next(line for line in summary.splitlines() if "run-b" in line)
    assert "**FAIL**" in row_b and "<script>" not in row_b and "&lt;script&gt;" in row_b
    assert row_b.count(" | ") == summary.splitlines()[2].count(" | ")  # the pipe did not split a cell
    assert "exactly-once violated: 1 lost" in row_b
    assert "PASS" in capsys.readouterr().out


def test_saved_verdicts_are_kept_unless_rechecked(reports: Path) -> None:
    folder = reports / "run-b"
    verdict = check_run_dir(folder, ["ordered"])  # a verdict judged against another expectation
    write_run_report(folder, verdict, None)
    assert main(["report", str(reports)]) == 0
    assert main(["report", str(reports), "--recheck"]) == 1


def test_write_suite_index_returns_the_index_and_skips_unreadable_verdicts(reports: Path) -> None:
    main(["report", str(reports)])
    (reports / "run-c").mkdir()
    (reports / "run-c" / "verdict.json").write_text('{"old": "format"}')
    index = write_suite_index(reports)
    assert index == reports / "index.html"
    html = index.read_text()
    assert "run-c: unreadable verdict.json" in html and "1/2" in html


def test_report_on_a_missing_or_empty_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("sio-harness report: ") for line in err)


def test_the_summary_reads_the_runs_outcome_not_the_verdict_alone(tmp_path: Path) -> None:
    # A verdict with nothing wrong in it, of a run that never became quiet: not a pass.
    root = tmp_path / "reports"
    folder = save(root / "run-q", clean(), "never quiet", {"guarantees": ["exactly-once"]})
    (folder / "run.json").write_bytes(orjson.dumps({"quiet": {"reached": False}, "untriggered": []}))
    write_run_report(folder, check_run_dir(folder))
    write_suite_index(root)
    summary = (root / "summary.md").read_text()
    assert summary.startswith("## sio-harness: 0/1 runs met their expectations")
    row = next(line for line in summary.splitlines() if "run-q" in line)
    assert "**INCONCLUSIVE**" in row and "did not become quiet" in row and "PASS" not in row
    assert "INCONCLUSIVE" in (folder / "report.html").read_text()
    failures = [f.get("type") for f in ET.fromstring((folder / "junit.xml").read_bytes()).iter("failure")]
    assert failures == ["Inconclusive"]
    # The outcome the runner recorded wins over anything re-derived.
    (folder / "run.json").write_bytes(orjson.dumps({"outcome": {"status": "fail", "reasons": ["recorded"]}}))
    write_suite_index(root)
    assert "| **FAIL** |" in (root / "summary.md").read_text()
