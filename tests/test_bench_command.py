"""`sio-harness bench`: the command wires up the benchmark programs and prints their tables (nothing timed)."""

from __future__ import annotations

import orjson
import pytest

from harness.cli import main
from harness.commands.bench import BENCHMARKS, load_benchmark, proxy_figures

COLUMNS = ("figure", "median", "min", "max", "unit", "runs", "target")


def test_help_lists_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in [*BENCHMARKS, "all", "--repeat", "--quick"]:
        assert name in out


def test_quick_checker_prints_a_table_of_figures_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "checker", "--quick", "--options=--events 2000 --clients 3"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "figure" in line)
    positions = [header.index(col) for col in COLUMNS]
    assert positions == sorted(positions)
    for row in ("parse (orjson per line)", "check CLI / parse", "check in memory"):
        assert row in out
    assert "events/s" in out and "<= 2.00" in out


def test_options_with_all_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "all", "--options=--events 10"]) == 2
    assert "one named benchmark" in capsys.readouterr().err


def _row(path: str, rtt: float, rate: float) -> dict[str, object]:
    return {"path": path, "rtt_median_us": rtt, "rtt_p99_us": 3 * rtt, "mb_per_s": rate, "note": ""}


def test_proxy_figures_are_bench_proxy_rows_over_runs_with_ratios_run_for_run() -> None:
    runs = [[_row("direct", 20, 2000), _row("toxiproxy v2.12.0", 80, 400), _row("embedded", 40, 1000)],
            [_row("direct", 30, 1800), _row("toxiproxy v2.12.0", 100, 500), _row("embedded", 70, 900)]]
    figures = proxy_figures(runs, load_benchmark("common"))
    by_name = {f.name: f for f in figures}
    assert [f.name for f in figures][:3] == ["RTT median: direct", "RTT median: toxiproxy v2.12.0",
                                             "RTT median: embedded"]
    assert by_name["RTT median: embedded"].samples == [40, 70]
    assert by_name["throughput: toxiproxy v2.12.0"].samples == [400, 500]
    rtt, rate = by_name["embedded / toxiproxy RTT"], by_name["embedded / toxiproxy throughput"]
    assert rtt.samples == [0.5, 0.7] and rtt.met is True
    assert rate.samples == [2.5, 1.8] and rate.met is True


def test_proxy_figures_without_the_real_toxiproxy_have_no_ratio() -> None:
    figures = proxy_figures([[_row("direct", 20, 2000), _row("embedded", 40, 1000)]], load_benchmark("common"))
    assert [f.name for f in figures] == ["RTT median: direct", "RTT median: embedded", "throughput: direct",
                                         "throughput: embedded"]


def test_bench_proxy_prints_the_table_made_from_its_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "proxy", "--repeat", "1", "--options=--no-real --pings 20 --mbytes 1"]) == 0
    out = capsys.readouterr().out
    for path in ("direct", "embedded", "embedded + latency 0 ms", "embedded + frame toxic"):
        assert f"RTT median: {path}" in out and f"throughput: {path}" in out
    assert "20 pings of 64 B, 1 MB transfer" in out


def test_scale_paces_the_senders_to_the_demand_and_names_the_largest_conclusive_count() -> None:
    scale = load_benchmark("scale")
    rate, messages = scale.paced(1000, 20, 2000.0, 8.0)
    assert rate == 0.1 and messages == 2  # 20 senders x 0.1/s x 1000 receivers = 2,000 deliveries/s
    assert scale.paced(10, 20, 1000.0, 5.0) == (10.0, 50)  # no more senders than clients
    run = scale.ScaleRun
    runs = [run(100, "paced", 1, 1.0, "pass", [], 1.0, 1.0, {}), run(500, "paced", 1, 1.0, "fail", [], 1.0, 1.0, {}),
            run(1000, "paced", 1, 1.0, "inconclusive", ["harness overloaded"], 900.0, 1.0, {}),
            run(1000, "flat", 1, 1.0, "pass", [], 1.0, 1.0, {})]
    assert scale.largest_conclusive(runs) == 500
    assert scale.largest_conclusive(runs[2:]) is None


def test_scale_counts_deliveries_from_the_first_send_to_the_last_receipt(tmp_path) -> None:
    scale = load_benchmark("scale")
    lines = [{"t": 0, "proc": "server", "f": "start"}, {"t": 1_000_000_000, "proc": "c1", "f": "send"},
             {"t": 1_500_000_000, "proc": "c1", "f": "recv"}, {"t": 3_000_000_000, "proc": "c2", "f": "recv"}]
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    assert scale.deliveries_per_second(history) == (2, 1.0)


def test_suite_combos_parse_and_refuse_nonsense() -> None:
    suite = load_benchmark("suite")
    assert suite.combos("embedded/sqlite, toxiproxy/postgres") == [("embedded", "sqlite"), ("toxiproxy", "postgres")]
    with pytest.raises(SystemExit, match="PROXY/STORAGE"):
        suite.combos("embedded")
