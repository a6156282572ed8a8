"""`workload.per_client`: one client's own messages and rate, checked when the scenario is resolved and
followed by the workload (a page that only listens while another talks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.history import read_history
from harness.runfolder import RunFolder
from harness.runner import run_scenario
from harness.scenario import resolve


def _scenario(per_client: dict[str, dict[str, float]], faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": "per-client", "seed": 1, "clients": {"count": 2},
            "workload": {"messages": 4, "per_client": per_client}, "faults": faults or []}


def test_a_client_gets_its_own_count_and_rate() -> None:
    w = resolve(_scenario({"c1": {"messages": 0}, "c2": {"rate": 5}})).workload
    assert (w.messages_of("c1"), w.rate_of("c1")) == (0, 0.0)
    assert (w.messages_of("c2"), w.rate_of("c2")) == (4, 5.0)


def test_unknown_client_is_refused() -> None:
    with pytest.raises(ScenarioError, match="per_client: no client 'c3'"):
        resolve(_scenario({"c3": {"messages": 0}}))


def test_send_trigger_counts_that_clients_messages() -> None:
    fault = {"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 2}}}
    with pytest.raises(ScenarioError, match="more than the 1 messages c1 sends"):
        resolve(_scenario({"c1": {"messages": 1}}, [fault]))


def test_to_dict_leaves_an_empty_per_client_out() -> None:
    data = resolve(_scenario({})).to_dict()
    assert "per_client" not in data["workload"]
    assert resolve(_scenario({"c1": {"messages": 0}})).to_dict()["workload"]["per_client"] == {"c1": {"messages": 0}}


@pytest.mark.timeout(60)
async def test_a_listening_client_sends_nothing_and_receives_everything(tmp_path: Path) -> None:
    result = await run_scenario(resolve(_scenario({"c1": {"messages": 0}})), tmp_path)
    events = list(read_history(RunFolder(result.run_dir).history))
    sends = {p: sum(1 for e in events if e["proc"] == p and e["f"] == "send" and e["type"] == "invoke")
             for p in ("c1", "c2")}
    assert sends == {"c1": 0, "c2": 4}
    assert sum(1 for e in events if e["proc"] == "c1" and e["f"] == "recv") >= 4
