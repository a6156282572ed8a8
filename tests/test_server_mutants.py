"""Each mutant shows the one broken behaviour it is documented to have, against a real server process.
(The unmutated server's correct behaviour in the same situations is asserted in test_server_delivery.py and
test_server_faults.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_support import Servers, connected, db_url, run_cli, servers, sqlite_db

from harness.databases import hold_sqlite_lock, read_db_rows, sqlite_path
from reference_server.mutants import MUTANTS


@pytest.mark.parametrize("mutant", ["ack-before-commit", "ack-on-db-error"])
async def test_acks_a_message_the_database_refused(servers: Servers, sqlite_db: str, mutant: str) -> None:
    server = await servers.start(sqlite_db, "at-least-once", mutant=mutant)
    async with connected(server.url) as alice:
        async with hold_sqlite_lock(sqlite_path(sqlite_db)):
            assert await alice.send("lost", "a-0", timeout=2.0) is None
            await server.wait_log("store failed")
        assert await alice.fence() == []
    assert "lost" not in [r["content"] for r in await read_db_rows(sqlite_db)]


async def test_no_dedupe_stores_a_retry_twice(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "exactly-once", mutant="no-dedupe")
    async with connected(server.url) as alice:
        assert await alice.send("hello", "a-0") is None
        assert await alice.send("hello", "a-0") is None
    assert [r["content"] for r in await read_db_rows(db_url)] == ["hello", "hello"]


async def test_replay_off_by_one_redelivers_the_last_seen_message(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "server-delivery", mutant="replay-off-by-one")
    async with connected(server.url) as alice:
        await alice.emit("m1")
        await alice.emit("m2")
        await alice.wait_until(lambda: len(alice.received) == 2)
    async with connected(server.url, server_offset=alice.server_offset) as back:
        assert await back.fence() == ["m2"]
        assert back.received[0] == ("m2", 2)


async def test_drop_replay_never_sends_what_was_missed(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "server-delivery", mutant="drop-replay")
    async with connected(server.url) as alice:
        await alice.emit("m1")
        await alice.wait_until(lambda: len(alice.received) == 1)
    async with connected(server.url, server_offset=0) as late:
        assert await late.fence() == []


async def test_broadcast_before_commit_delivers_a_phantom(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, "baseline", mutant="broadcast-before-commit")
    async with connected(server.url) as alice, connected(server.url) as bob:
        async with hold_sqlite_lock(sqlite_path(sqlite_db)):
            await alice.emit("phantom")
            await bob.wait_until(lambda: "phantom" in bob.contents())
            await server.wait_log("store failed")
        assert bob.received[0] == ("phantom", 1)
    assert "phantom" not in [r["content"] for r in await read_db_rows(sqlite_db)]


@pytest.mark.parametrize("args, message", [
    (["--mutant", "no-dedupe", "--profile", "exactly-once"], "add --i-know-this-breaks-delivery"),
    (["--i-know-this-breaks-delivery"], "without --mutant"),
    (["--mutant", "ack-before-commit", "--i-know-this-breaks-delivery", "--profile", "baseline"],
     "'ack' switch, which is off"),
    (["--mutant", "nope", "--i-know-this-breaks-delivery"], "unknown mutant 'nope'"),
])
async def test_a_mutant_cannot_be_enabled_by_accident(tmp_path: Path, args: list[str], message: str) -> None:
    code, err = await run_cli("--db", str(tmp_path / "x.db"), *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.db").exists()


def test_every_mutant_is_covered_here() -> None:
    source = open(__file__).read()
    assert all(f'"{name}"' in source for name in MUTANTS)
