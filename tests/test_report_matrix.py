"""The matrix page (harness/report/matrix.py): cells laid out as given, user text inert."""

from __future__ import annotations

from pathlib import Path

from test_report_run import IMG, SCRIPT, parse

from harness.report.matrix import MatrixCell, MatrixRow, write_matrix_page


def test_the_matrix_page_shows_every_cell_and_escapes_its_text(tmp_path: Path) -> None:
    hostile = MatrixCell(f"none{SCRIPT}", f"lost 1{IMG}", False, f'run"{IMG}/report.html', (f"note {SCRIPT}",))
    clean = MatrixCell("exactly-once", "clean", True, "run-2/report.html")
    rows = [MatrixRow(f"step{SCRIPT}", ("exactly-once",), (hostile, clean))]
    page = write_matrix_page(tmp_path / "matrix", [f"lost ack{IMG}", "restart"], rows)
    html = page.read_text()
    tags = parse(html)
    names = [tag for tag, _ in tags.tags]
    assert "script" not in names and "img" not in names
    assert not [(tag, a) for tag, attrs in tags.tags for a in attrs if a.lower().startswith("on")]
    assert [a["class"] for t, a in tags.tags if t == "td"] == ["broken", "ok"]
    assert [a["href"] for t, a in tags.tags if t == "a"] == [f'run"{IMG}/report.html', "run-2/report.html"]
    text = "".join(tags.text)
    for shown in (f"none{SCRIPT}", f"lost 1{IMG}", f"note {SCRIPT}", f"step{SCRIPT}", f"lost ack{IMG}",
                  "promise: exactly-once"):
        assert shown in text
