"""Pick and start a proxy backend: the real Toxiproxy or the embedded one, behind one interface.

`toxiproxy`: an already running server at $TOXIPROXY_URL (never stopped by us), else the binary
`toxiproxy-server` on PATH or $TOXIPROXY_BIN (`go install` names it `server`), started on a free port.
`embedded`: `python -m harness.proxy` in its own process (its own core), or in this event loop with
`in_process=True`. `auto`: the real one when it can be found, else embedded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Literal

from harness.errors import HarnessError, MissingBinaryError
from harness.processes import ManagedProcess, PortHold, python_module_argv
from harness.proxy.control import ToxiproxyClient
from harness.proxy.embedded import EmbeddedServer, serve_embedded
from harness.proxy.seeding import fresh_seed

BackendKind = Literal["embedded", "toxiproxy", "auto"]
RunningKind = Literal["embedded", "toxiproxy"]
KINDS = ("embedded", "toxiproxy", "auto")


def find_toxiproxy_binary() -> str | None:
    """$TOXIPROXY_BIN, else `toxiproxy-server` on PATH; None when neither is an executable file."""
    for candidate in (os.environ.get("TOXIPROXY_BIN"), shutil.which("toxiproxy-server")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class ProxyBackend:
    """A running backend: which kind, where its API is, an async client of it, and how to stop it."""

    kind: RunningKind
    api_url: str
    control: ToxiproxyClient
    process: ManagedProcess | None = None
    embedded: EmbeddedServer | None = None
    seed: int | None = None
    hold: PortHold | None = None
    """The API port of a proxy process, held from before its start (see `PortHold`) until it stops."""

    async def stop(self) -> None:
        """Stop what this backend started (by PID); an external $TOXIPROXY_URL server is left running."""
        await self.control.close()
        if self.embedded is not None:
            await self.embedded.stop()
        if self.process is not None:
            await self.process.terminate()
            if self.process.log_path is not None:
                self.process.log_path.unlink(missing_ok=True)
        if self.hold is not None:
            self.hold.close()


async def start_proxy_backend(kind: BackendKind, *, seed: int | None = None,
                              in_process: bool = False) -> ProxyBackend:
    """Start (or find) a backend of `kind` and return it once its API answers."""
    if kind not in KINDS:
        raise HarnessError(f"unknown proxy backend {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "auto":
        found = os.environ.get("TOXIPROXY_URL") or find_toxiproxy_binary()
        kind = "toxiproxy" if found else "embedded"
    if kind == "toxiproxy":
        return await _start_toxiproxy(seed)
    return await _start_embedded(seed, in_process)


async def _start_toxiproxy(seed: int | None) -> ProxyBackend:
    url = os.environ.get("TOXIPROXY_URL")
    if url:
        control = ToxiproxyClient(url)
        await control.version()
        return ProxyBackend("toxiproxy", url.rstrip("/"), control, seed=seed)
    binary = find_toxiproxy_binary()
    named = os.environ.get("TOXIPROXY_BIN")
    if binary is None and named:
        raise MissingBinaryError(f"TOXIPROXY_BIN={named} is not an executable file; point it at the "
                                 f"Toxiproxy server binary (`go install` names it `server`)")
    if binary is None:
        raise MissingBinaryError("the real Toxiproxy was not found: set TOXIPROXY_BIN or TOXIPROXY_URL, or "
                                 "install it with `go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0`")
    hold = PortHold()
    argv = [binary, "-host", "127.0.0.1", "-port", str(hold.port)]
    if seed is not None:
        argv += ["-seed", str(seed)]
    return await _spawn("toxiproxy", "toxiproxy-server", argv, hold, seed)


async def _start_embedded(seed: int | None, in_process: bool) -> ProxyBackend:
    if in_process:
        embedded = await serve_embedded("127.0.0.1", 0, seed)
        return ProxyBackend("embedded", embedded.api_url, ToxiproxyClient(embedded.api_url),
                            embedded=embedded, seed=embedded.state.seed)
    seed = fresh_seed() if seed is None else seed  # known to the caller, so a run can be replayed
    hold = PortHold()
    args = ["--host", "127.0.0.1", "--port", str(hold.port), "--seed", str(seed)]
    return await _spawn("embedded", "embedded proxy", python_module_argv("harness.proxy", *args), hold, seed)


async def _spawn(kind: RunningKind, name: str, argv: list[str], hold: PortHold,
                 seed: int | None) -> ProxyBackend:
    """Start a proxy server process on the held port and wait until its API answers; killed if it never
    does."""
    log = tempfile.NamedTemporaryFile(prefix=f"{kind}-proxy-", suffix=".log", delete=False)
    log.close()
    process = ManagedProcess(name, argv, log_path=log.name)
    url = f"http://127.0.0.1:{hold.port}"
    try:
        await process.start()
        await process.wait_http(url + "/version")
    except BaseException:
        await process.kill()
        hold.close()
        raise
    return ProxyBackend(kind, url, ToxiproxyClient(url), process=process, seed=seed, hold=hold)
