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
from harness.commands.targeting import not_applicable
from harness.guarantees import cell_data
from harness.history import read_history
from harness.redis import find_redis_binary
from harness.scenario import resolve
from harness.targetfile import load_target

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


@pytest.mark.parametrize(("adapter", "how"), [("classic", "by the offset replay (no CSR)"),
                                              ("streams", "by connection state recovery")])
def test_the_doctor_gives_one_node_its_redis_and_tells_the_adapters_apart(adapter, how, adapters, capsys):
    """The doctor starts one node of a multi-node target, with a Redis of its own for its adapter."""
    assert main(["doctor", str(adapters[adapter])]) == 0
    out = capsys.readouterr().out
    assert "behaves like: exactly-once" in out
    recovery = next(line for line in out.splitlines() if line.split()[1:2] == ["recovery"])
    assert how in recovery, recovery


@pytest.mark.parametrize(("adapter", "family", "reason"), [
    ("classic", "disconnect", "a single-server cell"),
    ("classic", "redis_sessions", "a switch of the reference server"),
    ("streams", "deaf_node", "takes no {redis_subscribe_url}"),
    ("classic", "deaf_node", None),
    ("streams", "node_crash", None),
])
def test_which_cells_a_multi_node_target_gets(adapter: str, family: str, reason: str | None) -> None:
    spec = load_target(ADAPTERS[adapter])
    found = not_applicable(spec, "exactly-once", cell_data(family, "exactly-once"))
    assert (found is None) if reason is None else (found is not None and reason in found), found
    assert "server_crash acts on a single server" in (spec.not_applicable("server", "server_crash") or "")


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


def _moved_connects(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The connects on n2, after the fault, of the clients whose home was n1."""
    fault_t = next(e["t"] for e in events if e["f"] == "fault")
    homes = {e["proc"] for e in events if e["f"] == "connect" and e["type"] == "ok" and e["t"] < fault_t
             and e["value"]["node"] == "n1"}
    return [e["value"] for e in events if e["f"] == "connect" and e["type"] == "ok" and e["t"] > fault_t
            and e["proc"] in homes and e["value"]["node"] == "n2"]


# What each adapter's documentation and code promise a client of n1 that fails over to n2:
# - classic (@socket.io/redis-adapter, README "Connection state recovery: NO"): its adapter keeps no
#   session anywhere (socket.io-adapter's base `persistSession` does nothing), so never recovered.
# - streams (@socket.io/redis-streams-adapter, "Connection state recovery: YES"): `persistSession` writes
#   the session to Redis when the connection closes on n1 and n2's `restoreSession` takes it (GETDEL) with
#   the stream's entries after the client's offset. A graceful stop closes every connection first, so a
#   client recovers on n2; a SIGKILLed node closes nothing and writes no session, so after a crash no
#   client recovers anywhere (redis-streams-adapter issue 27, "connection recovery failed, when one
#   server goes down").
CSR_ACROSS_NODES = {("classic", "node_crash"): False, ("streams", "node_crash"): False,
                    ("classic", "node_restart"): False, ("streams", "node_restart"): True}


@pytest.mark.parametrize(("adapter", "fault"), list(CSR_ACROSS_NODES))
async def test_csr_across_nodes_is_what_each_adapter_promises(adapter: str, fault: str, tmp_path, adapters):
    recovered = CSR_ACROSS_NODES[(adapter, fault)]
    trouble = {"kind": fault, "target": "n1", "trigger": {"after_sends": {"client": "c1", "n": 6}},
               **({"duration": 0.3} if fault == "node_crash" else {})}
    # The exactly-once step's failover expectation (harness/guarantees.py: the serverOffset replay may
    # repeat or skip rows after a failover), plus the recovery flag every moved client must carry.
    expectations = {"guarantees": ["no-phantoms"], "absent": ["duplicated", "lost"],
                    "recovery": {"recovered": recovered, "min": 1}}
    result = await runner.run_scenario(resolve(_scenario(adapters[adapter], trouble, expectations=expectations)),
                                       tmp_path)
    assert result.passed, result.outcome.reasons
    moved = _moved_connects(list(read_history(result.run_dir / "history.jsonl")))
    assert moved, f"n1's clients never connected to n2 under {fault}"
    assert [c["recovered"] for c in moved] == [recovered] * len(moved), moved


async def test_polling_sessions_stay_on_one_node_through_a_failover(tmp_path, adapters, node_modules):
    """Polling-only clients on two nodes: an Engine.IO session's requests are separate HTTP requests, and
    one that reached the other node would be refused ("Session ID unknown") and end the session. So each
    client keeps one session until the crash of its node, and one on n2 after it.

    The node driver (socket.io-client): python-engineio's polling client aborts on the long payload of the
    failover's serverOffset replay ("Unexpected packet from server"), reconnects, and aborts again."""
    data = json.loads(adapters["classic"].read_text())
    data["start"]["cwd"] = str(adapters["classic"].parent)
    data["protocol"] = {"transports": ["polling"]}
    target = tmp_path / "polling.json"
    target.write_text(json.dumps(data))
    scenario = resolve({
        "name": "polling-sticky", "seed": 3, "target": {"kind": "external", "file": str(target)},
        "clients": {"count": 4, "driver": "node"}, "workload": {"messages": 20, "rate": 40},
        "faults": [{"kind": "node_crash", "target": "n1", "trigger": {"after_sends": {"client": "c1", "n": 10}},
                    "duration": 0.3}],
        "expectations": {"guarantees": ["no-phantoms"], "absent": ["duplicated", "lost"]}})
    result = await runner.run_scenario(scenario, tmp_path)
    assert result.passed, result.outcome.reasons
    events = list(read_history(result.run_dir / "history.jsonl"))
    fault_t = next(e["t"] for e in events if e["f"] == "fault")
    connects = [e for e in events if e["f"] == "connect" and e["type"] == "ok"]
    homes = {e["proc"]: e["value"]["node"] for e in connects if e["t"] < fault_t}
    assert sorted(homes) == ["c1", "c2", "c3", "c4"] and set(homes.values()) == {"n1", "n2"}
    for client, home in homes.items():
        sessions = [(e["value"]["sid"], e["value"]["node"]) for e in connects if e["proc"] == client]
        drops = [e for e in events if e["proc"] == client and e["f"] == "disconnect"]
        if home == "n2":
            assert len(sessions) == 1 and not drops, f"{client} on the live node kept its session: {sessions}"
        else:
            assert [node for _, node in sessions] == ["n1", "n2"], f"{client}: {sessions}"
            assert len(drops) == 1 and drops[0]["t"] > fault_t, f"{client} lost only the crashed node's session"
