"""A chat app's Socket.IO protocol as data: which event a page sends, what it broadcasts, where the offsets are.

The tutorial's page emits `chat message (content, clientOffset)`, the server broadcasts
`chat message (content, serverOffset)` and a reconnecting page sends `auth.serverOffset`. Another app
says the same things its own way (`message:send {text, id}` acked with `{ok: true}`, a broadcast
`message:new {id, text, seq}`, `auth.since`); a target file describes that way (docs/targets.md) and every
client driver reads and writes messages through one `Protocol`. Pure data and JSON-pointer helpers only:
the drivers do the talking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CONTENT = "{content}"
CLIENT_OFFSET = "{client_offset}"
TEMPLATE_PLACEHOLDERS = (CONTENT, CLIENT_OFFSET)
"""The only values a send template may hold besides literal JSON: each stands for one whole value."""

_DROP = object()
"""A `{client_offset}` with no offset to put there (steps without clientOffset): left out of the emit."""


def pointer_parts(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (RFC 6901): `/0/text` -> `["0", "text"]`."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/' (e.g. /0 or /0/text), not {pointer!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def pointer_get(document: Any, pointer: str) -> Any:
    """The value at `pointer` in `document`, or None when there is nothing there."""
    value = document
    for token in pointer_parts(pointer):
        if isinstance(value, list):
            if not token.isdigit() or int(token) >= len(value):
                return None
            value = value[int(token)]
        elif isinstance(value, dict):
            if token not in value:
                return None
            value = value[token]
        else:
            return None
    return value


def pointer_set(document: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    """`document` with `value` placed at `pointer`, creating the objects on the way (auth payloads)."""
    parts = pointer_parts(pointer)
    if not parts:
        raise ValueError("the auth offset pointer must name a field, e.g. /serverOffset")
    node = document
    for token in parts[:-1]:
        node = node.setdefault(token, {})
    node[parts[-1]] = value
    return document


def normalize_pointer(value: str | int) -> str:
    """An argument index (`1`) or a JSON pointer (`/1/seq`), as a pointer."""
    return f"/{value}" if isinstance(value, int) else value


def _is_offset(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def subset_matches(expected: Any, actual: Any) -> bool:
    """`actual` has every key of `expected` with matching values (objects), or equals it (anything else)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and subset_matches(v, actual[k])
                                                for k, v in expected.items())
    return bool(expected == actual and type(expected) is type(actual))


@dataclass(frozen=True)
class Send:
    """What the page's form submit emits."""

    event: str = "chat message"
    args: tuple[Any, ...] = (CONTENT, CLIENT_OFFSET)
    """The emit's arguments; `{content}` and `{client_offset}` stand for whole values, anywhere inside."""
    ack: bool | Literal["auto"] = "auto"
    """Whether the page asks for an ack: `auto` lets the claimed step decide (harness.steps.ACKING)."""
    ack_ok: Any = None
    """None: any ack is a success; else the first ack argument must contain this value (a subset)."""


@dataclass(frozen=True)
class Receive:
    """Where a broadcast carries the message and its server offset."""

    event: tuple[str, ...] = ("chat message",)
    """The event names that carry a stored message (a replay may use its own)."""
    content: str = "/0"
    """JSON pointer to the content in the event's argument array."""
    offset: str = "/1"
    """JSON pointer to the server offset (an integer up to 2**63-1, or a string)."""


@dataclass(frozen=True)
class Auth:
    """What a reconnecting page puts in its handshake auth."""

    offset: str = "/serverOffset"
    """JSON pointer in the auth object that carries the last server offset received."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Fixed auth values sent on every connect (a token, a room), under the offset."""


@dataclass(frozen=True)
class Received:
    """One decoded broadcast."""

    content: Any
    offset: int | str | None


