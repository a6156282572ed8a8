"""`sio-harness check`: judge a saved run and print the verdict.

    sio-harness check reports/<run-id>            # a run folder
    sio-harness check history.jsonl rows.jsonl    # a history and the final rows
    sio-harness check RUN --expect at-least-once --expect ordered

Exit 0 when the expectations hold, 1 when they do not, 2 for a missing or malformed file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.checkers.files import check_files, check_run_dir
from harness.checkers.verdict import (
    CLIENT_TO_SERVER,
    GUARANTEES,
    SERVER_TO_CLIENT,
    Expectations,
    Verdict,
)
from harness.history import HistoryError

_SHOWN_IDS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a run folder, or HISTORY ROWS (history.jsonl and rows.jsonl)")
    parser.add_argument("--expect", action="append", metavar="GUARANTEE", default=None,
                        help=f"a guarantee that must hold ({', '.join(GUARANTEES)}); repeat or "
                             "comma-separate; default: the scenario's expectations, else exactly-once")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def run(args: argparse.Namespace) -> int:
    expected = None
    if args.expect:
        expected = Expectations.of([g.strip() for item in args.expect for g in item.split(",")
                                    if g.strip()])
    if len(args.paths) == 1:
        verdict = check_run_dir(Path(args.paths[0]), expected)
    elif len(args.paths) == 2:
        verdict = check_files(Path(args.paths[0]), Path(args.paths[1]), expected)
    else:
        raise HistoryError("give a run folder, or a history file and a rows file")
    if args.json:
        sys.stdout.write(verdict.to_json() + "\n")
    else:
        print_verdict(verdict, Console())
    return 0 if verdict.passed else 1


def print_verdict(verdict: Verdict, console: Console) -> None:
    """The verdict for a terminal: headline, guarantees, counts, offending ids, latencies."""
    failures = verdict.failures
    if failures:
        console.print(Text(" FAIL ", style="bold white on red"), Text("; ".join(failures)))
    else:
        met = ", ".join(verdict.expected) or "no guarantee expected"
        console.print(Text(" PASS ", style="bold white on green"), Text(f"expected: {met}"))
    console.print(Text(f"{verdict.events} events, {verdict.messages} messages, {verdict.rows} rows, "
                       f"{verdict.duration_ms / 1000:.1f} s", style="dim"))

    table = Table(title="Guarantees", title_justify="left")
    table.add_column("guarantee")
    table.add_column("held")
    table.add_column("expected")
    for name, held in verdict.guarantees.items():
        table.add_row(Text(name), Text("yes" if held else "NO", style="green" if held else "red"),
                      Text("yes" if name in verdict.expected else ""))
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
        console.print(Text(f"not judged for server->client delivery: {proc} ({reason})", style="dim"))
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
