"""`sio-harness serve`: the reference server's own command line, run in the foreground.

The reference server stands alone and raises its own `ServerError`; here it becomes a `HarnessError`, so
the CLI prints it as its one line with exit code 2, as for every other command.
"""

from __future__ import annotations

import argparse

from harness.errors import HarnessError
from reference_server import command
from reference_server.errors import ServerError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        return command.run(args)
    except ServerError as exc:
        raise HarnessError(str(exc)) from None
