"""The reconnection delays of socket.io-client (backo2), and the driver factory."""

from __future__ import annotations

import random

import pytest

from harness.clients import make_driver
from harness.clients.backoff import Backoff
from harness.errors import MissingBinaryError, ScenarioError
from harness.history import HistoryWriter
from harness.scenario import ClientSettings


class FixedRandom(random.Random):
    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = values

    def random(self) -> float:
        return self.values.pop(0)


def test_delays_double_and_cap_without_jitter():
    backoff = Backoff(1.0, 5.0, 0.0, random.Random(0))
    assert [backoff.duration() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.duration() == 1.0


def test_jitter_is_multiplicative_and_its_sign_comes_from_the_same_draw():
    # r = 0.2: floor(2) is even, so the delay shrinks by floor(0.2 * 0.5 * 1000) = 100 ms;
    # r = 0.15: floor(1.5) is odd, so it grows by floor(0.15 * 0.5 * 2000) = 150 ms;
    # r = 0.99 on the third attempt: 4000 + 1980 ms, capped at 5000 ms after the jitter.
    backoff = Backoff(1.0, 5.0, 0.5, FixedRandom([0.2, 0.15, 0.99]))
    assert [backoff.duration() for _ in range(3)] == [0.9, 2.15, 5.0]


def test_zero_settings_fall_back_to_backo2_defaults():
    backoff = Backoff(0.0, 0.0, 2.0, random.Random(0))
    assert (backoff.min_ms, backoff.max_ms, backoff.jitter) == (100, 10000, 0.0)


def test_an_endless_outage_stays_capped():
    backoff = Backoff(1.0, 5.0, 0.5, random.Random(1))
    assert max(backoff.duration() for _ in range(2000)) == 5.0


def test_make_driver_rejects_an_unknown_kind(tmp_path):
    with HistoryWriter(tmp_path / "h.jsonl") as history, pytest.raises(ScenarioError, match="python, node, browser"):
        make_driver("telnet", "c1", ClientSettings(), history, url="http://127.0.0.1:1")


async def test_node_driver_without_node_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with HistoryWriter(tmp_path / "h.jsonl") as history:
        driver = make_driver("node", "c1", ClientSettings(), history, url="http://127.0.0.1:1")
        with pytest.raises(MissingBinaryError, match="Node.js"):
            await driver.start()
