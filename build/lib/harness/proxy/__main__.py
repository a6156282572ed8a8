"""`python -m harness.proxy`: the same as `sio-harness proxy`, without loading the other commands."""

import argparse
import sys

from harness.errors import HarnessError
from harness.proxy import command

parser = argparse.ArgumentParser(prog="python -m harness.proxy", description=command.__doc__)
command.add_arguments(parser)
args = parser.parse_args()
try:
    sys.exit(command.run(args))
except HarnessError as exc:
    print(f"sio-harness proxy: {exc}", file=sys.stderr)
    sys.exit(2)
except KeyboardInterrupt:
    sys.exit(130)
