"""The `browser` driver: the tutorial's own page (`index.html`, served by the server) in a real Chromium.

The page is loaded through the client's proxy link, so its `io()` (which connects to the page's own origin)
goes through the proxy as every other driver's socket does. A user types each message into the form's
input and submits it; `browser/recorder.js`, injected before the page's scripts, reports what the page
observes through an exposed binding, and this side turns the reports into history events with the same
`PageRecorder` as the other drivers. What the page shows (its `<li>` list) is read when a page goes away.

One Chromium per event loop serves every slot of a run: each slot is one browser context (its own storage)
holding one tab. A page refresh is `page.reload()`, a real reload that drops everything the page held in
memory and keeps its localStorage; `tab_close` closes the tab and ends its lineage; `offline` is the
context's offline mode. Chromium is started by this module and stopped by its PID (Playwright connects to
it over the DevTools protocol); it is found on PATH or at `$SIO_HARNESS_CHROMIUM`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import orjson

from harness.clients.base import ClientDriver
from harness.clients.recorder import SendPolicy
from harness.clients.sioclient import DISCONNECTED, TIMED_OUT
from harness.clients.slot import PageBase, PageSlotDriver, page_offset
from harness.errors import MissingBinaryError, ProcessStartError
from harness.history import HistoryWriter, make_content, message_id
from harness.runfolder import RunFolder
from harness.scenario import ClientSettings

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright
    from playwright.async_api import Page as Tab

RECORDER_JS = Path(__file__).with_name("browser") / "recorder.js"
PAGES = {"tutorial": ("/", "tutorial"), "exactly-once-durable": ("/durable.html", "own")}
"""ClientSettings.page -> (its path on the server, the recorder's mode: the harness applies the step's
send policy to the tutorial's page; the durable page owns its delivery)."""
LOAD_TIMEOUT = 30.0
"""Seconds a page may take to load and reach its first connect outcome, reloads included."""
_RELOAD_PAUSE = 0.1
"""Seconds between two looks at a link that is down, before the page is loaded again (a user pressing F5)."""
_PROBE_TIMEOUT = 0.5
"""Seconds a look at the link may take (a blackholed link never answers)."""
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
_LIVE_PIDS: set[int] = set()


def chromium_path() -> str:
    """The Chromium to run, or MissingBinaryError saying how to install it."""
    env = os.environ.get("SIO_HARNESS_CHROMIUM")
    if env:
        if os.access(env, os.X_OK):
            return env
        raise MissingBinaryError(f"SIO_HARNESS_CHROMIUM={env} is not an executable Chromium")
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise MissingBinaryError("the browser driver needs Chromium: `apt-get install chromium` (Debian), or set "
                             "SIO_HARNESS_CHROMIUM to a Chromium or Chrome executable")


def playwright_api() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        raise MissingBinaryError("the browser driver needs Playwright for Python: "
                                 "pip install 'sio-harness[browser]' (or `make setup`)") from None
    return async_playwright


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE_PIDS):
        _kill_group(pid)