@dataclass(frozen=True)
class Protocol:
    """The whole description; the defaults are the tutorial's protocol."""

    namespace: str = "/"
    path: str = "/socket.io/"
    transports: tuple[str, ...] | None = None
    """None: the scenario's client settings decide (WebSocket only, for the frame-aware toxics)."""
    send: Send = field(default_factory=Send)
    receive: Receive = field(default_factory=Receive)
    auth: Auth = field(default_factory=Auth)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        """The protocol of a (schema-valid) target file's `protocol` object; missing parts are the tutorial's."""
        send, receive, auth = data.get("send", {}), data.get("receive", {}), data.get("auth", {})
        events = receive.get("event", Receive.event)
        transports = data.get("transports")
        return cls(
            namespace=data.get("namespace", "/"), path=data.get("path", "/socket.io/"),
            transports=tuple(transports) if transports is not None else None,
            send=Send(event=send.get("event", Send.event), args=tuple(send.get("args", Send.args)),
                      ack=send.get("ack", "auto"), ack_ok=send.get("ack_ok")),
            receive=Receive(event=(events,) if isinstance(events, str) else tuple(events),
                            content=normalize_pointer(receive.get("content", Receive.content)),
                            offset=normalize_pointer(receive.get("offset", Receive.offset))),
            auth=Auth(offset=normalize_pointer(auth.get("offset", Auth.offset)),
                      fields=dict(auth.get("fields", {}))))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "namespace": self.namespace, "path": self.path,
            "send": {"event": self.send.event, "args": list(self.send.args), "ack": self.send.ack,
                     "ack_ok": self.send.ack_ok},
            "receive": {"event": list(self.receive.event), "content": self.receive.content,
                        "offset": self.receive.offset},
            "auth": {"offset": self.auth.offset, **({"fields": self.auth.fields} if self.auth.fields else {})},
        }
        if self.transports is not None:
            data["transports"] = list(self.transports)
        return data

    @property
    def is_tutorial(self) -> bool:
        return self == Protocol(transports=self.transports)

    # -- sending ---------------------------------------------------------------------------------------

    def encode_send(self, content: str, client_offset: str | None) -> list[Any]:
        """The emit's arguments for one message (the event name not included).

        Without a clientOffset, a `{client_offset}` is left out: a trailing argument is dropped (the
        tutorial emits only the content at its early steps), an object key is removed, an inner
        argument becomes null.
        """
        args = [_fill(a, content, client_offset) for a in self.send.args]
        while args and args[-1] is _DROP:
            args.pop()
        return [None if a is _DROP else a for a in args]

    def sent_content(self, args: list[Any]) -> Any:
        """The content inside an emit's arguments (as handed to the transport), or None."""
        pointer = self.content_pointer
        return pointer_get(args, pointer) if pointer is not None else None

    @property
    def content_pointer(self) -> str | None:
        """Where `{content}` sits in the send template, as a JSON pointer into the argument array."""
        return _find(list(self.send.args), CONTENT, "")

    def ack_succeeded(self, response: tuple[Any, ...] | list[Any]) -> bool:
        """Whether the ack's arguments say the message was taken (`ack_ok`, or any ack at all)."""
        if self.send.ack_ok is None:
            return True
        return bool(response) and subset_matches(self.send.ack_ok, response[0])

    # -- receiving -------------------------------------------------------------------------------------

    def decode(self, event: str, args: list[Any]) -> Received | None:
        """A broadcast of a stored message as (content, server offset); None for any other event."""
        if event not in self.receive.event:
            return None
        offset = pointer_get(args, self.receive.offset)
        return Received(pointer_get(args, self.receive.content), offset if _is_offset(offset) else None)

    def auth_payload(self, offset: int | str | None) -> dict[str, Any]:
        """The handshake auth of a page whose last offset is `offset` (None: never received one, left out,
        as JSON.stringify drops the tutorial's undefined)."""
        payload = dict(self.auth.fields)
        return payload if offset is None else pointer_set(payload, self.auth.offset, offset)

    def to_js(self) -> dict[str, Any]:
        """What the node driver's page script needs (the same fields, JSON-ready)."""
        return {**self.to_dict(), "contentPointer": self.content_pointer}


def _fill(template: Any, content: str, client_offset: str | None) -> Any:
    if template == CONTENT:
        return content
    if template == CLIENT_OFFSET:
        return _DROP if client_offset is None else client_offset
    if isinstance(template, list):
        return [None if v is _DROP else v for v in (_fill(x, content, client_offset) for x in template)]
    if isinstance(template, dict):
        filled = {k: _fill(v, content, client_offset) for k, v in template.items()}
        return {k: v for k, v in filled.items() if v is not _DROP}
    return template


def _find(template: Any, placeholder: str, here: str) -> str | None:
    if template == placeholder:
        return here
    items: list[tuple[str, Any]] = []
    if isinstance(template, list):
        items = [(str(i), v) for i, v in enumerate(template)]
    elif isinstance(template, dict):
        items = [(k.replace("~", "~0").replace("/", "~1"), v) for k, v in template.items()]
    for token, value in items:
        found = _find(value, placeholder, f"{here}/{token}")
        if found is not None:
            return found
    return None


def template_strings(template: Any) -> list[str]:
    """Every string in a send template (checked for placeholders by the target file loader)."""
    if isinstance(template, str):
        return [template]
    if isinstance(template, list):
        return [s for v in template for s in template_strings(v)]
    if isinstance(template, dict):
        return [s for v in template.values() for s in template_strings(v)]
    return []
