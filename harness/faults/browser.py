"""Faults only a browser has: `tab_close` (the user closes the tab) and `offline` (the browser's offline mode).

Both act on the page of a `browser` driver slot, so a scenario may name them only with
`clients.driver: browser` (`FaultKind.drivers`). The network faults of a browser slot go through its
proxy link like every other driver's; `page_refresh` (`page_refresh.py`) is a real `page.reload()` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane, Page


class BrowserPage(Page, Protocol):
    """A browser slot's page, as these faults touch it (`harness.clients.browser_driver.BrowserDriver`)."""

    async def tab_close(self) -> None: ...
    async def set_offline(self, offline: bool) -> None: ...


def _page(ctx: FaultContext, fault: Fault) -> BrowserPage:
    return cast(BrowserPage, ctx.drivers[fault.target])


@dataclass(frozen=True, kw_only=True)
class TabClose(FaultKind):
    """The tab is closed: the page and its lineage end there, with whatever it had not delivered."""

    acts_on: Acts = "client"
    lane: Lane = "client"
    targets_all: bool = False
    drivers: tuple[str, ...] = ("browser",)

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        page = _page(ctx, fault)
        heal.detail["closed"] = page.proc
        await page.tab_close()


@dataclass(frozen=True, kw_only=True)
class Offline(FaultKind):
    """The browser context goes offline (the page gets its `offline` event) until the heal."""

    acts_on: Acts = "client"
    lane: Lane = "client"
    targets_all: bool = False
    drivers: tuple[str, ...] = ("browser",)

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        page = _page(ctx, fault)
        await page.set_offline(True)
        heal.then(lambda: page.set_offline(False))


TAB_CLOSE = TabClose(name="tab_close", duration=0.0)
OFFLINE = Offline(name="offline", duration=1.0)

KINDS = (TAB_CLOSE, OFFLINE)