class SharedBrowser:
    """One Chromium process and the Playwright connection to it, shared by the slots of one event loop.

    Reference counted: the first slot to start launches it, the last to close stops it (by PID).
    """

    _by_loop: ClassVar[dict[asyncio.AbstractEventLoop, SharedBrowser]] = {}

    def __init__(self) -> None:
        self.users = 0
        self.browser: Browser | None = None
        self._playwright: Playwright | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._profile = ""
        self._ready = asyncio.Lock()

    @classmethod
    async def acquire(cls) -> SharedBrowser:
        loop = asyncio.get_running_loop()
        shared = cls._by_loop.setdefault(loop, cls())
        shared.users += 1
        try:
            async with shared._ready:
                if shared.browser is None:
                    await shared._launch()
        except BaseException:
            await shared.release()
            raise
        return shared

    async def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        SharedBrowser._by_loop.pop(asyncio.get_running_loop(), None)
        await self.stop()

    async def _launch(self) -> None:
        executable = chromium_path()
        async_playwright = playwright_api()
        self._profile = tempfile.mkdtemp(prefix="sio-harness-chromium-")
        self._process = await asyncio.create_subprocess_exec(
            executable, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self._profile}", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-extensions",
            "--disable-gpu", "--disable-dev-shm-usage", "--disable-site-isolation-trials",
            "--disable-features=IsolateOrigins,site-per-process", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        _LIVE_PIDS.add(self._process.pid)
        endpoint = await self._devtools_endpoint()
        self._playwright = await async_playwright().start()
        self.browser = await self._playwright.chromium.connect_over_cdp(endpoint)

    async def _devtools_endpoint(self) -> str:
        """The DevTools URL Chromium prints once it listens; its stderr is drained afterwards."""
        assert self._process and self._process.stderr
        tail: list[str] = []
        while True:
            try:
                line = await asyncio.wait_for(self._process.stderr.readline(), LOAD_TIMEOUT)
            except TimeoutError:
                line = b""
            if not line:
                raise ProcessStartError("Chromium exited or never listened for DevTools"
                                        + (f" ({' | '.join(tail[-3:])})" if tail else ""))
            text = line.decode(errors="replace").strip()
            tail.append(text)
            match = re.search(r"DevTools listening on (ws://\S+)", text)
            if match:
                asyncio.get_running_loop().create_task(self._drain(self._process.stderr))
                return match.group(1)

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def stop(self) -> None:
        """Disconnect Playwright, then stop Chromium by its PID, whatever state either is in."""
        try:
            if self.browser is not None:
                with contextlib.suppress(Exception):
                    await self.browser.close()
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await self._playwright.stop()
        finally:
            self.browser = self._playwright = None
            if self._process is not None:
                _kill_group(self._process.pid)
                await self._process.wait()
                _LIVE_PIDS.discard(self._process.pid)
                self._process = None
            if self._profile:
                shutil.rmtree(self._profile, ignore_errors=True)


