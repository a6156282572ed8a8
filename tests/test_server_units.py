"""Unit tests of the reference server's parts: profiles, mutants, input checks, storage (both backends)
and the harness's database helpers."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from server_support import TcpRelay, db_url

from harness.databases import fresh_postgres_database, hold_sqlite_lock, read_db_rows, sqlite_url
from harness.steps import ACKING, STEPS
from reference_server.mutants import MUTANTS, MutantError, select
from reference_server.profiles import PROFILES, Switches, resolve
from reference_server.storage import (
    DuplicateOffset,
    PostgresStorage,
    SQLiteStorage,
    StorageConfigError,
    StorageError,
    _create_schema,
    open_storage,
    redact_dsn,
)
from reference_server.validation import BadMessage, RateLimit, parse_message, parse_server_offset


def test_profiles_are_the_tutorials_cumulative_steps() -> None:
    # The server keeps its own list (it imports nothing from the harness): both must name the same steps.
    order = list(STEPS)
    assert list(PROFILES) == order
    assert {name for name, switches in PROFILES.items() if switches.ack} == ACKING
    on = [sum(PROFILES[name].as_dict().values()) for name in order]
    assert on == [0, 1, 2, 3, 4]
    for earlier, later in zip(order, order[1:]):
        assert all(PROFILES[later].as_dict()[k] for k, v in PROFILES[earlier].as_dict().items() if v)
    assert PROFILES["exactly-once"] == Switches(csr=True, replay=True, ack=True, dedupe=True)


def test_switches_override_a_profile() -> None:
    assert resolve("exactly-once", {"csr": False, "ack": None}) == Switches(replay=True, ack=True, dedupe=True)
    assert resolve("baseline", {"replay": True}) == Switches(replay=True)
    with pytest.raises(KeyError):
        resolve("nope")
    with pytest.raises(KeyError):
        resolve("baseline", {"turbo": True})


def test_every_mutant_names_what_it_breaks_and_needs_its_switch() -> None:
    assert set(MUTANTS) >= {"ack-before-commit", "no-dedupe", "replay-off-by-one", "broadcast-before-commit",
                            "ack-on-db-error", "drop-replay"}
    for mutant in MUTANTS.values():
        assert mutant.breaks and mutant.what
        assert select(mutant.name, PROFILES["exactly-once"]) is mutant
    with pytest.raises(MutantError, match="'ack' switch"):
        select("ack-before-commit", PROFILES["server-delivery"])
    with pytest.raises(MutantError, match="unknown mutant"):
        select("ack-after-lunch", PROFILES["exactly-once"])
    assert select("broadcast-before-commit", PROFILES["baseline"]).needs is None


@pytest.mark.parametrize("args, expected", [
    (("hi",), ("hi", None)),
    (("hi", "sid-0"), ("hi", "sid-0")),
    (("hi", None), ("hi", None)),
    (("",), ("", None)),
    (("é" * 32768,), ("é" * 32768, None)),
])
def test_parse_message_accepts_the_tutorial_shape(args: tuple, expected: tuple) -> None:
    message = parse_message(args, 64 * 1024)
    assert (message.content, message.client_offset) == expected


@pytest.mark.parametrize("args, reason", [
    ((), "missing content"),
    (("a", "b", "c"), "got 3 arguments"),
    ((42,), "content must be a string, got number"),
    ((None,), "got null"),
    ((b"bytes",), "got binary"),
    ((["x"],), "got array"),
    (("x" * (64 * 1024 + 1),), "65537 bytes, over the limit of 65536"),
    (("é" * 32769,), "over the limit"),
    (("a\x00b",), "NUL"),
    (("\ud800",), "lone surrogate"),
    (("hi", 7), "clientOffset must be a string, got number"),
    (("hi", True), "got boolean"),
    (("hi", "o" * 257), "over the limit of 256"),
])
def test_parse_message_refuses_bad_input(args: tuple, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        parse_message(args, 64 * 1024)


def test_server_offset_from_auth() -> None:
    assert parse_server_offset(None) == 0
    assert parse_server_offset({}) == 0
    assert parse_server_offset({"serverOffset": None}) == 0
    assert parse_server_offset({"serverOffset": 12, "pid": "x"}) == 12
    for bad in ({"serverOffset": -1}, {"serverOffset": "3"}, {"serverOffset": True}, {"serverOffset": 1.5},
                {"serverOffset": 2**63}, "token", [1]):
        with pytest.raises(BadMessage):
            parse_server_offset(bad)


def test_rate_limit_allows_a_burst_then_refuses() -> None:
    limit = RateLimit(rate=1.0, burst=5)
    assert [limit.allow() for _ in range(7)] == [True] * 5 + [False] * 2


def test_database_urls() -> None:
    assert isinstance(open_storage("sqlite:///chat.db"), SQLiteStorage)
    assert str(open_storage("sqlite:////tmp/x.db").path) == "/tmp/x.db"  # type: ignore[attr-defined]
    assert isinstance(open_storage("chat.db"), SQLiteStorage)
    assert isinstance(open_storage("postgresql://u@h:1/d"), PostgresStorage)
    for bad in ("mysql://h/d", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(StorageConfigError):
            open_storage(bad)
    assert redact_dsn("postgresql://u:secret@h:1/d") == "postgresql://u:***@h:1/d"


async def test_storage_contract(db_url: str) -> None:
    storage = open_storage(db_url)
    await storage.open()
    try:
        assert await storage.last_id() == 0
        first = await storage.insert("a", "c-0")
        second = await storage.insert("b", None)
        third = await storage.insert("c", None)
        assert first < second < third
        with pytest.raises(DuplicateOffset):
            await storage.insert("a again", "c-0")
        assert await storage.rows_after(0) == [(first, "a"), (second, "b"), (third, "c")]
        assert await storage.rows_after(second) == [(third, "c")]
        assert await storage.last_id() == third
        assert [r["content"] for r in await read_db_rows(db_url)] == ["a", "b", "c"]
        assert (await read_db_rows(db_url))[0] == {"id": first, "client_offset": "c-0", "content": "a"}
    finally:
        await storage.close()
    reopened = open_storage(db_url)
    await reopened.open()
    try:
        assert await reopened.insert("d", None) > third
    finally:
        await reopened.close()


async def test_sqlite_write_fails_fast_while_the_harness_holds_the_lock(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "chat.db", busy_timeout=0.05)
    await storage.open()
    try:
        await storage.insert("before", None)
        async with hold_sqlite_lock(tmp_path / "chat.db"):
            started = time.monotonic()
            with pytest.raises(StorageError):
                await storage.insert("during", None)
            assert time.monotonic() - started < 1.0
            assert await storage.rows_after(0) == [(1, "before")]  # WAL: reads go on during the outage
        await storage.insert("after", None)
        assert [r["content"] for r in await read_db_rows(sqlite_url(tmp_path / "chat.db"))] == ["before", "after"]
    finally:
        await storage.close()


async def test_sqlite_open_waits_for_a_node_that_is_creating_the_same_fresh_file(tmp_path: Path) -> None:
    # Another node's RESERVED lock on the fresh file makes SQLite refuse the switch to WAL at once, without
    # its busy handler: two nodes starting together failed one start in about fifty this way.
    other = sqlite3.connect(tmp_path / "chat.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.2, other.rollback)
    released.start()
    storage = SQLiteStorage(tmp_path / "chat.db")
    started = time.monotonic()
    try:
        await storage.open()
        assert time.monotonic() - started >= 0.2
        assert await storage.insert("first", None) == 1
    finally:
        released.join()
        other.close()
        await storage.close()


def test_sqlite_setup_gives_up_when_the_lock_is_never_released(tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _create_schema(tmp_path / "chat.db", 0.2)
    finally:
        other.close()


async def test_postgres_storage_survives_a_cut_link_and_reconnects(postgres_admin_dsn: str) -> None:
    async with fresh_postgres_database(postgres_admin_dsn) as dsn:
        parts = urlsplit(dsn)
        relay = TcpRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
        await relay.start()
        storage = PostgresStorage(parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}").geturl(),
                                  timeout=1.0)
        try:
            await storage.open()
            await storage.insert("before", None)
            await relay.cut()
            started = time.monotonic()
            with pytest.raises(StorageError):
                await storage.insert("during", None)
            with pytest.raises(StorageError):
                await storage.rows_after(0)
            assert time.monotonic() - started < 3.0
            await relay.start()
            await storage.insert("after", None)
            assert [c for _, c in await storage.rows_after(0)] == ["before", "after"]
        finally:
            await storage.close()
            await relay.cut()


async def test_fresh_postgres_database_is_empty_and_dropped(postgres_admin_dsn: str) -> None:
    import asyncpg

    async with fresh_postgres_database(postgres_admin_dsn) as dsn:
        assert await read_db_rows(dsn) == []
        name = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await admin.close()


async def test_read_rows_of_a_missing_sqlite_file_is_empty(tmp_path: Path) -> None:
    assert await read_db_rows(sqlite_url(tmp_path / "none.db")) == []
    assert sqlite_url("x.db").startswith("sqlite:////")
