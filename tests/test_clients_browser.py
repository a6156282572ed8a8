"""The browser driver: the reference server's own pages in Chromium, typed into like a user.

Real processes throughout (the reference server, Chromium through Playwright) except the fault-kind unit
tests at the top. Skipped without Chromium (`apt-get install chromium`), failed instead under CI=true.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from clients_support import events, eventually, fast_settings, outcomes

from harness.clients import make_driver
from harness.clients.browser_driver import BrowserDriver, SharedBrowser, chromium_path
from harness.errors import MissingBinaryError, ScenarioError
from harness.faults import kind
from harness.faults.base import Fault, Heal
from harness.history import HistoryWriter
from harness.processes import ManagedProcess, free_port, start_reference_server
from harness.scenario import ClientSettings, resolve

EXACTLY_ONCE = {"ack": True, "ack_timeout": 1.0, "retries": 3, "retry_mode": "queue", "client_offset": "socket-id"}


class _FakePage:
    def __init__(self) -> None:
        self.proc = "c1"
        self.calls: list[Any] = []

    async def page_refresh(self) -> None:
        self.calls.append("refresh")

    async def tab_close(self) -> None:
        self.calls.append("tab_close")

    async def set_offline(self, offline: bool) -> None:
        self.calls.append(("offline", offline))


class _Ctx:
    def __init__(self) -> None:
        self.drivers = {"c1": _FakePage()}


async def test_offline_goes_offline_until_the_heal_and_tab_close_names_the_closed_lineage() -> None:
    ctx = _Ctx()
    page = ctx.drivers["c1"]
    heal = Heal("offline-0")
    await kind("offline").start(ctx, Fault("offline", "c1", {"at": 0}, 1.0), heal)  # type: ignore[arg-type]
    assert page.calls == [("offline", True)]
    await heal()
    assert page.calls == [("offline", True), ("offline", False)]
    closed = Heal("tab_close-1")
    await kind("tab_close").start(ctx, Fault("tab_close", "c1", {"at": 0}, 0.0), closed)  # type: ignore[arg-type]
    assert page.calls[-1] == "tab_close" and closed.detail == {"closed": "c1"}


@pytest.mark.parametrize("name", ["tab_close", "offline"])
def test_browser_faults_are_refused_with_another_driver(name: str) -> None:
    with pytest.raises(ScenarioError, match=f"faults.0.kind: {name} needs clients.driver browser"):
        resolve({"name": "t", "faults": [{"kind": name}]})
    assert resolve({"name": "t", "clients": {"driver": "browser"}, "faults": [{"kind": name}]}).faults


def test_the_durable_page_needs_the_browser(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "h.jsonl") as history, pytest.raises(ScenarioError, match="browser driver"):
        make_driver("python", "c1", ClientSettings(page="exactly-once-durable"), history, url="http://x")


def test_a_missing_chromium_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SIO_HARNESS_CHROMIUM", raising=False)
    with pytest.raises(MissingBinaryError, match="apt-get install chromium"):
        chromium_path()
    monkeypatch.setenv("SIO_HARNESS_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(MissingBinaryError, match="SIO_HARNESS_CHROMIUM"):
        chromium_path()


@pytest.fixture
def chromium() -> None:
    try:
        chromium_path()
    except MissingBinaryError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
async def server(tmp_path: Path, chromium: None):
    started: list[ManagedProcess] = []

    async def start(profile: str = "exactly-once") -> tuple[int, Path]:
        port = free_port()
        db = tmp_path / f"chat-{port}.db"
        started.append(await start_reference_server(port, f"sqlite:///{db}", profile))
        return port, db

    yield start
    for proc in started:
        await proc.terminate()


@pytest.fixture
async def browsers(tmp_path: Path):
    history = HistoryWriter(tmp_path / "history.jsonl")
    made: list[BrowserDriver] = []

    def make(slot: str, port: int, settings: ClientSettings) -> BrowserDriver:
        driver = make_driver("browser", slot, settings, history, url=f"http://127.0.0.1:{port}")
        assert isinstance(driver, BrowserDriver)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        await driver.close()
    history.close()
    assert not SharedBrowser._by_loop, "Chromium outlived its last page"


def _rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT content, client_offset FROM messages ORDER BY id").fetchall()


async def test_typed_messages_are_recorded_shown_and_stored(server, browsers, tmp_path: Path) -> None:
    port, db = await server()
    c1 = browsers("c1", port, fast_settings(**EXACTLY_ONCE))
    c2 = browsers("c2", port, fast_settings(**EXACTLY_ONCE))
    await c1.start()
    await c2.start()
    sent = [await c1.send("hello"), await c2.send("there")]
    path = tmp_path / "history.jsonl"
    await eventually(lambda: len(events(path, f="recv")) == 4 and c1.pending == c2.pending == 0,
                     what="both broadcasts on both pages")
    assert sent == ["c1:1", "c2:1"]
    assert {m: o[0] for m, o in outcomes(path).items()} == {"c1:1": "ok", "c2:1": "ok"}
    [invoke] = events(path, proc="c1", f="send", type_="invoke")
    [connect] = events(path, proc="c1", f="connect", type_="ok")
    assert invoke["value"]["client_offset"] == f"{connect['value']['sid']}-0"
    assert [content for content, _ in _rows(db)] == ["c1:1 hello", "c2:1 there"]
    await c1.close()
    [shown] = events(path, proc="c1", f="shown")
    assert shown["value"] == {"items": 2, "not_shown": []}
    [end] = events(path, proc="c1", f="end")
    assert end["value"] == {"connected": True}


async def test_a_reload_abandons_the_tutorial_pages_offline_messages(server, browsers, tmp_path: Path) -> None:
    port, db = await server()
    c1 = browsers("c1", port, fast_settings(**EXACTLY_ONCE))
    await c1.start()
    await c1.send("online")
    await eventually(lambda: c1.pending == 0, what="the first message's ack")
    await c1.set_offline(True)
    path = tmp_path / "history.jsonl"
    await eventually(lambda: events(path, proc="c1", f="disconnect"), what="the offline event's disconnect")
    buffered = await c1.send("offline")
    await c1.page_refresh()
    await c1.set_offline(False)
    assert await c1.wait_connected(10)
    assert outcomes(path)[buffered] == ("fail", {"id": buffered, "reason": "refresh"})
    assert [e["value"] for e in events(path, f="refresh")] == [{"next": "c1.1"}]
    [start] = events(path, proc="c1.1", f="start")
    assert start["value"] == {"lineage": "c1", "server_offset": 0}
    assert [content for content, _ in _rows(db)] == ["c1:1 online"]


async def test_the_durable_page_sends_its_outbox_again_after_a_reload(server, browsers, tmp_path: Path) -> None:
    port, db = await server()
    c1 = browsers("c1", port, fast_settings(**EXACTLY_ONCE, page="exactly-once-durable"))
    await c1.start()
    await c1.send("online")
    await eventually(lambda: c1.pending == 0, what="the first message's ack")
    await c1.set_offline(True)
    path = tmp_path / "history.jsonl"
    await eventually(lambda: events(path, proc="c1", f="disconnect"), what="the offline event's disconnect")
    buffered = await c1.send("offline")
    await c1.page_refresh()
    await c1.set_offline(False)
    await eventually(lambda: events(path, proc="c1.1", f="send", type_="ok"), what="the outbox sent again")
    first = next(e for e in events(path, proc="c1", f="send", type_="invoke") if e["value"]["id"] == buffered)
    [again] = events(path, proc="c1.1", f="send", type_="invoke")
    assert again["value"] == first["value"], "sent again under the same id and clientOffset"
    assert not first["value"]["client_offset"].startswith("undefined")
    assert [e["value"] for e in events(path, proc="c1.1", f="send", type_="ok")] == [{"id": buffered, "tries": 1}]
    assert [content for content, _ in _rows(db)] == ["c1:1 online", f"{buffered} offline"]
    [start] = events(path, proc="c1.1", f="start")
    assert start["value"]["server_offset"] == 1, "the offset kept in localStorage"


async def test_a_broadcast_the_old_page_stores_during_its_reload_is_where_the_new_page_starts(
        server, browsers, tmp_path: Path) -> None:
    """The refresh began, the old document is still there and stores one more broadcast, then the
    navigation commits: the new lineage starts from that last stored offset, as its page does."""
    port, _ = await server()
    c1 = browsers("c1", port, fast_settings(**EXACTLY_ONCE, page="exactly-once-durable"))
    c2 = browsers("c2", port, fast_settings(**EXACTLY_ONCE))
    await c1.start()
    await c2.start()
    path = tmp_path / "history.jsonl"
    assert c1._tab is not None
    tab = c1._tab.tab
    real_reload = tab.reload

    async def reload_after_one_more_broadcast(**kwargs: Any) -> Any:
        late = await c2.send("while c1 reloads")
        await eventually(lambda: any(e["value"]["id"] == late for e in events(path, proc="c1", f="recv")),
                         what="the old page's receipt of the late broadcast")
        return await real_reload(**kwargs)

    tab.reload = reload_after_one_more_broadcast  # type: ignore[method-assign]
    await c1.page_refresh()
    assert await c1.wait_connected(10)
    [late_recv] = events(path, proc="c1", f="recv")
    [start] = events(path, proc="c1.1", f="start")
    [connect] = events(path, proc="c1.1", f="connect", type_="ok")
    assert start["value"]["server_offset"] == late_recv["value"]["server_offset"] == connect["value"]["server_offset"]


async def test_a_closed_tab_ends_its_lineage(server, browsers, tmp_path: Path) -> None:
    port, _ = await server()
    c1 = browsers("c1", port, fast_settings(**EXACTLY_ONCE))
    await c1.start()
    await c1.send("hello")
    await c1.tab_close()
    assert await c1.send("after") == "" and c1.connected
    await c1.close()
    path = tmp_path / "history.jsonl"
    [end] = events(path, proc="c1", f="end")
    assert end["value"] == {"connected": False}
    assert [e["value"]["id"] for e in events(path, f="send", type_="invoke")] == ["c1:1"]


@pytest.mark.parametrize(("name", "abandoned"), [("browser-page-refresh", True),
                                                 ("browser-durable-page-refresh", False)])
async def test_the_bundled_browser_runs_pass_and_link_their_traces(name: str, abandoned: bool, chromium: None,
                                                                   tmp_path: Path) -> None:
    from harness.runner import run_scenario
    from harness.scenario import load

    result = await run_scenario(load(name), tmp_path)
    assert result.passed, result.unmet
    assert bool(result.verdict.counts["abandoned"]) is abandoned
    report = (result.run_dir / "report.html").read_text()
    for slot in ("c1", "c2"):
        assert (result.run_dir / f"browser-trace-{slot}.zip").stat().st_size > 0
        assert f'href="browser-trace-{slot}.zip"' in report
