"""`sio-harness`: the command line. Each subcommand lives in the module of its idea.

A command module exposes `add_arguments(parser)` and `run(args) -> int` (which may be a coroutine
function). Modules are imported only when their command runs, so `sio-harness check` never pays for
starting proxies. Exit codes (`harness.outcome`): 0 expectations met, 1 a violation or unmet expectation,
2 bad usage or configuration (one line on stderr, no traceback), 3 inconclusive (evidence missing).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Sequence

from harness.errors import HarnessError
from harness.librarylog import keep_off_terminal

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("harness.commands.serve", "run the reference chat server in the foreground"),
    "proxy": ("harness.proxy.command", "run the embedded Toxiproxy-compatible proxy"),
    "run": ("harness.commands.run", "run one scenario (a file or a bundled name) and check it"),
    "replay": ("harness.commands.replay", "re-run a saved run folder, or re-check it with --check-only"),
    "list": ("harness.commands.list", "list the bundled scenarios"),
    "known": ("harness.commands.known", "the catalogue of reported Socket.IO bugs this harness reproduces"),
    "validate": ("harness.commands.validate", "check scenario files against the schema"),
    "init": ("harness.commands.init", "write a starter target file describing your server"),
    "doctor": ("harness.commands.doctor", "start a target's server and name the tutorial step it behaves like"),
    "check": ("harness.commands.check", "judge a saved run (folder, or history + rows) and print the verdict"),
    "report": ("harness.report.command", "rebuild run reports, index.html and summary.md from saved runs"),
    "matrix": ("harness.commands.matrix", "the tutorial's profiles against the fault families"),
    "demo": ("harness.commands.demo", "run the bundled scenarios on embedded defaults (make demo)"),
    "explore": ("harness.commands.explore", "property-based chaos: search a step (or mutant) for a violation"),
    "soak": ("harness.commands.soak", "N consecutive runs under the full fault mix; count false alarms"),
    "bench": ("harness.commands.bench", "measure performance: checker, proxy, run, load, memory, suite"),
    "setup": ("harness.commands.setup", "install what a driver needs outside Python (node: socket.io-client)"),
}


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    """All commands are listed, but only the chosen one's module is imported: importing every command
    (aiohttp, socketio, hypothesis, the proxy) would cost `check` or `list` half a second of start-up."""
    parser = argparse.ArgumentParser(
        prog="sio-harness",
        description="Prove which delivery guarantee a Socket.IO app keeps under real faults.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    keep_off_terminal()
    try:
        runner = importlib.import_module(args._module).run
        result = runner(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except HarnessError as exc:
        print(f"sio-harness {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sio-harness {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
