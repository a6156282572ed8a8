"""A test double for the client-driver tests: a Socket.IO server that logs every `chat message` try.

The reference server cannot show what the client put on the wire (ack ids, each retry); this one logs
every EVENT it receives, with its ack id, in arrival order (`GET /log`), and acknowledges per `--ack`:
`always`, `never` (so the client times out and retries), or `after-first` (the first try of each content
gets no ack, the next ones do). Run: `python tests/clients_app.py --port P --ack never`.
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
from aiohttp import web


class LoggingServer(socketio.AsyncServer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[dict[str, Any]] = []

    async def _handle_event(self, eio_sid: str, namespace: str, id: int | None, data: list[Any]) -> None:
        self.log.append({"ack_id": id, "event": data[0], "args": data[1:]})
        await super()._handle_event(eio_sid, namespace, id, data)


def build_app(ack: str) -> web.Application:
    sio = LoggingServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    seen: set[str] = set()

    @sio.on("chat message")
    async def chat_message(sid: str, content: str, *rest: Any) -> Any:
        first_try = content not in seen
        seen.add(content)
        if ack == "never" or (ack == "after-first" and first_try):
            return sio.not_handled
        await sio.emit("chat message", (content, len(seen)))
        return None

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def log(_: web.Request) -> web.Response:
        return web.json_response(sio.log)

    app.router.add_get("/health", health)
    app.router.add_get("/log", log)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ack", choices=["always", "never", "after-first"], default="always")
    args = parser.parse_args()
    web.run_app(build_app(args.ack), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
