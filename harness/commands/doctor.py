"""`sio-harness doctor TARGET`: start the target's server and say, in a few seconds, which step it behaves like.

One line per check (harness/doctor.py has the probes), then the step reached and the command that runs its
column. Exit 0 when the server reaches the step its target file claims, 1 when not, 2 on a bad target file
or a server that does not start (its last log lines are shown). Everything it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness.doctor import Check, Diagnosis, Doctor, read_target_state, serve
from harness.errors import HarnessError, ProcessStartError
from harness.steps import STEPS
from harness.targetfile import TargetSpec, load_target

MARKS = {"ok": "ok  ", "fail": "FAIL", "skip": "--  "}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="the target file (see docs/targets.md)")
    parser.add_argument("--postgres", metavar="DSN", default=os.environ.get("SIO_HARNESS_POSTGRES_DSN"),
                        help="a PostgreSQL role that may create databases, for `database: postgres` "
                             "(default: $SIO_HARNESS_POSTGRES_DSN)")
    parser.add_argument("--keep", action="store_true", help="keep the doctor's folder (server log, database)")


def _print(check: Check) -> None:
    print(f"  {MARKS[check.status]} {check.name:<10} {check.text}", flush=True)


async def run(args: argparse.Namespace) -> int:
    spec = load_target(args.target)
    print(f"sio-harness doctor: {spec.name} (claims {spec.step}) from {args.target}", flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix="sio-harness-doctor-"))
    started_at = time.monotonic()
    try:
        diagnosis = await _diagnose(spec, run_dir, args.postgres)
    finally:
        if args.keep:
            print(f"  kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    diagnosis.seconds = time.monotonic() - started_at
    return _conclude(diagnosis, args.target)


async def _diagnose(spec: TargetSpec, run_dir: Path, postgres: str | None) -> Diagnosis:
    began = time.monotonic()
    try:
        async with serve(spec, run_dir, postgres) as started:
            if started.process is not None:
                _print(Check("start", "ok", f"`{' '.join(started.process.argv)}` is ready at {started.url} "
                                            f"({time.monotonic() - began:.1f} s, pid {started.process.pid})"))
            else:
                _print(Check("start", "skip", f"not started by the harness: {started.url}"))
            doctor = Doctor(spec, started.url, _print)
            return await doctor.run(lambda: read_target_state(spec, started))
    except ProcessStartError as exc:
        raise HarnessError(f"start: {exc}") from None


def _conclude(diagnosis: Diagnosis, target: str) -> int:
    behaves = diagnosis.behaves
    claimed = diagnosis.claimed
    if behaves is None:
        print(f"behaves like: no step (its messages do not come back as described); claims {claimed}")
        print(f"fix the protocol description in {target}, then run `sio-harness doctor {target}` again")
        return 1
    print(f"behaves like: {behaves} (claims {claimed}; {diagnosis.seconds:.1f} s)")
    if diagnosis.reached:
        if STEPS.index(behaves) > STEPS.index(claimed):
            print(f"it does more than it claims: set \"step\": \"{behaves}\" to hold it to that")
        print(f"run its column: sio-harness matrix --target {target}")
        return 0
    if not diagnosis.features.get("state", True):
        print(f"the claimed step is reached, but the harness cannot read the state: fix \"state\" in {target}")
    else:
        print(f"the claimed step {claimed} is NOT reached: fix the server (the FAIL lines say where), or set "
              f"\"step\": \"{behaves}\" and run its column: sio-harness matrix --target {target}")
    return 1
