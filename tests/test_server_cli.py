"""The reference server's command line: clear one-line errors (exit 2), `sio-harness serve`, --help."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from server_support import run_cli

from harness.processes import ManagedProcess, free_port
from reference_server.mutants import MUTANTS


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


async def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, err = await run_cli("--db", str(tmp_path / "x.db"), "--port", str(port))
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in one_line(err)


@pytest.mark.parametrize("db, message", [
    ("mysql://localhost/chat", "unsupported database URL"),
    ("sqlite:///", "names no file"),
])
async def test_an_unusable_database_url_is_one_clear_line(db: str, message: str) -> None:
    code, err = await run_cli("--db", db)
    assert code == 2 and message in one_line(err)


async def test_an_unreachable_postgres_is_one_clear_line() -> None:
    code, err = await run_cli("--db", f"postgresql://postgres@127.0.0.1:{free_port()}/chat", "--db-timeout", "1")
    assert code == 2 and "is not usable" in one_line(err)


async def test_an_unwritable_sqlite_file_is_one_clear_line(tmp_path: Path) -> None:
    code, err = await run_cli("--db", str(tmp_path / "missing-dir" / "chat.db"))
    assert code == 2 and "cannot open SQLite database" in one_line(err)


@pytest.mark.parametrize("option", ["--db-busy-timeout", "--max-content-bytes", "--rate-burst"])
async def test_nonsense_limits_are_refused(option: str) -> None:
    code, err = await run_cli(option, "0")
    assert code == 2 and f"{option} must be positive" in one_line(err)


async def test_help_documents_profiles_and_every_mutant() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "reference_server", "--help",
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0
    for name, mutant in MUTANTS.items():
        assert f"{name}: {mutant.what}" in " ".join(text.split())
    assert "exactly-once: + clientOffset stored UNIQUE" in text


async def test_sio_harness_serve_runs_the_server(tmp_path: Path) -> None:
    port = free_port()
    proc = ManagedProcess("serve", [sys.executable, "-m", "harness.cli", "serve", "--port", str(port),
                                    "--db", str(tmp_path / "chat.db"), "--profile", "at-least-once"])
    await proc.start()
    try:
        await proc.wait_http(f"http://127.0.0.1:{port}/health")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as resp:
                health = await resp.json()
        assert health["profile"] == "at-least-once" and health["switches"]["ack"] is True
        assert await proc.terminate() == 0
    finally:
        await proc.kill()


async def test_sio_harness_serve_reports_a_busy_port_as_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--db", str(tmp_path / "x.db"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert one_line(err.decode()).startswith(f"sio-harness serve: port {port} on 127.0.0.1 is already in use")


async def test_the_reference_server_loads_no_harness_module() -> None:
    # lint-imports checks the source; this checks what loading every module of the package really pulls in.
    code = ("import sys, pkgutil, importlib, reference_server\n"
            "for m in pkgutil.iter_modules(reference_server.__path__):\n"
            "    importlib.import_module('reference_server.' + m.name)\n"
            "print(sorted(n for n in sys.modules if n == 'harness' or n.startswith('harness.')))")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "[]"
