"""Run reports: verdict.json, junit.xml and report.html; the HTML is inert whatever the messages say."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import orjson
from checkers_support import Story

from harness.checkers import Verdict, check_run_dir
from harness.checkers.synthetic import write_synthetic
from harness.report import timeline, write_run_report
from harness.scenario import resolve

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    """Every start tag with its attributes, and all text, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


def save(folder: Path, s: Story, scenario: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in s.events))
    (folder / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in s.rows))
    if scenario is not None:
        (folder / "scenario.json").write_bytes(orjson.dumps(scenario))
    return folder


def hostile_run() -> Story:
    """User data everywhere a report shows it: contents, a foreign row, a phantom, a fault target."""
    s = Story().start("c1").start("c2")
    s.invoke("c1:1")
    rid = s.store("c1:1", f"c1:1 {SCRIPT}")
    s.ack("c1:1")
    s.recv("c1", rid).recv("c2", rid)
    foreign = s.store(None, f"{IMG}{SCRIPT}")
    s.recv("c1", foreign)
    s.invoke("c2:1").ack("c2:1")  # lost
    s.ev("c1", "ok", "recv", id=None, server_offset=None, csr_offset=None, content=f"{IMG} spoof")
    s.ev("nemesis", "info", "fault", fault=f"partition{IMG}", target=f"c2{SCRIPT}")
    s.ev("nemesis", "info", "heal", fault=f"partition{IMG}", target=f"c2{SCRIPT}")
    return s.end("c1", "c2")


def test_the_report_of_a_hostile_run_is_inert(tmp_path: Path) -> None:
    folder = save(tmp_path / "run-xss", hostile_run(),
                  {"name": f"evil {SCRIPT}", "seed": IMG, "description": IMG})
    verdict = check_run_dir(folder)
    assert verdict.counts["phantom"] == 1 and verdict.counts["unexpected"] == 1
    write_run_report(folder, verdict, None)
    html = (folder / "report.html").read_text()
    tags = parse(html)
    names = [tag for tag, _ in tags.tags]
    assert "script" not in names and "img" not in names
    assert not [(tag, a) for tag, attrs in tags.tags for a in attrs if a.lower().startswith("on")]
    text = "".join(tags.text)
    assert SCRIPT in text and IMG in text  # shown to the reader, as text
    junit = ET.fromstring((folder / "junit.xml").read_bytes())
    assert junit.find("testsuite/testcase").get("classname") == f"sio-harness.evil {SCRIPT}"


def test_every_run_folder_gets_its_three_files(tmp_path: Path) -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.invoke("c1:2").ack("c1:2")
    folder = save(tmp_path / "run-1", s.end("c1"))
    verdict = check_run_dir(folder, ["exactly-once", "ordered"])
    write_run_report(folder, verdict, {"name": "lost one"})
    assert Verdict.from_json((folder / "verdict.json").read_bytes()) == verdict
    suite = ET.fromstring((folder / "junit.xml").read_bytes()).find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"guarantee exactly-once", "guarantee ordered"}
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = cases["guarantee exactly-once"].find("failure")
    assert failure.get("message") == "exactly-once violated: 1 lost" and "c1:2" in failure.text
    assert cases["guarantee ordered"].find("failure") is None
    html = (folder / "report.html").read_text()
    assert "FAIL" in html and "c1:2" in html and "lost one" in html


def test_expected_violations_are_junit_testcases_too(tmp_path: Path) -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    folder = save(tmp_path / "run-2", s.end("c1"),
                  {"name": "mutant", "expectations": {"guarantees": [], "violations": {"duplicated": 1}}})
    verdict = check_run_dir(folder)
    write_run_report(folder, verdict, None)
    case = ET.fromstring((folder / "junit.xml").read_bytes()).find("testsuite/testcase")
    assert case.get("name") == "finds duplicated >= 1"
    assert case.find("failure").get("message") == "expected at least 1 duplicated, found 0"


def test_the_runners_scenario_object_is_accepted(tmp_path: Path) -> None:
    s = Story().start("c1")
    folder = save(tmp_path / "run-3", s.end("c1"))
    write_run_report(folder, check_run_dir(folder), resolve({"name": "from-the-runner", "seed": 1}))
    assert "from-the-runner" in (folder / "report.html").read_text()


def test_a_large_run_is_aggregated_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "run-big"
    write_synthetic(folder, clients=6, messages=1200, seed=2, loss=0.01, miss=0.01)
    verdict = check_run_dir(folder)
    assert verdict.events > timeline.MARK_LIMIT
    write_run_report(folder, verdict, None)
    html = (folder / "report.html").read_text()
    assert "aggregated" in html and f"{verdict.events:,} events" in html
    tags = parse(html)
    # Marks are bucketed: a few paths per lane and band, not one element per event.
    elements = len(tags.tags)
    assert elements < 1000 and html.count('class="recv"') == 0
    # ...while every lost and missed message is still drawn and listed.
    titles = html.count("<title>lost: ") + html.count("<title>missed: ")
    assert titles == verdict.counts["lost"] + verdict.counts["missed"] > 0


def test_a_small_run_draws_every_mark(tmp_path: Path) -> None:
    folder = tmp_path / "run-small"
    synthetic = write_synthetic(folder, clients=3, messages=60, seed=1, fault=True, refresh=False)
    verdict = check_run_dir(folder)
    write_run_report(folder, verdict, None)
    html = (folder / "report.html").read_text()
    assert "aggregated" not in html
    assert html.count('class="send"') == 60
    assert html.count('class="fault"') == 1 and "partition on c2" in html
    assert synthetic.events == verdict.events
