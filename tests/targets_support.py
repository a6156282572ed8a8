"""Target files for the tests: the non-tutorial protocol app (tests/protocol_app.py) and its variants."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

APP = Path(__file__).with_name("protocol_app.py")

APP_PROTOCOL: dict[str, Any] = {
    "send": {"event": "message:send", "args": [{"text": "{content}", "id": "{client_offset}"}],
             "ack_ok": {"ok": True}},
    "receive": {"event": "message:new", "content": "/0/text", "offset": "/0/seq"},
    "auth": {"offset": "/since"},
}
APP_QUERY = "SELECT seq AS id, body AS content, client_id AS client_offset FROM messages ORDER BY seq"


def app_target(**fields: Any) -> dict[str, Any]:
    """The protocol app started by the harness on SQLite, state read by its query; `fields` replace parts."""
    data: dict[str, Any] = {
        "target_version": 1, "name": "protocol-app", "step": "exactly-once",
        "start": {"command": [sys.executable, str(APP), "--port", "{port}", "--db", "{db_path}"],
                  "ready": {"http": "/healthz", "timeout": 20}},
        "protocol": APP_PROTOCOL,
        "state": {"kind": "sqlite", "query": APP_QUERY},
    }
    data.update(fields)
    return data


def write_target(folder: Path, data: dict[str, Any], name: str = "target.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data, indent=2))
    return path
