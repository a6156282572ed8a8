"""Replay fidelity: a failing run replayed N times gives the same verdict how many times (target >= 19/20).

"The same verdict" means: the replay fails too, breaks the same guarantees and finds violations in the
same categories (counts may differ, e.g. 14 or 15 missed messages). The number of replays that also
match every count exactly is printed beside it.

By default the failing run is made first: the csr step under a server crash, held to at-least-once, which
it breaks (the crash takes CSR's sessions with it: `missed`). `--run-dir` replays an existing run folder.

    python benchmarks/bench_replay_fidelity.py [--replays 20] [--run-dir reports/<run-id>]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.guarantees import cell_data
from harness.runfolder import RunFolder
from harness.runner import RunResult, run_scenario
from harness.scenario import resolve


def signature(result: RunResult) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    verdict = result.verdict
    broken = tuple(sorted(g for g, held in verdict.guarantees.items() if held is False))
    found = tuple(sorted(c for c, n in verdict.counts.items() if n and c != "recovered"))
    return result.passed, broken, found


async def main(replays: int, run_dir: Path | None, reports: Path) -> int:
    if run_dir is None:
        data = cell_data("server_crash", "csr")
        data["name"] = "fidelity-csr-server-crash"
        data["expectations"] = {"guarantees": ["at-least-once"]}
        original = await run_scenario(resolve(data), reports)
        if original.passed:
            print("the original run did not fail; nothing to replay")
            return 1
        run_dir = original.run_dir
        counts = original.verdict.counts
        want = signature(original)
    else:
        from harness.checkers.verdict import Verdict
        from harness.outcome import saved_outcome

        folder = RunFolder(run_dir)
        verdict = Verdict.from_json(folder.verdict.read_bytes())
        counts = verdict.counts
        want = (saved_outcome(verdict, folder.read_run()).passed,
                tuple(sorted(g for g, h in verdict.guarantees.items() if h is False)),
                tuple(sorted(c for c, n in counts.items() if n and c != "recovered")))
    scenario = resolve(json.loads(RunFolder(run_dir).scenario.read_text()))
    print(f"failing run {run_dir.name}: broken {', '.join(want[1])}; found {', '.join(want[2])}")
    same = exact = 0
    for i in range(replays):
        result = await run_scenario(scenario, reports)
        got = signature(result)
        same += got == want
        exact += got == want and result.verdict.counts == counts
        print(f"replay {i + 1}/{replays}: {'same' if got == want else 'DIFFERENT'} verdict "
              f"{ {c: n for c, n in result.verdict.counts.items() if n} }", flush=True)
    print(f"same verdict in {same} of {replays} replays (target >= {replays - replays // 20}); "
          f"identical counts in {exact} of {replays}")
    return 0 if same >= replays - replays // 20 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--reports", type=Path, default=None, help="where replays go (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        sys.exit(asyncio.run(main(args.replays, args.run_dir, args.reports or Path(tmp))))
