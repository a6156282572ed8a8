"""Helpers shared by the client-driver tests (test_clients_*.py): servers, configs, history queries."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from harness.history import Event, read_history
from harness.processes import ManagedProcess
from harness.scenario import ClientSettings

APP = Path(__file__).with_name("clients_app.py")


async def start_app(port: int, ack: str = "always") -> ManagedProcess:
    """The logging test server of clients_app.py on `port`, ready."""
    proc = ManagedProcess(f"clients test app ({ack})",
                          [sys.executable, str(APP), "--port", str(port), "--ack", ack])
    await proc.start()
    try:
        await proc.wait_http(f"http://127.0.0.1:{port}/health")
    except BaseException:
        await proc.kill()
        raise
    return proc


async def app_log(port: int) -> list[dict[str, Any]]:
    """Every `chat message` try the test server received: `{"ack_id", "event", "args"}` in arrival order."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/log") as resp:
            return await resp.json()


async def app_log_of(port: int, count: int) -> list[dict[str, Any]]:
    """The test server's log once it holds at least `count` tries (a send may still be on its way)."""

    async def enough() -> list[dict[str, Any]]:
        log = await app_log(port)
        return log if len(log) >= count else []

    return await eventually(enough, what=f"{count} tries at the test server")


def fast_settings(**overrides: Any) -> ClientSettings:
    """Client settings with short reconnection delays, so a restarted server is found quickly."""
    settings: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2}
    settings.update(overrides)
    return ClientSettings(**settings)


async def eventually(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `condition` until truthy. Used where no event exists to await (a foreign server's log, a
    history line written by a background task); the 10 ms step keeps the wait short."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def events(path: Path, *, proc: str | None = None, f: str | None = None,
           type_: str | None = None) -> list[Event]:
    return [e for e in read_history(path)
            if (proc is None or e["proc"] == proc) and (f is None or e["f"] == f)
            and (type_ is None or e["type"] == type_)]


def outcomes(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each message id's terminal send event: `(type, value)`."""
    return {e["value"]["id"]: (e["type"], e["value"]) for e in events(path, f="send") if e["type"] != "invoke"}