class _Tab:
    """A slot's browser context and its one tab; routes the recorder's reports to the current lineage."""

    def __init__(self, context: BrowserContext, tab: Tab, page_url: str) -> None:
        self.context = context
        self.tab = tab
        self.page_url = page_url
        self.current: _BrowserPage | None = None
        self._docs: dict[str, _BrowserPage] = {}
        self.closed = False
        self.offline = False

    async def link_up(self) -> bool:
        """Whether the page would load now: the context is online and the page answers through the link."""
        if self.offline:
            return False
        try:
            async with aiohttp.ClientSession() as http, http.get(
                    self.page_url, timeout=aiohttp.ClientTimeout(total=_PROBE_TIMEOUT)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def wait_link_up(self, deadline: float) -> None:
        """Wait until the page would load (or the deadline): loading it into a dead link would show the
        browser's error page, and the document that replaces an error page runs in a fresh renderer
        whose first reports can be lost before Playwright's binding reaches it."""
        loop = asyncio.get_running_loop()
        while not await self.link_up() and loop.time() < deadline:
            await asyncio.sleep(_RELOAD_PAUSE)

    def on_report(self, _source: Any, batch: dict[str, Any]) -> None:
        # Sync on purpose: Playwright runs each binding call as a task, in order, so the events of a page
        # reach the recorder in the order the page reported them.
        doc = batch.get("doc", "")
        for event in batch.get("events", ()):
            if (event.get("ev") == "hello" and str(event.get("url", "")).startswith(self.page_url)
                    and self.current is not None):
                # A tab has one live document, the one that said hello last: the current lineage takes
                # it (its earlier one, if a load was interrupted by another, is gone). The browser's
                # error page is not the page and is never taken.
                self._docs.pop(self.current.doc or "", None)
                self.current.doc = doc
                self.current.bound.set()
                self._docs[doc] = self.current
            page = self._docs.get(doc)
            if page is not None:
                page.on_event(event)


class _BrowserPage(PageBase):
    """One load of the page (one document) in the slot's tab, recorded under its lineage's name."""

    def __init__(self, proc: str, driver: ClientDriver, policy: SendPolicy, server_offset: Any,
                 tab: _Tab) -> None:
        super().__init__(proc, driver, policy, server_offset)
        self.tab = tab
        self.doc: str | None = None
        self.bound = asyncio.Event()
        """Set when the page's document has reported (it loaded and runs the recorder)."""
        self.navigated = False
        """A load of the page was committed (its document will report): do not navigate again."""
        self.is_connected = False
        self._first_outcome = asyncio.Event()
        self._invoked: dict[str, asyncio.Future[None]] = {}
        self._seq = 0
        self._live = False
        self._held: list[dict[str, Any]] = []
        self.received: list[str] = []

    def begin(self) -> None:
        """Start the lineage in the history, then take the reports its document made meanwhile."""
        if self._live:
            return
        self.recorder.begin(page_offset(self.server_offset))
        self.tab.current = self
        self._live = True
        held, self._held = self._held, []
        for event in held:
            self.on_event(event)

    async def open(self) -> None:
        """Start the lineage, load the page unless a reload already did, and wait for its first connect
        or connect failure."""
        self.begin()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_TIMEOUT
        while self.doc is None:
            # A load while the link is down shows the browser's error page, whose document does not
            # report (the recorder binds only the page's own); a user would press F5 again.
            try:
                if not self.navigated:
                    await self.tab.wait_link_up(deadline)
                    await self.tab.tab.goto(self.tab.page_url, wait_until="commit",
                                            timeout=max(deadline - loop.time(), 0.1) * 1000)
                    self.navigated = True
                await asyncio.wait_for(self.bound.wait(), max(min(deadline - loop.time(), 5.0), 0.1))
            except Exception:
                self.navigated = False
                if loop.time() > deadline:
                    raise ProcessStartError(f"{self.proc}: the page did not load within "
                                            f"{LOAD_TIMEOUT:g}s") from None
                # A load reported as failed ("interrupted by another navigation" to the error page) may
                # still commit the page: give its document time to report before loading it again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.bound.wait(), _RELOAD_PAUSE)
        await self.tab.tab.focus("#input")
        try:
            await asyncio.wait_for(self._first_outcome.wait(), max(deadline - loop.time(), 0.1))
        except TimeoutError:
            raise ProcessStartError(f"{self.proc}: the page loaded but its socket neither connected nor "
                                    f"failed within {LOAD_TIMEOUT:g}s") from None

    async def send(self, text: str) -> str:
        self._seq += 1
        msg_id = f"{self.proc}:{self._seq}"
        invoked = self._invoked[msg_id] = asyncio.get_running_loop().create_future()
        # Typed as a user types (the text inserted at the focused input, then Enter submits the form),
        # without Playwright's actionability checks, which cost several round trips per message.
        keyboard = self.tab.tab.keyboard
        await keyboard.insert_text(make_content(msg_id, text))
        await keyboard.press("Enter")
        try:
            await asyncio.wait_for(invoked, LOAD_TIMEOUT)
        except TimeoutError:
            raise ProcessStartError(f"{self.proc}: the page did not emit {msg_id} after its form was "
                                    f"submitted") from None
        return msg_id

    async def evaluate(self, script: str) -> None:
        await self.tab.tab.evaluate(script)

    async def shown(self) -> None:
        """Record what the page shows next to what it received: the `<li>` list the user sees."""
        with contextlib.suppress(Exception):
            items = await self.tab.tab.locator("#messages li").all_inner_texts()
            ids = {message_id(text) for text in items}
            self.driver_history.append(self.proc, "info", "shown", {
                "items": len(items), "not_shown": [m for m in self.received if m not in ids]})

    @property
    def driver_history(self) -> HistoryWriter:
        return self.recorder.history

    async def discard(self) -> None:
        """The page goes away: its reports are no longer this lineage's."""
        self.tab.current = None

    def on_event(self, event: dict[str, Any]) -> None:
        if not self._live:
            # A reload's new document may report before the old lineage is settled: hold its reports
            # until this lineage has begun, so the history keeps refresh -> start -> connect in order.
            self._held.append(event)
            return
        kind = event["ev"]
        if kind == "invoked":
            self.recorder.invoke(event["id"], event["client_offset"])
            future = self._invoked.pop(event["id"], None)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "out":
            if event["args"]:
                self.recorder.written(event["args"][0])
        elif kind == "ack":
            self._on_ack(event["id"], event["err"])
        elif kind == "recv":
            args = event["args"]
            self.recorder.received(args)
            mid = message_id(args[0] if args else None)
            if mid is not None:
                self.received.append(mid)
            self.server_offset = args[1] if len(args) > 1 else None
        elif kind == "connect":
            self.is_connected = True
            self.recorder.connected(event["sid"], bool(event["recovered"]), page_offset(event.get("serverOffset")))
            self.connected.set()
            self._first_outcome.set()
        elif kind == "connect_error":
            self.recorder.connect_failed(event["message"])
            self._first_outcome.set()
        elif kind == "disconnect":
            self.is_connected = False
            self.connected.clear()
            self.recorder.disconnected(event["reason"])

    def _on_ack(self, msg_id: str, err: str | None) -> None:
        if err is None:
            self.recorder.acked(msg_id)
        elif self.policy.queued:
            self.recorder.failed(msg_id, "gave-up")
        else:
            self.recorder.failed(msg_id, "timeout" if err == TIMED_OUT else
                                 "disconnect" if err == DISCONNECTED else err)


class BrowserDriver(PageSlotDriver[_BrowserPage]):
    """The tutorial's page in Chromium, typed into like a user (see docs/clients.md)."""

    def __init__(self, slot: str, settings: ClientSettings, history: HistoryWriter, *, url: str,
                 seed: int = 0) -> None:
        if settings.page not in PAGES:
            raise ProcessStartError(f"unknown page {settings.page!r}: use one of {', '.join(PAGES)}")
        if PAGES[settings.page][1] == "own":
            # A page that owns its delivery keeps its offset in localStorage: a reload starts from it.
            settings = dataclasses.replace(settings, persist_offset=True)
        self._shared: SharedBrowser | None = None
        self._tab: _Tab | None = None
        self._lock = asyncio.Lock()
        self.tab_closed = False
        self._loading: asyncio.Task[None] | None = None
        self.trace_path: Path | None = None
        super().__init__(slot, settings, history, url=url, seed=seed)

    def _new_page(self, proc: str, server_offset: Any) -> _BrowserPage:
        return _BrowserPage(proc, self, self._policy, server_offset, self._tab)  # type: ignore[arg-type]

    def _config(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {"transports": list(s.transports), "reconnectionDelay": s.reconnection_delay * 1000,
                                   "reconnectionDelayMax": s.reconnection_delay_max * 1000,
                                   "randomizationFactor": s.randomization_factor}
        mode = PAGES[s.page][1]
        if s.ack_timeout is not None and self._policy.manual_timeout is None:
            options["ackTimeout"] = s.ack_timeout * 1000
        if self._policy.queued and mode == "tutorial":
            options["retries"] = s.retries
        policy = {"observe_ack": self._policy.observe_ack, "plain_callback": self._policy.plain_callback,
                  "manual_timeout": self._policy.manual_timeout}
        return {"mode": mode, "options": options, "policy": policy, "clientOffset": s.client_offset,
                "persistOffset": s.persist_offset and mode == "tutorial"}

    async def start(self) -> None:
        if self._tab is None:
            self._shared = await SharedBrowser.acquire()
            try:
                await self._open_tab()
            except BaseException:
                await self._release()
                raise
        await super().start()

    async def _open_tab(self) -> None:
        assert self._shared is not None and self._shared.browser is not None
        context = await self._shared.browser.new_context()
        await context.tracing.start(screenshots=True, snapshots=False, title=self.slot)
        tab = await context.new_page()
        self._tab = _Tab(context, tab, self.url + PAGES[self.settings.page][0])
        self._page.tab = self._tab
        await tab.expose_binding("__sioHarnessReport", self._tab.on_report)
        config = orjson.dumps(self._config()).decode()
        await tab.add_init_script(f"window.__sioHarnessConfig = {config};\n" + RECORDER_JS.read_text())

    async def send(self, text: str) -> str:
        async with self._lock:
            if self.tab_closed:
                return ""  # the user closed the tab: nobody is left to type
            return await self._page.send(text)

    async def page_refresh(self) -> None:
        """`page.reload()`: the document and everything it held in memory are gone; localStorage stays.

        Returns once the reload has begun: while the link is down the new page cannot load (the tab shows
        the browser's error page), and a fault must not wait for the heal of another. The page goes on
        loading in the background; sends wait for it, as a user waits for the page to appear.
        """
        await self._lock.acquire()
        try:
            if self.tab_closed or self._tab is None:
                self._lock.release()
                return
            old = self._page
            await old.shown()
            self._refreshes += 1
            next_proc = f"{self.slot}.{self._refreshes}"
            new = self._new_page(next_proc, 0)
            self._tab.current = new
            with contextlib.suppress(Exception):
                if await self._tab.link_up():
                    await self._tab.tab.reload(wait_until="commit", timeout=LOAD_TIMEOUT * 1000)
                    new.navigated = True
                else:
                    # The reload cannot load the page while the link is down: the document is gone all
                    # the same (a blank page stands for the error page); open() loads it once it can.
                    await self._tab.tab.goto("about:blank", wait_until="commit")
            # Only now is the old document gone: until the navigation committed it could still receive
            # (and store) a broadcast, and the new page starts from what it stored last.
            if self.settings.persist_offset:
                new.server_offset = old.server_offset
            old.recorder.refresh(next_proc)
            self._page = new
            new.begin()
        except BaseException:
            self._lock.release()
            raise
        self._loading = asyncio.get_running_loop().create_task(self._load_then_release())

    async def _load_then_release(self) -> None:
        try:
            await super().start()
        finally:
            self._lock.release()

    async def tab_close(self) -> None:
        """The user closes the tab: the page is gone and its lineage ends (no new page in this slot)."""
        async with self._lock:
            if self.tab_closed:
                return
            await self._page.shown()
            self.tab_closed = True
            assert self._tab is not None
            with contextlib.suppress(Exception):
                await self._tab.tab.close()
            await self._page.discard()
            self._page.recorder.end(False)

    async def set_offline(self, offline: bool) -> None:
        """The browser's offline mode for this slot's context (`navigator.onLine`, the `offline` event)."""
        if self._tab is not None and not self.tab_closed:
            self._tab.offline = offline
            await self._tab.context.set_offline(offline)

    @property
    def connected(self) -> bool:
        # A closed tab has nothing left to connect: it must not hold the run's quiet back.
        return self.tab_closed or super().connected

    async def close_engine(self) -> None:
        """`socket.io.engine.close()`: drop the transport; the client reconnects by itself."""
        await self._page.evaluate("window.__sioHarnessSocket.io.engine.close()")

    async def disconnect(self) -> None:
        """The page's Disconnect button (`socket.disconnect()`): the page stays offline."""
        await self._toggle()

    async def connect(self) -> None:
        """The page's Connect button (`socket.connect()`) after `disconnect()`."""
        await self._toggle()

    async def _toggle(self) -> None:
        assert self._tab is not None
        await self._tab.tab.click("#toggle-btn")

    async def close(self) -> None:
        try:
            if self._loading is not None:
                # A page still loading after a refresh gets its chance (bounded by LOAD_TIMEOUT).
                await asyncio.gather(self._loading, return_exceptions=True)
            if not self.tab_closed:
                await self._page.shown()
                await super().close()
        finally:
            await self._release()

    async def _release(self) -> None:
        tab, self._tab = self._tab, None
        shared, self._shared = self._shared, None
        try:
            if tab is not None:
                self.trace_path = RunFolder(self.history.path.parent).browser_trace(self.slot)
                with contextlib.suppress(Exception):
                    await tab.context.tracing.stop(path=self.trace_path)
                with contextlib.suppress(Exception):
                    await tab.context.close()
        finally:
            if shared is not None:
                await shared.release()
