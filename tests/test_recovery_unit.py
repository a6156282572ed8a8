"""The pure parts of server-side recovery: offsets, packet log bounds, auth splitting, install checks."""

from __future__ import annotations

import pytest
import socketio

from reference_server.recovery import OffsetGenerator, PacketLog, install_recovery, split_auth


def test_offsets_are_unique_within_a_millisecond_and_when_the_clock_goes_back() -> None:
    times = iter([1.0, 1.0, 1.0, 0.5, 2.0])
    gen = OffsetGenerator(clock=lambda: next(times))
    offsets = [gen() for _ in range(5)]
    # 1000 ms = 15 * 64 + 40 -> "F", "e" in socket.io's yeast alphabet; 2000 ms = 31 * 64 + 16.
    assert offsets == ["Fe", "Fe.0", "Fe.1", "Fe.2", "VG"]


def test_packet_log_is_bounded_by_count_and_by_age() -> None:
    log = PacketLog()
    for n in range(10):
        log.append(f"o{n}", emitted_at=float(n), rooms=None, excluded=frozenset(), data=["e", n])
        log.prune(now=float(n), max_age=100.0, max_count=4)
    assert len(log) == 4
    assert log.after("o5") is None, "pruned offsets are not held"
    assert [p.data[1] for p in log.after("o7")] == [8, 9]
    log.prune(now=108.5, max_age=100.0, max_count=4)
    assert [p.offset for p in log.after("o9")] == [] and len(log) == 1


def test_packet_matching_follows_rooms_and_exceptions() -> None:
    log = PacketLog()
    log.append("a", 0.0, None, frozenset(), ["all"])
    log.append("b", 0.0, frozenset({"r1"}), frozenset(), ["room"])
    log.append("c", 0.0, frozenset({"r2"}), frozenset(), ["other room"])
    log.append("d", 0.0, None, frozenset({"sid1"}), ["except me"])
    log.append("e", 0.0, None, frozenset({"sid2"}), ["except another"])
    mine = frozenset({"sid1", "r1"})
    assert [p.data[0] for p in log.after("a") if p.is_for(mine)] == ["room", "except another"]


def test_split_auth_strips_pid_and_offset_and_checks_their_types() -> None:
    assert split_auth({"pid": "p", "offset": "o", "serverOffset": 3}) == ({"serverOffset": 3}, "p", "o")
    assert split_auth({"pid": 1, "offset": "o"}) == ({}, None, "o")
    assert split_auth(None) == (None, None, None)


def test_install_refuses_a_manager_it_cannot_keep_in_memory() -> None:
    class SharedManager(socketio.AsyncManager):
        """Stands for any manager that is not the default in-memory one (Redis, Kafka, ...)."""

    sio = socketio.AsyncServer(client_manager=SharedManager())
    with pytest.raises(TypeError, match="in-memory client manager"):
        install_recovery(sio)
    sio = socketio.AsyncServer()
    install_recovery(sio)
    with pytest.raises(TypeError):
        install_recovery(sio)

