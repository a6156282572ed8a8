"""`python -m reference_server`: the reference chat server in the foreground."""

import argparse
import sys

from harness.errors import HarnessError
from reference_server.command import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_server",
        description="The Socket.IO tutorial's chat server, its delivery steps as profiles.")
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return run(args)
    except HarnessError as exc:
        print(f"reference_server: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
