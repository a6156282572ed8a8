"""`junit.xml` for CI: one testcase per expectation the run was checked against, each decided by
`harness.outcome.decide` alone, and one more for run-level evidence (quiet, faults) when it is missing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from harness.checkers.verdict import GUARANTEES, Verdict
from harness.expectations import Expectations
from harness.outcome import Outcome, decide

_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SHOWN = 200


def junit_xml(run_id: str, verdict: Verdict, scenario: dict[str, Any] | None,
              outcome: Outcome | None = None) -> bytes:
    """A JUnit document; ElementTree escapes every text and attribute, `_clean` drops what XML forbids."""
    name = _clean(str((scenario or {}).get("name") or run_id))
    counts = verdict.counts
    cases: list[tuple[str, Outcome, str]] = []
    for guarantee in verdict.expected:
        failing = [c for c in GUARANTEES[guarantee] if counts[c]]
        cases.append((f"guarantee {guarantee}", decide(verdict, Expectations((guarantee,))),
                      _offenders(verdict, failing)))
    for category, minimum in verdict.expected_violations.items():
        cases.append((f"finds {category} >= {minimum}", decide(verdict, Expectations((), {category: minimum})),
                      _offenders(verdict, [category])))
    for category in verdict.expected_absent:
        cases.append((f"no {category}", decide(verdict, Expectations((), absent=(category,))),
                      _offenders(verdict, [category])))
    if verdict.expected_recovery is not None:
        wanted = verdict.expected_recovery
        cases.append((f"reconnects with recovered={str(wanted['recovered']).lower()} >= {wanted['min']}",
                      decide(verdict, Expectations((), recovery=wanted)), f"reconnects: {verdict.reconnects}"))
    said = {r for _, o, _ in cases for r in o.reasons}
    rest = [r for r in (outcome.reasons if outcome else []) if r not in said]
    if rest:
        cases.append(("run evidence", Outcome("inconclusive", rest), ""))
    if not cases:
        cases.append(("verdict recorded (no expectation)", Outcome("pass"), ""))
    suite = ET.Element("testsuite", name=f"sio-harness.{_clean(run_id)}", tests=str(len(cases)),
                       failures=str(sum(1 for _, o, _ in cases if not o.passed)), errors="0",
                       time=f"{verdict.duration_ms / 1000:.3f}")
    for case_name, case_outcome, details in cases:
        case = ET.SubElement(suite, "testcase", classname=f"sio-harness.{name}", name=case_name,
                             time=f"{verdict.duration_ms / 1000:.3f}")
        if not case_outcome.passed:
            kind = "DeliveryViolation" if case_outcome.status == "fail" else "Inconclusive"
            failure = ET.SubElement(case, "failure", message=_clean("; ".join(case_outcome.reasons)), type=kind)
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
