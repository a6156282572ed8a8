"""`sio-harness check`: judge a saved run and print the verdict.

    sio-harness check reports/<run-id>            # a run folder
    sio-harness check history.jsonl rows.jsonl    # a history and the final rows
    sio-harness check RUN --expect at-least-once --expect ordered

Exit 0 when the expectations hold, 1 when they do not, 3 when the evidence cannot say (the verdict is
inconclusive: nobody judged at the end, the run never became quiet, ...), 2 for a missing or malformed
file. The outcome is `harness.outcome.decide`'s, as for every other command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.checkers.files import check_files, check_run_dir, load_scenario
from harness.checkers.verdict import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Verdict
from harness.expectations import GUARANTEES, Expectations
from harness.history import HistoryError
from harness.outcome import Outcome, decide, decide_saved, observed
from harness.runfolder import RunFolder

_SHOWN_IDS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a run folder, or HISTORY ROWS (history.jsonl and rows.jsonl)")
    parser.add_argument("--expect", action="append", metavar="GUARANTEE", default=None,
                        help=f"a guarantee that must hold ({', '.join(GUARANTEES)}); repeat or "
                             "comma-separate; default: the scenario's expectations, else exactly-once")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def run(args: argparse.Namespace) -> int:
    given = None
    if args.expect:
        given = Expectations.of([g.strip() for item in args.expect for g in item.split(",") if g.strip()])
    if len(args.paths) == 1:
        folder = RunFolder(args.paths[0])
        expected = given or (Expectations.from_scenario(load_scenario(folder.path))
                             if folder.path.is_dir() else Expectations())
        verdict = check_run_dir(folder.path, expected)
        outcome = decide_saved(verdict, expected, folder.read_run())
    elif len(args.paths) == 2:
        expected = given or Expectations()
        verdict = check_files(Path(args.paths[0]), Path(args.paths[1]), expected)
        outcome = decide(verdict, expected)
    else:
        raise HistoryError("give a run folder, or a history file and a rows file")
    if args.json:
        sys.stdout.write(verdict.to_json() + "\n")
    else:
        print_verdict(verdict, outcome, expected, Console())
    return outcome.exit_code


_HEADLINE = {"pass": (" PASS ", "bold white on green"), "fail": (" FAIL ", "bold white on red"),
             "inconclusive": (" INCONCLUSIVE ", "bold black on yellow")}


def print_verdict(verdict: Verdict, outcome: Outcome, expected: Expectations, console: Console) -> None:
    """The verdict for a terminal: headline, guarantees, counts, offending ids, latencies."""
    if expected.empty and outcome.passed:
        console.print(Text(observed(verdict)))
    elif outcome.passed:
        console.print(Text(*_HEADLINE["pass"]), Text(f"expected: {', '.join(verdict.expected)}"))
    else:
        console.print(Text(*_HEADLINE[outcome.status]), Text("; ".join(outcome.reasons)))
    console.print(Text(f"{verdict.events} events, {verdict.messages} messages, {verdict.rows} rows, "
                       f"{verdict.duration_ms / 1000:.1f} s", style="dim"))

    table = Table(title="Guarantees", title_justify="left")
    table.add_column("guarantee")
    table.add_column("held")
    table.add_column("expected")
    for name, held in verdict.guarantees.items():
        mark = Text("inconclusive", style="yellow") if held is None else \
            Text("yes" if held else "NO", style="green" if held else "red")
        table.add_row(Text(name), mark, Text("yes" if name in verdict.expected else ""))
    console.print(table)

    counts = verdict.counts
    table = Table(title="Anomalies", title_justify="left")
    table.add_column("direction")
    table.add_column("category")
    table.add_column("count", justify="right")
    table.add_column("offending messages")
    for direction, names in (("client->server", CLIENT_TO_SERVER), ("server->client", SERVER_TO_CLIENT)):
        for name in names:
            table.add_row(Text(direction), Text(name), Text(str(counts[name]),
                          style="red" if counts[name] and name != "recovered" else ""),
                          Text(_ids_of(verdict, name)))
    console.print(table)

    for kind in ("ack", "delivery"):
        stats = verdict.latency.get(kind, {})
        if not stats:
            continue
        table = Table(title=f"Latency send -> {kind} (ms)", title_justify="left")
        for col in ("client", "count", "p50", "p95", "p99", "max"):
            table.add_column(col, justify="left" if col == "client" else "right")
        for client, s in stats.items():
            table.add_row(Text(client), str(s.count), f"{s.p50_ms:.2f}", f"{s.p95_ms:.2f}",
                          f"{s.p99_ms:.2f}", f"{s.max_ms:.2f}")
        console.print(table)

    if verdict.recoveries:
        table = Table(title="Recovery after each heal", title_justify="left")
        for col in ("fault", "target", "healed at (s)", "recovered after (ms)"):
            table.add_column(col)
        for r in verdict.recoveries:
            table.add_row(Text(r.fault), Text(r.target), f"{r.healed_ms / 1000:.2f}",
                          "never" if r.recovery_ms is None else f"{r.recovery_ms:.1f}")
        console.print(table)
    for proc, reason in verdict.unchecked_lineages.items():
        console.print(Text(f"not judged for missed: {proc} ({reason})", style="dim"))
    for reason in verdict.inconclusive:
        console.print(Text(f"inconclusive: {reason}", style="yellow"))
    for note in verdict.notes:
        console.print(Text(note, style="yellow"))


def _ids_of(verdict: Verdict, name: str) -> str:
    if name in CLIENT_TO_SERVER:
        ids = verdict.client_to_server.get(name, [])
    else:
        ids = [f"{proc}: {mid}" for proc, per in verdict.server_to_client.items()
               for mid in per.get(name, [])]
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" ... (+{len(ids) - _SHOWN_IDS})" if len(ids) > _SHOWN_IDS else "")
