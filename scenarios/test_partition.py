"""Partition: c2's link refuses connections for 0.6 s (the proxy is disabled, its connections closed).

Also the tutorial's `undefined-N` trap: its page computes `${socket.id}-${counter++}`, and socket.id is
undefined while offline, so two pages that both submit while partitioned both send `undefined-6`,
`undefined-7`, ...; the exactly-once server acknowledges the second as a duplicate without storing it.
A page that keeps its last socket id (the `socket-id` style, the suite's default) is immune.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_partition(profile: str, run_cell) -> None:
    await run_cell("partition", profile)


def _both_offline(client_offset: str) -> dict:
    return {
        "name": f"offline-collision-{client_offset}",
        "description": "exactly-once; both pages submit while partitioned, with the tutorial's clientOffset",
        "seed": 1,
        "target": {"kind": "reference", "profile": "exactly-once"},
        "clients": {"count": 2, "client_offset": client_offset},
        "workload": {"messages": 20, "rate": 40},
        "faults": [{"kind": "partition", "target": "all", "trigger": {"after_sends": {"client": "c1", "n": 6}},
                    "duration": 0.6}],
        "quiet": {"settle": 0.3, "timeout": 15.0},
    }


async def test_undefined_client_offset_collides(run_data, chaos_storage: str) -> None:
    data = _both_offline("socket-id-undefined")
    data["expectations"] = {"guarantees": ["at-most-once", "no-phantoms"], "violations": {"lost": 1}}
    result = await run_data(data, storage=chaos_storage)
    assert result.passed, f"{result.outcome.reasons}; replay: {result.replay_command}"


async def test_kept_socket_id_does_not_collide(run_data, chaos_storage: str) -> None:
    data = _both_offline("socket-id")
    data["expectations"] = {"guarantees": ["exactly-once", "ordered", "no-phantoms"]}
    result = await run_data(data, storage=chaos_storage)
    assert result.passed, f"{result.outcome.reasons}; replay: {result.replay_command}"
