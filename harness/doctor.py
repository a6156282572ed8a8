"""The doctor's probes: which tutorial step a server behaves like, found in a few seconds without faults.

Each probe is one thing a step adds (docs/targets.md, "Check a target with doctor"), done with the
target's own protocol (`harness.protocol`) by a few python-socketio clients:

- broadcast: a message sent by one client comes back to every client as the described broadcast;
- ack: the send is acknowledged, and the ack says success (`protocol.send.ack_ok`);
- recovery: a client whose transport drops misses a message, reconnects, and receives it (by connection
  state recovery, or by the offset replay of a server that has no CSR);
- replay: a fresh client connecting with the offset of an older message receives exactly the newer ones;
- dedupe: the same clientOffset sent twice is stored once;
- state: the target's state reader returns the messages the doctor sent.

The steps are cumulative as in the tutorial, so the step a server behaves like is the last of
`harness.steps.STEPS` whose probes all hold. A probe that fails prints what the server did instead and
which field of the target file would fix the description, when the description is what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

from harness.clients.recovery import RecoveringAsyncClient
from harness.databases import fresh_postgres_database, sqlite_url
from harness.errors import HarnessError
from harness.processes import ManagedProcess, PortHold
from harness.protocol import CLIENT_OFFSET, Protocol, template_strings
from harness.redis import RedisServer
from harness.scenario import Target
from harness.state import Where, read_state
from harness.steps import ACKING, STEPS
from harness.target import ServerHandle
from harness.targetfile import TargetSpec

BROADCAST_WAIT = 5.0
"""Seconds a sent message has to come back as a broadcast."""
ACK_WAIT = 0.5
"""Seconds an ack may take after the broadcast of its message (the ack follows the commit)."""
CATCH_UP_WAIT = 1.0
"""Seconds a reconnected client has to receive what it missed."""
STRAY_WAIT = 0.2
"""After the awaited message, how long to keep listening for ones that should not come."""

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    text: str


@dataclass
class Diagnosis:
    """What the probes found; `behaves` is the step of `harness.steps.STEPS` the server behaves like."""

    claimed: str
    checks: list[Check] = field(default_factory=list)
    features: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def behaves(self) -> str | None:
        """The last step whose probes hold, or None when not even the broadcast works."""
        f = self.features
        if not f.get("broadcast"):
            return None
        needs = {"csr": f.get("recovery"), "server-delivery": f.get("replay"), "at-least-once": f.get("ack"),
                 "exactly-once": f.get("dedupe")}
        reached = "baseline"
        for step in STEPS[1:]:
            if not needs[step]:
                break
            reached = step
        return reached

    @property
    def reached(self) -> bool:
        behaves = self.behaves
        state_ok = self.features.get("state", True)
        return behaves is not None and STEPS.index(behaves) >= STEPS.index(self.claimed) and state_ok


Report = Callable[[Check], None]


@dataclass
class _Seen:
    event: str
    args: list[Any]


class _Probe:
    """One page: a client that records every event it receives, in order, and can drop its transport."""

    def __init__(self, url: str, protocol: Protocol, transports: list[str]) -> None:
        self.url = url
        self.protocol = protocol
        self.transports = transports
        self.client = RecoveringAsyncClient(reconnection=False, handle_sigint=False)
        self.seen: list[_Seen] = []
        self.last_offset: int | str | None = None
        self._arrived = asyncio.Event()
        self._dropped = asyncio.Event()
        self.client.on("*", self._on_any, namespace=protocol.namespace)
        self.client.on("disconnect", self._on_disconnect, namespace=protocol.namespace)

    def _on_any(self, event: str, *args: Any) -> None:
        self.seen.append(_Seen(event, list(args)))
        received = self.protocol.decode(event, list(args))
        if received is not None and received.offset is not None:
            self.last_offset = received.offset
        self._arrived.set()

    def _on_disconnect(self, *reason: Any) -> None:
        self._dropped.set()

    async def connect(self, offset: int | str | None) -> None:
        self._dropped.clear()
        await self.client.connect(self.url, auth=self.protocol.auth_payload(offset), transports=self.transports,
                                  namespaces=[self.protocol.namespace],
                                  socketio_path=self.protocol.path.strip("/"), wait_timeout=5)

    async def drop_transport(self) -> None:
        """The network goes away under the page: the transport closes without a Socket.IO DISCONNECT,
        which the server treats as recoverable (as `socket.io.engine.close()` in a browser)."""
        eio = self.client.eio
        if eio.current_transport == "websocket" and eio.ws is not None:
            await eio.ws.close()
        else:
            await eio.disconnect(abort=True)
        await asyncio.wait_for(self._dropped.wait(), 5.0)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.disconnect(), 2.0)
        except (TimeoutError, OSError, aiohttp.ClientError):
            await self.client.eio.disconnect(abort=True)

    def messages(self) -> list[tuple[Any, int | str | None]]:
        """(content, offset) of every received event the protocol reads as a stored message."""
        decoded = (self.protocol.decode(s.event, s.args) for s in self.seen)
        return [(d.content, d.offset) for d in decoded if d is not None]

    def message(self, content: str) -> _Seen | None:
        """The first received event the protocol reads as the stored message `content`."""
        for seen in self.seen:
            decoded = self.protocol.decode(seen.event, seen.args)
            if decoded is not None and decoded.content == content:
                return seen
        return None

    def carrying(self, content: str) -> bool:
        """Whether some received event holds `content` anywhere in its arguments."""
        return any(find_pointer(s.args, lambda v: v == content) is not None for s in self.seen)

    def contents(self) -> list[Any]:
        return [content for content, _ in self.messages()]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def send(self, content: str, client_offset: str | None, *, ack: bool) -> asyncio.Future[list[Any]]:
        """Emit one message; the future resolves with the ack's arguments (never, when none comes)."""
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[list[Any]] = loop.create_future()

        def on_ack(*response: Any) -> None:
            if not acked.done():
                acked.set_result(list(response))

        args = self.protocol.encode_send(content, client_offset)
        await self.client.emit(self.protocol.send.event, tuple(args) if len(args) != 1 else args[0],
                               namespace=self.protocol.namespace, callback=on_ack if ack else None)
        return acked


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def find_pointer(document: Any, wanted: Callable[[Any], bool], here: str = "") -> str | None:
    """The JSON pointer of the first value in `document` for which `wanted` holds."""
    if wanted(document):
        return here
    items: list[tuple[str, Any]] = []
    if isinstance(document, list):
        items = [(str(i), v) for i, v in enumerate(document)]
    elif isinstance(document, dict):
        items = [(str(k).replace("~", "~0").replace("/", "~1"), v) for k, v in document.items()]
    for token, value in items:
        found = find_pointer(value, wanted, f"{here}/{token}")
        if found is not None:
            return found
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Doctor:
    """Runs the probes against a server at `url`, reporting each check as it is decided."""

    def __init__(self, spec: TargetSpec, url: str, report: Report) -> None:
        self.spec = spec
        self.protocol = spec.protocol
        self.url = url
        self.report = report
        self.diagnosis = Diagnosis(claimed=spec.step)
        self.token = secrets.token_hex(3)
        self._n = 0
        self.sent: list[str] = []
        self.offsets_sent = CLIENT_OFFSET in template_strings(list(self.protocol.send.args))
        # Every send asks for an ack unless the target says not to: the tutorial's exactly-once handler
        # calls its callback unconditionally, and a send without one would crash it.
        self.ask_ack = self.protocol.send.ack is not False
        transports = self.protocol.transports or ("websocket",)
        self._transports = list(transports)
        self._probes: list[_Probe] = []

    def check(self, name: str, status: Status, text: str, feature: bool | None = None) -> None:
        if feature is not None:
            self.diagnosis.features[name] = feature
        item = Check(name, status, text)
        self.diagnosis.checks.append(item)
        self.report(item)

    def _next(self) -> tuple[str, str | None]:
        self._n += 1
        name = f"doctor-{self.token}-{self._n}"
        self.sent.append(name)
        # Unlike the content, so that a hint about where the content sits cannot point at the offset.
        return name, f"{self.token}:{self._n}" if self.offsets_sent else None

    async def _probe(self, offset: int | str | None = None) -> _Probe:
        probe = _Probe(self.url, self.protocol, self._transports)
        self._probes.append(probe)
        await probe.connect(offset)
        return probe

    async def close(self) -> None:
        for probe in self._probes:
            if probe.client.connected:
                await probe.close()

    async def run(self, read_state: Callable[[], Any]) -> Diagnosis:
        try:
            a, b = await self._connect()
        except _Stop:
            return self.diagnosis
        try:
            first = await self._broadcast(a, b)
            if first is None:
                return self.diagnosis
            second = await self._send_and_see(a, b)
            await self._replay(first, second)
            await self._recovery(a, b)
            duplicated = await self._dedupe(a, b)
            await self._state(read_state, duplicated)
            return self.diagnosis
        finally:
            await self.close()

    async def _connect(self) -> tuple[_Probe, _Probe]:
        started = time.monotonic()
        try:
            a = await self._probe()
            b = await self._probe()
        except Exception as exc:
            self.check("connect", "fail", f"a client cannot connect to {self.url} (namespace "
                                          f"{self.protocol.namespace}, path {self.protocol.path}, transports "
                                          f"{','.join(self._transports)}): {exc or type(exc).__name__}; check "
                                          f"protocol.namespace, protocol.path and protocol.transports",
                       feature=False)
            raise _Stop() from None
        self.check("connect", "ok", f"two clients connect ({(time.monotonic() - started) * 1000:.0f} ms, "
                                    f"transports {','.join(self._transports)})", feature=True)
        return a, b

    async def _broadcast(self, a: _Probe, b: _Probe) -> tuple[str, int | str | None] | None:
        content, offset = self._next()
        send = self.protocol.send
        sent_args = self.protocol.encode_send(content, offset)
        acked = await a.send(content, offset, ack=self.ask_ack)
        started = time.monotonic()
        # Stop early when the content arrived in an event the description does not read: that event is
        # what the hint names.
        both = await b.wait_for(lambda: content in b.contents() or b.carrying(content), BROADCAST_WAIT)
        if both and content not in b.contents():
            both = await b.wait_for(lambda: content in b.contents(), STRAY_WAIT)
        if not both:
            self.check("broadcast", "fail", self._no_broadcast(b, content, sent_args), feature=False)
            return None
        own = await a.wait_for(lambda: content in a.contents(), 1.0)
        seen = b.message(content)
        assert seen is not None  # the wait above returned on it
        args, event_name = seen.args, seen.event
        received = dict(b.messages())[content]
        elapsed = (time.monotonic() - started) * 1000
        if not own:
            self.check("broadcast", "fail", f"the other client received `{event_name}` but the sender did not: "
                                            f"the harness expects the server to broadcast to everyone, the "
                                            f"sender too (io.emit, not socket.broadcast.emit)", feature=False)
            return None
        text = f"a sent `{send.event}` comes back to every client as `{event_name}` {_short(args)} " \
               f"({elapsed:.0f} ms)"
        if received is None:
            ints = find_pointer(args, _is_int)
            text += f"; but no server offset at protocol.receive.offset {self.protocol.receive.offset}" + \
                (f" (an integer is at {ints}: set protocol.receive.offset)" if ints else "")
        self.check("broadcast", "ok", text, feature=True)
        await self._ack(acked, content)
        return content, received

    def _no_broadcast(self, b: _Probe, content: str, sent_args: list[Any]) -> str:
        wanted = " or ".join(f"`{e}`" for e in self.protocol.receive.event)
        head = f"no {wanted} broadcast after sending " \
               f"`{self.protocol.send.event}` {_short(sent_args)}"
        others = [s for s in b.seen if s.event not in self.protocol.receive.event]
        same = [s for s in b.seen if s.event in self.protocol.receive.event]
        if same:
            s = same[-1]
            where = find_pointer(s.args, lambda v: v == content)
            fix = f"the content is at {where}: set protocol.receive.content" if where else \
                "the content sent is not in it: check protocol.send.args"
            return f"{head} carrying the content at protocol.receive.content {self.protocol.receive.content}; " \
                   f"the server sent `{s.event}` with arguments {_short(s.args)}: {fix}"
        if others:
            s = others[-1]
            where = find_pointer(s.args, lambda v: v == content)
            fix = "set protocol.receive.event" + (f" (and protocol.receive.content to \"{where}\")"
                                                  if where and where != self.protocol.receive.content else "")
            return f"{head}; the server sent `{s.event}` with arguments {_short(s.args)}: {fix}"
        return f"{head}, and no other event within {BROADCAST_WAIT:.0f} s: check protocol.send.event and " \
               f"protocol.send.args (the server may ignore or reject what it received; see its log)"

    async def _ack(self, acked: asyncio.Future[list[Any]], content: str) -> None:
        expected = self.spec.step in ACKING or self.protocol.send.ack is True
        if not self.ask_ack:
            self.check("ack", "skip", "not asked for (protocol.send.ack is false)", feature=False)
            return
        try:
            response = await asyncio.wait_for(asyncio.shield(acked), ACK_WAIT)
        except TimeoutError:
            status: Status = "fail" if expected else "skip"
            self.check("ack", status, f"no ack within {ACK_WAIT:.0f} s after the broadcast" +
                       (f": a {self.spec.step} server acknowledges each message once it is stored"
                        if expected else " (this step needs none)"), feature=False)
            return
        if not self.protocol.ack_succeeded(response):
            self.check("ack", "fail", f"the ack {_short(response)} does not contain protocol.send.ack_ok "
                                      f"{_short(self.protocol.send.ack_ok)}: fix ack_ok, or the server refused "
                                      f"the message", feature=False)
            return
        self.check("ack", "ok", f"the send is acknowledged with {_short(response)}", feature=True)

    async def _send_and_see(self, a: _Probe, b: _Probe) -> tuple[str, int | str | None]:
        content, offset = self._next()
        await a.send(content, offset, ack=self.ask_ack)
        await b.wait_for(lambda: content in b.contents(), BROADCAST_WAIT)
        return content, dict(b.messages()).get(content)

    async def _replay(self, first: tuple[str, Any], second: tuple[str, Any]) -> None:
        needed = STEPS.index(self.spec.step) >= STEPS.index("server-delivery")
        if first[1] is None:
            self.check("replay", "fail" if needed else "skip",
                       "cannot try a reconnect with an offset: the broadcast carries no server offset "
                       "(set protocol.receive.offset)", feature=False)
            return
        c = await self._probe(first[1])
        await c.wait_for(lambda: second[0] in c.contents(), CATCH_UP_WAIT)
        await asyncio.sleep(STRAY_WAIT)  # anything replayed after the missing message would show here
        ours = [x for x in c.contents() if x in self.sent]
        await c.close()
        auth = _short(self.protocol.auth_payload(first[1]))
        if ours == [second[0]]:
            self.check("replay", "ok", f"a client connecting with auth {auth} receives the newer message "
                                       f"only (server delivery)", feature=True)
            return
        status: Status = "fail" if needed else "skip"
        if not ours:
            text = f"a client connecting with auth {auth} received nothing within {CATCH_UP_WAIT:.0f} s: the " \
                   f"server does not send what a reconnecting client missed" + \
                   ("" if needed else " (this step needs no replay)") + \
                   ("; if it reads the offset elsewhere, set protocol.auth.offset" if needed else "")
        elif first[0] in ours:
            text = f"a client connecting with auth {auth} received {_short(ours)}: the message at that offset " \
                   f"again, which it already had; the replay must send only offsets after it (> not >=)"
        else:
            text = f"a client connecting with auth {auth} received {_short(ours)}, expected [{second[0]!r}]"
        self.check("replay", status, text, feature=False)

    async def _recovery(self, a: _Probe, b: _Probe) -> None:
        needed = STEPS.index(self.spec.step) >= STEPS.index("csr")
        status: Status = "fail" if needed else "skip"
        offset = a.last_offset
        await a.drop_transport()
        content, client_offset = self._next()
        await b.send(content, client_offset, ack=self.ask_ack)
        if not await b.wait_for(lambda: content in b.contents(), BROADCAST_WAIT):
            self.check("recovery", status, "the message sent while a client was away was not broadcast to "
                                           "the others", feature=False)
            return
        try:
            await a.connect(offset)
        except Exception as exc:
            self.check("recovery", status, f"the client cannot reconnect after its transport dropped: {exc}",
                       feature=False)
            return
        got = await a.wait_for(lambda: content in a.contents(), CATCH_UP_WAIT)
        if got:
            how = "connection state recovery" if a.client.recovered else "the offset replay (no CSR)"
            self.check("recovery", "ok", f"a transport drop is recovered: the message sent meanwhile came back "
                                         f"by {how}", feature=True)
        else:
            self.check("recovery", status, f"after a transport drop, the message sent meanwhile did not come "
                                           f"back within {CATCH_UP_WAIT:.0f} s (recovered: "
                                           f"{str(a.client.recovered).lower()})" +
                       ("" if needed else " (baseline promises nothing here)"), feature=False)

    async def _dedupe(self, a: _Probe, b: _Probe) -> str | None:
        needed = self.spec.step == "exactly-once"
        if not self.offsets_sent:
            self.check("dedupe", "fail" if needed else "skip",
                       "not tried: protocol.send.args has no {client_offset}", feature=False)
            return None
        content, client_offset = self._next()
        wait_ack = self.diagnosis.features.get("ack", False)
        for _ in range(2):
            acked = await a.send(content, client_offset, ack=self.ask_ack)
            if wait_ack:
                try:
                    await asyncio.wait_for(acked, ACK_WAIT + BROADCAST_WAIT)
                except TimeoutError:
                    pass
        await b.wait_for(lambda: content in b.contents(), BROADCAST_WAIT)
        await asyncio.sleep(STRAY_WAIT)
        return content

    async def _state(self, read_state: Callable[[], Any], duplicated: str | None) -> None:
        needed = self.spec.step == "exactly-once"
        try:
            rows = await read_state()
        except HarnessError as exc:
            self.check("state", "fail", f"the state cannot be read: {exc}", feature=False)
            if duplicated:
                self.check("dedupe", "fail" if needed else "skip", "not judged: the state cannot be read",
                           feature=False)
            return
        contents = [r.get("content") for r in rows]
        missing = [m for m in self.sent if m not in contents]
        kind = self.spec.state.kind
        if missing:
            self.check("state", "fail", f"the state ({kind}) has {len(rows)} rows but not the doctor's "
                                        f"{_short(missing)}: check state.query (columns id, content, "
                                        f"client_offset)" + self._columns_hint(rows), feature=False)
        else:
            self.check("state", "ok", f"the state can be read ({kind}: {len(rows)} rows, ids "
                                      f"{_short([r.get('id') for r in rows[:2]])}...)", feature=True)
        if duplicated is None:
            return
        stored = contents.count(duplicated)
        if stored == 1 and not missing:
            self.check("dedupe", "ok", "the same clientOffset sent twice is stored once", feature=True)
        elif stored > 1:
            self.check("dedupe", "fail" if needed else "skip",
                       f"the same clientOffset sent twice is stored {stored} times" +
                       ("" if needed else " (this step does not deduplicate)"), feature=False)
        else:
            self.check("dedupe", "fail" if needed else "skip",
                       "not judged: the state does not show the message sent twice", feature=False)

    @staticmethod
    def _columns_hint(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return ""
        return f"; the first row is {_short(rows[0])}"


class _Stop(Exception):
    """A probe that makes every later one meaningless has failed (its check says why)."""


# -- the server and its state ----------------------------------------------------------------------------


@dataclass
class Started:
    handle: ServerHandle
    db_url: str

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def process(self) -> ManagedProcess | None:
        return self.handle.process


@asynccontextmanager
async def serve(spec: TargetSpec, run_dir: Path, postgres_dsn: str | None) -> AsyncIterator[Started]:
    """The target's server, started as its target file says (or only reached at its url), with a database
    of its own for this check; stopped by PID on the way out, whatever happens."""
    async with AsyncExitStack() as stack:
        db_url = ""
        if spec.database == "sqlite":
            db_url = sqlite_url(run_dir / "doctor.db")
        elif spec.database == "postgres":
            if not postgres_dsn:
                raise HarnessError("database postgres: give a PostgreSQL role that may create databases with "
                                   "--postgres DSN or SIO_HARNESS_POSTGRES_DSN")
            db_url = await stack.enter_async_context(fresh_postgres_database(postgres_dsn))
        redis: dict[str, str] = {}
        if spec.nodes > 1:
            # One node is enough to check the step, but its adapter needs the Redis a run would give it.
            server = RedisServer(run_dir, "doctor")
            stack.push_async_callback(server.close)
            await server.start()
            url = server.url_at(server.address)
            redis = {"redis_url": url, "redis_subscribe_url": url, "redis_channel": server.channel}
        hold = PortHold()
        stack.callback(hold.close)
        handle = ServerHandle(Target(kind="external", spec=spec), hold.port, db_url, run_dir, redis=redis)
        stack.push_async_callback(_stop, handle)
        await handle.start()
        yield Started(handle, db_url)


async def _stop(handle: ServerHandle) -> None:
    await handle.release()
    if handle.process is not None and handle.process.running:
        await handle.process.kill()


async def read_target_state(spec: TargetSpec, started: Started) -> list[dict[str, Any]]:
    """The messages the target stored, as rows `{id, content, client_offset}`, read as `state` says."""
    handle = started.handle
    where = Where(url=handle.url, rows_url=started.db_url, sqlite_path=handle.substitute(spec.state.path),
                  cwd=str(spec.target_dir), command=tuple(handle.argv(spec.state.command or ())))
    return await read_state(spec.state, spec.protocol, where)
