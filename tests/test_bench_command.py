"""`sio-harness bench`: the command wires up the benchmark programs and prints their tables (nothing timed)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.bench import BENCHMARKS, parse_proxy_table

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


def test_proxy_rows_are_read_back_from_bench_proxy_output() -> None:
    text = ("loopback, 2 CPUs, 200 pings of 64 B, 10 MB transfer (MB = 10^6 bytes)\n"
            "path                              RTT median    RTT p99   throughput  note\n"
            "                                        (us)       (us)       (MB/s)\n"
            "direct                                    28        200         1515  \n"
            "toxiproxy v2.12.0                         74        687          313  \n"
            "embedded + frame toxic                   176        721          945  WebSocket frames\n"
            "embedded / toxiproxy: RTT median 1.43x (target <= 0.90x), throughput 3.92x (target >= 1.50x)\n")
    assert parse_proxy_table(text) == [("direct", 28.0, 1515.0), ("toxiproxy v2.12.0", 74.0, 313.0),
                                       ("embedded + frame toxic", 176.0, 945.0)]
