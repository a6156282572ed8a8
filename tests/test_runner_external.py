"""An external target started by a command line: the Node.js tutorial server in tests/node_server/."""

from __future__ import annotations

from pathlib import Path

from harness import runner
from harness.history import read_history
from harness.scenario import resolve


def node_scenario(server: Path, **extra) -> dict:
    return {"name": "node-tutorial", "seed": 2,
            "target": {"kind": "external", "command": ["node", str(server), "--port", "{port}", "--db", "{db_path}"],
                       "ready": {"http": "/health"}, "sqlite_path": "{db_path}"},
            "clients": {"count": 2, "ack_timeout": 0.5, "retries": 5}, "workload": {"messages": 20},
            **extra}


async def test_node_server_keeps_exactly_once_under_a_lost_ack(tmp_path, node_server):
    scenario = resolve(node_scenario(
        node_server,
        faults=[{"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 3}}}],
        expectations={"guarantees": ["exactly-once"]}))
    result = await runner.run_scenario(scenario, tmp_path)
    assert result.passed, result.outcome.reasons
    assert result.verdict.rows == 40
    retried = [e for e in read_history(result.run_dir / "history.jsonl")
               if e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1]
    assert retried, "the dropped ack must have made the client retry"


async def test_node_server_survives_a_crash_and_restart_on_the_same_port(tmp_path, node_server):
    scenario = resolve(node_scenario(
        node_server,
        workload={"messages": 30, "rate": 60},
        clients={"count": 2, "ack_timeout": 0.5, "retries": 10},
        faults=[{"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 10}}, "duration": 0.2}],
        expectations={"guarantees": ["at-least-once"]}))
    result = await runner.run_scenario(scenario, tmp_path)
    assert result.passed, result.outcome.reasons
    starts = [e["value"]["pid"] for e in read_history(result.run_dir / "history.jsonl")
              if e["proc"] == "server" and e["f"] == "start"]
    assert len(starts) == 2 and starts[0] != starts[1]
