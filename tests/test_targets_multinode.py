"""External multi-node targets (docs/multinode.md, docs/targets.md): a target file with `nodes` 2-4 whose
command the harness starts once per node, each with its own `{node}`, `{port}` and Redis links, behind the
harness's balancer. The servers are the Node.js examples in examples/targets/node-redis-adapter and
node-redis-streams-adapter, on a real redis-server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from backends_support import missing_backend

from harness import runner
from harness.cli import main
from harness.history import read_history
from harness.redis import find_redis_binary
from harness.scenario import resolve

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADAPTERS = {"classic": EXAMPLES / "targets" / "node-redis-adapter" / "exactly-once.json",
            "streams": EXAMPLES / "targets" / "node-redis-streams-adapter" / "exactly-once.json"}
PACKAGES = ("socket.io", "better-sqlite3", "redis", "@socket.io/redis-adapter", "@socket.io/redis-streams-adapter")


@pytest.fixture
def adapters() -> dict[str, Path]:
    """The two example target files, with redis-server and the examples' npm packages (`make test-setup`)."""
    if find_redis_binary() is None:
        missing_backend("redis-server (on PATH or $REDIS_BIN)")
    if not shutil.which("node") or not all((EXAMPLES / "node_modules" / p).is_dir() for p in PACKAGES):
        missing_backend("Node.js with the examples' npm packages (run `make test-setup`)")
    return ADAPTERS


def _target(tmp_path: Path, **fields: Any) -> Path:
    data = {"target_version": 1, "name": "several", "nodes": 2,
            "start": {"command": ["node", "server.js", "--port", "{port}", "--redis", "{redis_url}"]}, **fields}
    path = tmp_path / "target.json"
    path.write_text(json.dumps(data))
    return path


def test_several_nodes_at_a_url_are_refused_in_one_line(tmp_path, capsys):
    path = _target(tmp_path, start=None, url="http://127.0.0.1:3000", database="none")
    data = json.loads(path.read_text())
    del data["start"]
    path.write_text(json.dumps(data))
    assert main(["validate", "--target", str(path)]) == 2
    err = capsys.readouterr().err
    assert "field nodes: 2 nodes need start" in err and err.count("\n") == 1


def test_an_unknown_redis_placeholder_is_one_line(tmp_path, capsys):
    path = _target(tmp_path, start={"command": ["node", "server.js", "--redis", "{redis_sub_url}"]})
    assert main(["validate", "--target", str(path)]) == 2
    err = capsys.readouterr().err
    assert "field start.command.3: unknown placeholder {redis_sub_url}" in err and "{redis_subscribe_url}" in err
    assert err.count("\n") == 1


def _scenario(target: Path, fault: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": f"ext-nodes-{target.parent.name}", "seed": 1,
            "target": {"kind": "external", "file": str(target)},
            "clients": {"count": 4}, "workload": {"messages": 20, "rate": 40},
            "faults": [fault] if fault else [], "quiet": {"settle": 1.0, "timeout": 15.0}, **extra}


_CRASH = {"kind": "node_crash", "target": "n1", "trigger": {"after_sends": {"client": "c1", "n": 6}}, "duration": 0.3}


async def test_each_node_is_its_own_process_with_its_own_port_and_redis_links(tmp_path, adapters):
    result = await runner.run_scenario(resolve(_scenario(adapters["classic"], _CRASH)), tmp_path)
    ports = {}
    for node in ("n1", "n2"):
        log = (result.run_dir / f"server-{node}.log").read_text()
        ports[node] = set(re.findall(r"listening on 127\.0\.0\.1:(\d+)", log))
        assert len(ports[node]) == 1, f"{node} restarts on its own port: {log}"
    assert ports["n1"] != ports["n2"]
    events = list(read_history(result.run_dir / "history.jsonl"))
    starts = [e["value"]["node"] for e in events if e["proc"] == "server" and e["f"] == "start"]
    assert sorted(starts) == ["n1", "n1", "n2"], "both nodes started, n1 again after its crash"
    homes = {e["proc"] for e in events if e["f"] == "connect" and e["type"] == "ok" and e["value"]["node"] == "n1"}
    moves = {e["value"]["client"] for e in events if e["f"] == "route" and e["value"]["from"] == "n1"}
    assert homes and moves == homes, "every client of the crashed node was moved to n2"
    # Every row was stored once across both processes: the broadcasts crossed Redis through the links.
    assert result.verdict.rows == 80
    assert result.verdict.counts["duplicated"] == 0 and result.verdict.counts["lost"] == 0
    received = {e["proc"] for e in events if e["f"] == "recv"}
    assert received == {"c1", "c2", "c3", "c4"}
