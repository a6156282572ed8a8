"""Parity: one small scenario through the python driver and through the official JS client.

2 clients x 10 messages against the exactly-once reference server (CSR on), with c1's engine closed in
the middle. Both drivers must give the same history shape (the multiset of (f, type)) and the same
outcome for every message, the server must store the same messages, and the delivery checker must
give both histories the same verdict.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

from clients_support import eventually, fast_settings, outcomes

from harness.checkers.delivery import check
from harness.clients import make_driver
from harness.history import HistoryWriter, read_history
from harness.processes import free_port, start_reference_server

EXPECTED_SHAPE = {("start", "ok"): 2, ("connect", "ok"): 3, ("disconnect", "info"): 1,
                  ("send", "invoke"): 20, ("send", "ok"): 20, ("recv", "ok"): 40, ("end", "ok"): 2}


async def run_scenario(kind: str, workdir: Path) -> tuple[Counter, dict[str, str], list[str], dict]:
    workdir.mkdir()
    port = free_port()
    server = await start_reference_server(port, f"sqlite:///{workdir / 'chat.db'}", "exactly-once",
                                          log_path=workdir / "server.log")
    history = HistoryWriter(workdir / "history.jsonl")
    settings = fast_settings(ack=True, ack_timeout=1.0, retries=3, retry_mode="queue",
                         client_offset="socket-id")
    pages = [make_driver(kind, slot, settings, history, url=f"http://127.0.0.1:{port}") for slot in ("c1", "c2")]
    try:
        for page in pages:
            await page.start()

        async def burst(start: int) -> None:
            for i in range(start, start + 5):
                await asyncio.gather(*(page.send(f"message {i}") for page in pages))

        await burst(0)
        await eventually(lambda: all(page.pending == 0 for page in pages), what="the first half acked")
        await pages[0].close_engine()
        await burst(5)
        await eventually(lambda: all(page.pending == 0 for page in pages), what="the second half acked")
        # Deliveries end when every page has seen all 20 broadcasts; no event marks that moment.
        await eventually(lambda: sum(e["f"] == "recv" for e in read_history(workdir / "history.jsonl")) >= 40,
                         what="every broadcast delivered")
    finally:
        for page in pages:
            await page.close()
        history.close()
        await server.terminate()
    shape = Counter((e["f"], e["type"]) for e in read_history(workdir / "history.jsonl"))
    per_message = {msg: outcome for msg, (outcome, _) in outcomes(workdir / "history.jsonl").items()}
    with sqlite3.connect(workdir / "chat.db") as db:
        rows = [{"id": i, "client_offset": o, "content": c}
                for i, o, c in db.execute("SELECT id, client_offset, content FROM messages")]
    verdict = check(read_history(workdir / "history.jsonl"), rows)
    return shape, per_message, sorted(row["content"] for row in rows), verdict.guarantees


async def test_python_and_node_drivers_give_the_same_history(node_modules, tmp_path):
    python = await run_scenario("python", tmp_path / "python")
    node = await run_scenario("node", tmp_path / "node")
    assert python[0] == node[0] == Counter(EXPECTED_SHAPE)
    assert python[1] == node[1]
    assert set(python[1].values()) == {"ok"} and len(python[1]) == 20
    assert python[2] == node[2] and len(python[2]) == 20
    # The checker reads both histories alike, and the exactly-once server keeps every guarantee.
    assert python[3] == node[3] and all(python[3].values())
