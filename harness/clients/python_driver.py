"""The default driver: the tutorial's chat page, played by python-socketio behaving as socket.io-client.

The page script is the tutorial's (steps "server delivery" to "exactly once"): `auth.serverOffset` set
from whatever `chat message` arrived last, `${socket.id}-${counter++}` as the clientOffset, emits with an
ack callback, `ackTimeout` + `retries` or the recursive `socket.timeout(5000).emit` retry. Events,
arguments and offsets are the target's protocol (`harness.protocol`), the tutorial's by default. The
socket under it is `harness.clients.sioclient.SioClientSocket`.
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any

from harness.clients.backoff import Backoff
from harness.clients.base import ClientDriver
from harness.clients.recorder import SendPolicy
from harness.clients.sioclient import DISCONNECTED, TIMED_OUT, UNDEFINED, SioClientSocket, js_truthy
from harness.clients.slot import PageBase, PageSlotDriver, page_offset
from harness.history import make_content


class _Page(PageBase):
    """One load of the page: its socket, counter and in-memory offset. A refresh makes a new one."""

    def __init__(self, proc: str, driver: ClientDriver, policy: SendPolicy, server_offset: Any) -> None:
        super().__init__(proc, driver, policy, server_offset)
        settings = self.settings
        self._sent_offset = page_offset(server_offset)
        self._counter = 0
        self._seq = 0
        self._rng = random.Random(f"{self.seed}:{proc}")
        self._last_sid: str | None = None
        self._placeholder_sid = "".join(self._rng.choice(string.ascii_letters + string.digits + "-_")
                                        for _ in range(20))
        self._first_outcome = asyncio.Event()
        self.socket = SioClientSocket(
            self.url, self, auth=self._auth, transports=list(settings.transports),
            ack_timeout=None if settings.retry_mode == "manual" else settings.ack_timeout,
            retries=settings.retries if policy.queued else 0,
            backoff=Backoff(settings.reconnection_delay, settings.reconnection_delay_max,
                            settings.randomization_factor, self._rng),
            namespace=self.protocol.namespace, path=self.protocol.path)
        self._event = self.protocol.send.event

    @property
    def is_connected(self) -> bool:
        return self.socket.connected

    async def discard(self) -> None:
        await self.socket.teardown()

    async def open(self) -> None:
        self.recorder.begin(page_offset(self.server_offset))
        self.socket.open()
        await self._first_outcome.wait()

    async def send(self, text: str) -> str:
        self._seq += 1
        msg_id = f"{self.proc}:{self._seq}"
        content = make_content(msg_id, text)
        client_offset = self._client_offset()
        self.recorder.invoke(msg_id, client_offset)
        args = self.protocol.encode_send(content, client_offset)
        if not self.policy.observe_ack:
            await self.socket.emit(self._event, *args)
        elif self.policy.manual_timeout is not None:
            await self._manual_emit(msg_id, args)
        else:
            await self.socket.emit(self._event, *args, callback=self._outcome_callback(msg_id))
        return msg_id

    async def _manual_emit(self, msg_id: str, args: list[Any]) -> None:
        """The tutorial's `function emit(socket, event, arg)`: on any error, emit again, forever."""

        async def callback(err: Any = UNDEFINED, *response: Any) -> None:
            if js_truthy(err):
                await self._manual_emit(msg_id, args)
            else:
                self._taken(msg_id, response)

        await self.socket.emit(self._event, *args, callback=callback, timeout=self.policy.manual_timeout)

    def _taken(self, msg_id: str, response: tuple[Any, ...]) -> None:
        """An ack came: a success unless the protocol's `ack_ok` says the server refused the message."""
        if self.protocol.ack_succeeded(response):
            self.recorder.acked(msg_id)
        else:
            self.recorder.failed(msg_id, "rejected")

    def _outcome_callback(self, msg_id: str) -> Any:
        async def callback(err: Any = UNDEFINED, *response: Any) -> None:
            if self.policy.plain_callback:
                # Not error-first: every argument is the server's.
                self._taken(msg_id, response if err is UNDEFINED else (err, *response))
            elif not js_truthy(err):
                self._taken(msg_id, response)
            elif self.policy.queued:
                self.recorder.failed(msg_id, "gave-up")
            else:
                message = str(err)
                self.recorder.failed(msg_id, "timeout" if message == TIMED_OUT else
                                     "disconnect" if message == DISCONNECTED else message)
        return callback

    def _client_offset(self) -> str | None:
        style = self.settings.client_offset
        if style == "none":
            return None
        if style == "random":
            return f"{self._rng.getrandbits(128):032x}"
        sid = self.socket.id
        if style == "socket-id-undefined":
            # The tutorial's bug, kept on purpose: socket.id is undefined while offline.
            base = sid if sid is not None else "undefined"
        else:
            base = sid or self._last_sid or self._placeholder_sid
        offset = f"{base}-{self._counter}"
        self._counter += 1
        return offset

    def _auth(self) -> dict[str, Any]:
        # Re-read on every (re)connect, like the tutorial's mutable `socket.auth` object; an undefined
        # offset is dropped by JSON.stringify, so it is left out here too.
        self._sent_offset = page_offset(self.server_offset)
        return self.protocol.auth_payload(self.server_offset)

    # -- SocketListener --------------------------------------------------------------------------------

    def on_connect(self, sid: str, recovered: bool) -> None:
        self._last_sid = sid
        self.recorder.connected(sid, recovered, self._sent_offset)
        self.connected.set()
        self._first_outcome.set()

    def on_connect_error(self, message: str) -> None:
        self.recorder.connect_failed(message)
        self._first_outcome.set()

    def on_disconnect(self, reason: str) -> None:
        self.connected.clear()
        self.recorder.disconnected(reason)

    def on_event(self, event: str, args: list[Any], csr_offset: str | None) -> None:
        message = self.protocol.decode(event, args)
        if message is None:
            return
        self.recorder.received_message(message.content, message.offset, csr_offset)
        # `socket.auth.serverOffset = serverOffset`: whatever the offset argument is, even none.
        self.server_offset = message.offset

    def on_outgoing(self, args: list[Any]) -> None:
        if args and args[0] == self._event:
            self.recorder.written(self.protocol.sent_content(args[1:]))


class PythonDriver(PageSlotDriver[_Page]):
    """The tutorial's page on python-socketio, faithful to socket.io-client 4.8 (see docs/clients.md)."""

    def _new_page(self, proc: str, server_offset: Any) -> _Page:
        return _Page(proc, self, self._policy, server_offset)

    async def close_engine(self) -> None:
        """`socket.io.engine.close()`: drop the transport; the client reconnects by itself."""
        await self._page.socket.close_engine()

    async def disconnect(self) -> None:
        """`socket.disconnect()`: the page leaves (the server keeps no CSR session) and stays offline."""
        await self._page.socket.disconnect()

    async def connect(self) -> None:
        """`socket.connect()` after `disconnect()`: the page connects again (with backoff on failure)."""
        self._page.socket.connect()
