"""`junit.xml` for CI: one testcase per guarantee or violation the run was checked against."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from harness.checkers.verdict import GUARANTEES, Verdict

_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SHOWN = 200


def junit_xml(run_id: str, verdict: Verdict, scenario: dict[str, Any] | None) -> bytes:
    """A JUnit document; ElementTree escapes every text and attribute, `_clean` drops what XML forbids."""
    name = _clean(str((scenario or {}).get("name") or run_id))
    counts = verdict.counts
    cases: list[tuple[str, str | None, str]] = []
    for guarantee in verdict.expected:
        failing = [c for c in GUARANTEES[guarantee] if counts[c]]
        message = (f"{guarantee} violated: " + ", ".join(f"{counts[c]} {c}" for c in failing)
                   if failing else None)
        cases.append((f"guarantee {guarantee}", message, _offenders(verdict, failing)))
    for category, minimum in verdict.expected_violations.items():
        found = counts.get(category, 0)
        message = f"expected at least {minimum} {category}, found {found}" if found < minimum else None
        cases.append((f"finds {category} >= {minimum}", message, _offenders(verdict, [category])))
    if not cases:
        cases.append(("verdict recorded (no expectation)", None, ""))
    suite = ET.Element("testsuite", name=f"sio-harness.{_clean(run_id)}", tests=str(len(cases)),
                       failures=str(sum(1 for _, m, _ in cases if m)), errors="0",
                       time=f"{verdict.duration_ms / 1000:.3f}")
    for case_name, message, details in cases:
        case = ET.SubElement(suite, "testcase", classname=f"sio-harness.{name}", name=case_name,
                             time=f"{verdict.duration_ms / 1000:.3f}")
        if message:
            failure = ET.SubElement(case, "failure", message=_clean(message), type="DeliveryViolation")
            failure.text = _clean(details)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _offenders(verdict: Verdict, categories: list[str]) -> str:
    lines = []
    for category in categories:
        ids = list(verdict.client_to_server.get(category, []))
        ids += [f"{proc}/{mid}" for proc, per in verdict.server_to_client.items()
                for mid in per.get(category, [])]
        if ids:
            more = f" ... and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
            lines.append(f"{category} ({len(ids)}): {', '.join(ids[:_SHOWN])}{more}")
    return "\n".join(lines)


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
