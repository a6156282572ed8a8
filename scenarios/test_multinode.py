"""Two nodes over Redis (docs/multinode.md): node crash (with the step's broadcast, and with the tutorial's
AsyncRedisManager broadcast at every step), restart (sessions in node memory or in Redis), pause, Redis
outage, Redis restart and a deaf node, against every tutorial step. `pytest -m multinode`.

Each cell's expectation and finding is in harness.guarantees (`MULTINODE`); the tests below add what a
cell's counts cannot say: where the missed deliveries were (per node) and whether a client recovered
its session on the other node.
"""

import os

import pytest

from harness.checkers.nodes import per_node
from harness.checkers.verdict import Verdict
from harness.guarantees import MULTINODE
from harness.history import read_history
from harness.redis import redis_available
from harness.runner import RunResult
from harness.steps import STEPS

pytestmark = pytest.mark.multinode


@pytest.fixture(autouse=True)
def _redis() -> None:
    if redis_available():
        return
    message = "several nodes need redis-server on PATH, $REDIS_BIN or $REDIS_URL"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _nodes(result: RunResult):
    verdict = Verdict.from_json((result.run_dir / "verdict.json").read_bytes())
    report = per_node(read_history(result.run_dir / "history.jsonl"), verdict)
    assert report is not None, "a multi-node run names the node of every connect"
    return report


def _failover_connects(result: RunResult) -> list[dict]:
    """The connects of n1's clients on n2 after the fault."""
    events = list(read_history(result.run_dir / "history.jsonl"))
    fault_t = next(e["t"] for e in events if e["f"] == "fault")
    homes = {e["proc"] for e in events if e["f"] == "connect" and e["type"] == "ok"
             and e["value"].get("node") == "n1" and e["t"] < fault_t}
    return [e["value"] for e in events if e["f"] == "connect" and e["type"] == "ok" and e["t"] > fault_t
            and e["proc"] in homes and e["value"].get("node") == "n2"]


@pytest.mark.parametrize("profile", STEPS)
@pytest.mark.parametrize("family", [f for f in MULTINODE if f != "deaf_node"])
async def test_multinode(family: str, profile: str, run_cell) -> None:
    result = await run_cell(family, profile)
    if family.startswith("node_") or family in ("pubsub_crash", "redis_sessions"):
        moved = _failover_connects(result)
        assert moved, f"n1's clients never connected to n2 under {family}"
        if family == "redis_sessions" and profile != "baseline":
            assert any(c["recovered"] for c in moved), "with sessions in Redis a client recovers on n2"
        elif family == "node_restart" and result.scenario.target.spec is None:
            # The reference server's memory store; an external target's adapter decides where sessions live
            # (tests/test_targets_multinode.py checks the Node.js examples' own promises).
            assert not any(c["recovered"] for c in moved), "sessions in node memory never move to n2"
        kind = MULTINODE[family].faults[0]["kind"]
        recoveries = [f for f in _nodes(result).faults if f.kind == kind]
        assert recoveries and recoveries[0].recovered_ms is not None


@pytest.mark.parametrize("profile", STEPS)
async def test_deaf_node(profile: str, run_cell) -> None:
    """Caught as missed deliveries on the deaf node's clients, and only there; at the exactly-once step the
    deaf node still reads every row from the database (reference_server/feed.py), so nobody misses any."""
    report = _nodes(await run_cell("deaf_node", profile))
    if profile == "exactly-once":
        assert report.nodes["n1"].missed == 0, f"the feed is deaf too: {report.nodes['n1']}"
    else:
        assert report.nodes["n1"].missed > 0
    assert report.nodes["n2"].missed == 0, f"n2 heard everything: {report.nodes['n2']}"
    (fault,) = report.faults
    assert fault.disconnected == [], "a deaf node drops no connection: nothing tells the clients"
