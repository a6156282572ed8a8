"""The history as the drivers write it: crash-safe lines, and the recorder's outcome rules."""

from __future__ import annotations

import sys
from pathlib import Path

from clients_support import eventually

from harness.clients.recorder import PageRecorder, SendPolicy
from harness.history import HistoryWriter, read_history
from harness.processes import ManagedProcess
from harness.scenario import ClientSettings

WRITER = """
import sys
from harness.history import HistoryWriter
writer = HistoryWriter(sys.argv[1])
n = 0
while True:
    writer.append("c1", "invoke", "send", {"id": f"c1:{n}", "client_offset": None, "pad": "x" * (n % 97)})
    n += 1
"""


async def test_a_killed_writer_leaves_every_full_line_readable(tmp_path: Path):
    path = tmp_path / "history.jsonl"
    writer = ManagedProcess("history writer", [sys.executable, "-c", WRITER, str(path)])
    await writer.start()
    try:
        await eventually(lambda: path.exists() and path.stat().st_size > 200_000, what="a busy writer")
    finally:
        await writer.kill()
    raw = path.read_bytes()
    # Whatever SIGKILL interrupted, at most the tail after the last newline is torn; simulate the worst
    # case too, a half-written line.
    path.write_bytes(raw + b'{"t": 1, "proc": "c1", "ty')
    read = list(read_history(path))
    assert len(read) == raw.count(b"\n") > 1000
    assert [e["value"]["id"] for e in read] == [f"c1:{n}" for n in range(len(read))]


def _recorder(tmp_path: Path, **config: object) -> tuple[PageRecorder, Path]:
    path = tmp_path / "history.jsonl"
    policy = SendPolicy.of(ClientSettings(**config))  # type: ignore[arg-type]
    return PageRecorder(HistoryWriter(path), "c1", policy), path


def _sends(path: Path) -> list[tuple[str, dict]]:
    return [(e["type"], e["value"]) for e in read_history(path) if e["f"] == "send" and e["type"] != "invoke"]


def test_fire_and_forget_is_recorded_when_first_written(tmp_path: Path):
    recorder, path = _recorder(tmp_path)
    recorder.invoke("c1:1", None)
    assert _sends(path) == [] and recorder.pending == 1
    recorder.written("c1:1 hello")
    recorder.written("c1:1 hello")
    assert _sends(path) == [("info", {"id": "c1:1", "reason": "no-ack"})] and recorder.pending == 0


def test_a_plain_callback_ends_at_the_disconnect_only_once_written(tmp_path: Path):
    recorder, path = _recorder(tmp_path, ack=True)
    recorder.invoke("c1:1", None)
    recorder.invoke("c1:2", None)
    recorder.written("c1:1")
    recorder.disconnected("transport close")
    assert _sends(path) == [("info", {"id": "c1:1", "reason": "disconnect"})]
    recorder.written("c1:2")
    recorder.acked("c1:2")
    assert _sends(path)[-1] == ("ok", {"id": "c1:2", "tries": 1})


def test_refresh_and_end_settle_every_pending_send(tmp_path: Path):
    recorder, path = _recorder(tmp_path, ack=True, ack_timeout=1.0, retries=3, retry_mode="queue")
    for n in (1, 2):
        recorder.invoke(f"c1:{n}", None)
    recorder.written("c1:1")
    recorder.refresh("c1.1")
    recorder.acked("c1:1")
    assert _sends(path) == [("info", {"id": "c1:1", "reason": "refresh"}),
                            ("fail", {"id": "c1:2", "reason": "refresh"})]
    assert [(e["f"], e["value"]) for e in read_history(path)][-1] == ("refresh", {"next": "c1.1"})

    fresh, path2 = _recorder(tmp_path / "end", ack=True, ack_timeout=1.0)
    fresh.invoke("c1:1", None)
    fresh.written("c1:1")
    fresh.invoke("c1:2", None)
    fresh.end(True)
    assert _sends(path2) == [("info", {"id": "c1:1", "reason": "disconnect"}),
                             ("fail", {"id": "c1:2", "reason": "closed"})]
    assert list(read_history(path2))[-1]["f"] == "end"


def test_received_broadcasts_keep_both_offsets(tmp_path: Path):
    recorder, path = _recorder(tmp_path)
    recorder.received(["c2:1 hi", 7, "Q8LR_QY"])
    recorder.received(["not ours", 8])
    recv = [e["value"] for e in read_history(path) if e["f"] == "recv"]
    assert recv == [{"id": "c2:1", "server_offset": 7, "csr_offset": "Q8LR_QY", "content": "c2:1 hi"},
                    {"id": None, "server_offset": 8, "csr_offset": None, "content": "not ours"}]


def test_send_policy_follows_the_tutorials_modes():
    def policy(**config: object) -> SendPolicy:
        return SendPolicy.of(ClientSettings(**config))  # type: ignore[arg-type]

    assert policy() == SendPolicy(False, False, False, None)
    assert policy(ack=True) == SendPolicy(True, False, True, None)
    assert policy(ack=True, ack_timeout=2.0) == SendPolicy(True, False, False, None)
    assert policy(retry_mode="queue", retries=3, ack_timeout=1.0) == SendPolicy(True, True, False, None)
    # socket.io-client only queues when retries is truthy.
    assert policy(retry_mode="queue", retries=0, ack_timeout=1.0) == SendPolicy(True, False, False, None)
    assert policy(retry_mode="manual") == SendPolicy(True, False, False, 5.0)

