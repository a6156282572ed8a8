"""Server-side connection state recovery, checked frame by frame against a real server process.

Ports socket.io's `connection-state-recovery.ts` (section A of the reference doc) and the behaviours
upstream never tests ("Gaps"). The client is a hand-driven Engine.IO v4 WebSocket, so every assertion
is about the exact frames on the wire.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from recovery_support import RawSocket, Server, event_of, recovery_server

ID = re.compile(r"^[A-Za-z0-9_-]{20}$")
OFFSET = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?$")

pytestmark = pytest.mark.timeout(60)


async def connected_with_offset(server: Server, *rooms: str) -> tuple[RawSocket, dict, str]:
    """A socket that joined `rooms` and received one stored event, so it holds an offset."""
    sock = await RawSocket.open(server.url)
    reply = await sock.connect()
    for n, room in enumerate(rooms):
        await sock.send(f'42{n}["join",{json.dumps(room)}]')
        assert (await sock.recv()).startswith(f"3{n}[")
    await server.emit("hello0", "before")
    offset = event_of(await sock.recv())[-1]
    return sock, reply, offset


async def drop(server: Server, sock: RawSocket, sid: str) -> str:
    """Close the transport; the disconnect reason once the server has handled the disconnection."""
    await sock.close()
    return await server.wait_disconnect(sid)


async def reconnect(server: Server, auth: dict) -> tuple[RawSocket, list[str]]:
    """A new engine connection sending CONNECT with `auth`; returns every frame up to the CONNECT reply."""
    sock = await RawSocket.open(server.url)
    await sock.send("40" + json.dumps(auth, separators=(",", ":")))
    frames = [await sock.recv()]
    while not frames[-1].startswith(("0", "4")):
        frames.append(await sock.recv())
    return sock, frames


async def assert_nothing_pending(sock: RawSocket) -> None:
    """The next frame is the answer to a fresh request: nothing else was queued before it."""
    await sock.send('4299["whoami"]')
    assert (await sock.recv()).startswith("399[")


async def test_connect_reply_carries_sid_and_pid() -> None:
    async with recovery_server() as server:
        sock = await RawSocket.open(server.url)
        await sock.send("40")
        frame = await sock.recv()
        assert re.fullmatch(r'0\{"sid":"[A-Za-z0-9_-]{20}","pid":"[A-Za-z0-9_-]{20}"\}', frame), frame
        reply = json.loads(frame[1:])
        assert reply["sid"] != reply["pid"]
        await sock.close()


async def test_stored_event_has_its_offset_appended_as_last_argument_on_the_wire() -> None:
    async with recovery_server() as server:
        sock = await RawSocket.open(server.url)
        await sock.connect()
        await server.emit("chat message", "hi", 7)
        await server.emit("chat message", "again", 8)
        first, second = await sock.recv(), await sock.recv()
        assert re.fullmatch(r'2\["chat message","hi",7,"[A-Za-z0-9_.-]+"\]', first), first
        assert OFFSET.match(event_of(first)[-1]) and OFFSET.match(event_of(second)[-1])
        assert event_of(first)[-1] != event_of(second)[-1]
        await sock.close()


@pytest.mark.parametrize(("how", "reason"), [("websocket close", "transport close"),
                                             ("engine close packet", "client disconnect"),
                                             ("server forced close", "server disconnect")])
async def test_restores_session_and_missed_packets_before_the_connect_reply(how: str, reason: str) -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server, "room1")
        sid, pid = reply["sid"], reply["pid"]
        if how == "engine close packet":
            await sock.send("1")
        elif how == "server forced close":
            await server.post(f"/kick?sid={sid}")
        assert await drop(server, sock, sid) == reason
        await server.emit("hello1")
        await server.emit("hello2", to="room1")
        await server.emit("hello3", to=sid)
        await server.emit("other room", to="room2")
        await server.emit("except me", skip_sid=sid)

        sock, frames = await reconnect(server, {"pid": pid, "offset": offset})
        assert [event_of(f)[0] for f in frames[:-1]] == ["hello1", "hello2", "hello3"]
        assert all(OFFSET.match(event_of(f)[-1]) for f in frames[:-1])
        assert frames[-1] == f'0{{"sid":"{sid}","pid":"{pid}"}}'
        await assert_nothing_pending(sock)
        await sock.close()


async def test_a_ping_timeout_keeps_the_session() -> None:
    async with recovery_server("--ping-interval", "0.2", "--ping-timeout", "0.3") as server:
        sock, reply, offset = await connected_with_offset(server)
        # Stop reading: the pings go unanswered and the server drops the connection for ping timeout.
        assert await server.wait_disconnect(reply["sid"]) == "ping timeout"
        await server.emit("missed")
        back, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert [event_of(f)[0] for f in frames[:-1]] == ["missed"]
        assert json.loads(frames[-1][1:]) == {"sid": reply["sid"], "pid": reply["pid"]}
        await back.close()
        await sock.close()


async def test_restores_rooms_and_data() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server, "room1", "room2")
        await sock.send('4250["set","foo","bar"]')
        assert await sock.recv() == "350[]"
        await sock.send('4251["whoami"]')
        assert json.loads((await sock.recv())[3:])[0]["recovered"] is False
        await drop(server, sock, reply["sid"])

        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[-1][1:])["sid"] == reply["sid"]
        await sock.send('4252["whoami"]')
        me = json.loads((await sock.recv())[3:])[0]
        assert me == {"sid": reply["sid"], "rooms": sorted([reply["sid"], "room1", "room2"]),
                      "data": {"foo": "bar"}, "recovered": True}
        await sock.close()


async def test_connect_handler_is_skipped_on_recovery_by_default() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset, "token": "t"})
        assert json.loads(frames[-1][1:])["sid"] == reply["sid"]
        calls = await server.get("/calls")
        assert [c["sid"] for c in calls] == [reply["sid"]], "the connect handler ran on recovery"
        await sock.close()


async def test_connect_handler_runs_on_recovery_without_skip_middlewares() -> None:
    async with recovery_server("--run-middlewares") as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset, "token": "t"})
        assert json.loads(frames[-1][1:]) == {"sid": reply["sid"], "pid": reply["pid"]}
        calls = await server.get("/calls")
        assert calls[-1] == {"sid": reply["sid"], "auth": {"token": "t"}, "recovered": True}
        assert len(calls) == 2
        await sock.close()


async def test_connect_handler_can_refuse_a_recovery_without_skip_middlewares() -> None:
    async with recovery_server("--run-middlewares") as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset, "reject": True})
        assert frames[-1].startswith("4"), frames
        await sock.close()


async def test_unknown_session_gets_a_fresh_session_silently() -> None:
    async with recovery_server() as server:
        sock, frames = await reconnect(server, {"pid": "foo", "offset": "bar"})
        assert len(frames) == 1
        reply = json.loads(frames[0][1:])
        assert ID.match(reply["sid"]) and ID.match(reply["pid"])
        assert reply["sid"] != "foo" and reply["pid"] != "bar"
        await sock.close()


async def test_recovery_is_off_without_install_recovery() -> None:
    async with recovery_server("--no-csr") as server:
        sock, frames = await reconnect(server, {"pid": "foo", "offset": "bar"})
        assert list(json.loads(frames[0][1:])) == ["sid"]
        await server.emit("hello", 1)
        assert await sock.recv() == '2["hello",1]'
        await sock.close()


async def test_session_expires_after_max_disconnection_duration() -> None:
    async with recovery_server("--max-disconnection-duration", "0.5") as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        assert (await server.get("/stats"))["sessions"] == 1
        # The passing of time is the condition under test; no event marks it.
        await asyncio.sleep(0.8)
        stats = await server.get("/stats")
        assert stats["sessions"] == 0 and stats["packets"]["/"] == 0
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert len(frames) == 1
        fresh = json.loads(frames[0][1:])
        assert fresh["sid"] != reply["sid"] and fresh["pid"] != reply["pid"]
        await sock.close()


@pytest.mark.parametrize("offset", ["bogus", None])
async def test_known_session_with_unknown_or_missing_offset_gets_a_fresh_session(offset: str | None) -> None:
    async with recovery_server() as server:
        sock, reply, _ = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        await server.emit("missed")
        auth = {"pid": reply["pid"]} if offset is None else {"pid": reply["pid"], "offset": offset}
        sock, frames = await reconnect(server, auth)
        assert len(frames) == 1, "no missed packet may precede a fresh session's CONNECT reply"
        assert json.loads(frames[0][1:])["sid"] != reply["sid"]
        await sock.close()


async def test_no_recovery_after_a_client_namespace_disconnect() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        await sock.send("41")
        assert await drop(server, sock, reply["sid"]) == "client disconnect"
        assert (await server.get("/stats"))["sessions"] == 0
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[0][1:])["sid"] != reply["sid"]
        await sock.close()


async def test_no_recovery_after_a_server_namespace_disconnect() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        await server.post(f"/server-disconnect?sid={reply['sid']}")
        assert await sock.recv() == "1"
        assert await server.wait_disconnect(reply["sid"]) == "server disconnect"
        await sock.close()
        assert (await server.get("/stats"))["sessions"] == 0
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[0][1:])["sid"] != reply["sid"]
        await sock.close()


async def test_acked_and_volatile_events_carry_no_offset_and_are_not_replayed() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        sid = reply["sid"]
        await server.emit("acked", "x", to=sid, ack=True)
        assert await sock.recv() == '21["acked","x"]'
        await server.emit("vol", "y", volatile=True)
        assert await sock.recv() == '2["vol","y"]'
        await drop(server, sock, sid)
        await server.emit("acked", "away", to=sid, ack=True)
        await server.emit("vol", "away", volatile=True)
        await server.emit("stored", "away")
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert [event_of(f)[:2] for f in frames[:-1]] == [["stored", "away"]]
        assert json.loads(frames[-1][1:])["sid"] == sid
        await sock.close()


async def test_a_session_is_restored_once() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        first, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[-1][1:])["sid"] == reply["sid"]
        second, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[-1][1:])["sid"] != reply["sid"], "two live sockets with one sid"
        await first.close()
        await second.close()


async def test_packet_log_never_exceeds_max_packets() -> None:
    async with recovery_server("--max-packets", "50") as server:
        sock, reply, offset = await connected_with_offset(server)
        for n in range(200):
            await server.emit("flood", n)
        for n in range(200):
            assert event_of(await sock.recv())[:2] == ["flood", n]
        stats = await server.get("/stats")
        assert stats["packets"]["/"] == 50 and stats["max_packets"] == 50
        await drop(server, sock, reply["sid"])
        # The offset was pruned with the oldest packets: recovering would silently lose events.
        sock, frames = await reconnect(server, {"pid": reply["pid"], "offset": offset})
        assert json.loads(frames[0][1:])["sid"] != reply["sid"]
        await sock.close()


async def test_kept_sessions_never_exceed_max_sessions() -> None:
    async with recovery_server("--max-sessions", "2") as server:
        dropped = []
        for _ in range(3):
            sock, reply, offset = await connected_with_offset(server)
            await drop(server, sock, reply["sid"])
            dropped.append((reply, offset))
        assert (await server.get("/stats"))["sessions"] == 2
        (oldest, oldest_offset), (newest, newest_offset) = dropped[0], dropped[-1]
        sock, frames = await reconnect(server, {"pid": oldest["pid"], "offset": oldest_offset})
        assert json.loads(frames[-1][1:])["sid"] != oldest["sid"]
        await sock.close()
        sock, frames = await reconnect(server, {"pid": newest["pid"], "offset": newest_offset})
        assert json.loads(frames[-1][1:])["sid"] == newest["sid"]
        await sock.close()


async def test_binary_events_are_stored_and_replayed_with_their_attachments() -> None:
    async with recovery_server() as server:
        sock, reply, offset = await connected_with_offset(server)
        await drop(server, sock, reply["sid"])
        await server.emit("bin", "payload", binary=True)
        sock = await RawSocket.open(server.url)
        await sock.send("40" + json.dumps({"pid": reply["pid"], "offset": offset}))
        header = await sock.recv()
        assert re.fullmatch(r'51-\["bin",\{"_placeholder":true,"num":0\},"[A-Za-z0-9_.-]+"\]', header), header
        assert await sock.recv_bytes() == b"payload"
        assert await sock.recv() == f'0{{"sid":"{reply["sid"]}","pid":"{reply["pid"]}"}}'
        await sock.close()


async def test_each_namespace_has_its_own_sessions_and_log() -> None:
    async with recovery_server() as server:
        sock = await RawSocket.open(server.url)
        await sock.send("40/other,")
        frame = await sock.recv()
        assert re.fullmatch(r'0/other,\{"sid":"[A-Za-z0-9_-]{20}","pid":"[A-Za-z0-9_-]{20}"\}', frame), frame
        other = json.loads(frame.split(",", 1)[1])
        await server.emit("hello", namespace="/other")
        frame = await sock.recv()
        assert frame.startswith('2/other,["hello",'), frame
        offset = json.loads(frame.split(",", 1)[1])[-1]
        await sock.close()
        await server.wait_disconnect(other["sid"])
        await server.emit("missed", namespace="/other")
        await server.emit("not for /other")

        sock = await RawSocket.open(server.url)
        auth = json.dumps({"pid": other["pid"], "offset": offset})
        await sock.send("40" + auth)
        assert json.loads((await sock.recv())[1:])["sid"] != other["sid"], "a /other session restored on /"
        await sock.send("40/other," + auth)
        missed, connect = await sock.recv(), await sock.recv()
        assert missed.startswith('2/other,["missed",'), missed
        assert connect == f'0/other,{{"sid":"{other["sid"]}","pid":"{other["pid"]}"}}'
        await sock.close()
