"""An app with its own protocol keeping its messages in PostgreSQL (seq near 2**53): the harness creates a
fresh database per run, hands the app `{db_url}` through its own proxy link, reads the rows with the
target's query or by replay, and its db_outage cuts exactly that link."""

from __future__ import annotations

import sys

import pytest
from postgres_support import postgres_dsn
from targets_support import APP, APP_QUERY, app_target

from harness import runner
from harness.history import read_history
from harness.scenario import external_target, resolve
from harness.targetfile import target_from_dict


@pytest.fixture
async def admin_dsn(monkeypatch):
    async with postgres_dsn() as dsn:
        monkeypatch.setenv("SIO_HARNESS_POSTGRES_DSN", dsn)
        yield dsn


@pytest.mark.parametrize("state", [{"kind": "postgres", "query": APP_QUERY}, {"kind": "replay"}],
                         ids=["postgres", "replay"])
async def test_a_postgres_app_passes_with_its_own_query_and_by_replay(tmp_path, admin_dsn, state):
    target = app_target(database="postgres", state=state,
                        start={"command": [sys.executable, str(APP), "--port", "{port}", "--dsn", "{db_url}"],
                               "ready": {"http": "/healthz", "timeout": 20}})
    spec = target_from_dict(target, "pg target", tmp_path)
    data = {"name": "pg-app", "seed": 6, "target": external_target(spec), "clients": {"count": 2},
            "workload": {"messages": 15, "rate": 40},
            "faults": [{"kind": "db_outage", "trigger": {"after_sends": {"client": "c1", "n": 5}}, "duration": 0.5},
                       {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 2}}}]}
    result = await runner.run_scenario(resolve(data), tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 30
    history = list(read_history(result.run_dir / "history.jsonl"))
    offsets = [e["value"]["server_offset"] for e in history if e["f"] == "recv"]
    assert min(offsets) > 2**53 - 20, "ids from a BIGSERIAL started near 2**53 survive the round trip"
    assert admin_dsn not in (result.run_dir / "server.log").read_text()
    # The outage cut the app's own database link: sends during it were refused and retried.
    retried = [e for e in history if e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1]
    assert retried
