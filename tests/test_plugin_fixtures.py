"""The pytest plugin, exercised the way users use it: in a pytest run of its own (pytester)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def chaos_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)


def test_hand_built_topology_fixtures(chaos_project):
    chaos_project.makepyfile(test_hand="""
        import asyncio, time
        import pytest

        async def until(predicate, timeout=10.0):
            # Polled: a driver's connection state has no awaitable 'changed' event.
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, "condition never became true"
                await asyncio.sleep(0.02)

        @pytest.mark.chaos(profile="at-least-once", clients=2)
        async def test_partition_and_heal(chat_server, proxy, clients, nemesis):
            assert set(clients) == {"c1", "c2"} and chat_server.url.startswith("http://127.0.0.1:")
            assert set(proxy.links) == {"c1", "c2"} and proxy.kind in ("embedded", "toxiproxy")
            listed = await proxy.control.list_proxies()
            assert {slot: listed[name]["listen"] for slot, name in proxy.links.items()} == proxy.listen
            fault = await nemesis.inject("partition", target="c1", duration=None)
            await until(lambda: not clients["c1"].connected)
            assert clients["c2"].connected
            await nemesis.heal(fault)
            assert await clients["c1"].wait_connected(10)

        @pytest.mark.chaos(profile="csr", clients=1)
        async def test_crash_and_restart(chat_server, clients, nemesis):
            pid = chat_server.pid
            fault = await nemesis.inject("server_crash")
            await until(lambda: not clients["c1"].connected)
            await nemesis.heal(fault)
            assert chat_server.pid not in (None, pid)
            assert await clients["c1"].wait_connected(10)
    """)
    result = run(chaos_project, "-q", "--chaos-reports", str(chaos_project.path / "reports"))
    result.assert_outcomes(passed=2)


def test_failing_scenario_prints_report_and_replay(chaos_project):
    chaos_project.makepyfile(test_fail="""
        async def test_mutant(run_scenario):
            result = await run_scenario({
                "name": "mutant", "seed": 4,
                "target": {"kind": "reference", "profile": "exactly-once", "mutant": "no-dedupe"},
                "clients": {"count": 1, "ack_timeout": 0.5, "retries": 3}, "workload": {"messages": 8},
                "faults": [{"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 2}}}],
                "expectations": {"guarantees": ["exactly-once"]}})
            assert result.passed
    """)
    reports = chaos_project.path / "reports"
    result = run(chaos_project, "-q", "--chaos-reports", str(reports), "--chaos-seed", "9")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sio-harness: replay failing runs*", "*mutant (seed 9) FAILED: exactly-once*",
                                 "*report: *report.html", "*replay: sio-harness replay *"])
    (run_dir,) = reports.iterdir()
    assert json.loads((run_dir / "scenario.json").read_text())["seed"] == 9


def test_scenarios_under_xdist_do_not_clash(chaos_project):
    chaos_project.makepyfile(test_par="""
        import pytest

        @pytest.mark.parametrize("n", range(4))
        async def test_baseline(run_scenario, n):
            result = await run_scenario("baseline-no-faults", seed=n)
            assert result.passed, result.outcome.reasons
    """)
    reports = chaos_project.path / "reports"
    result = run(chaos_project, "-q", "-n", "2", "--chaos-reports", str(reports))
    result.assert_outcomes(passed=4)
    runs = sorted(p.name for p in reports.iterdir())
    assert len(runs) == 4 and len(set(runs)) == 4
    seeds = sorted(json.loads((reports / r / "scenario.json").read_text())["seed"] for r in runs)
    assert seeds == [0, 1, 2, 3]


def test_fixtures_are_documented(chaos_project):
    result = run(chaos_project, "--fixtures")
    lines = result.stdout.lines
    for name in ("chat_server", "proxy", "clients", "nemesis", "run_scenario", "chaos_storage"):
        (at,) = [i for i, line in enumerate(lines) if line.split(" ", 1)[0] == name]
        assert lines[at + 1].strip() and "no docstring" not in lines[at + 1], lines[at:at + 2]
