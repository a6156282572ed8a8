"""`sio-harness init [FILE]`: write a starter target file, every field filled with the tutorial's value.

It asks nothing: `--command`, `--url` and `--step` fill the parts that differ from server to server, and
the rest is the tutorial's protocol and table, to edit where the server differs (docs/targets.md, "Point
it at your server", says what each field means). The file it writes is checked by the same loader as every
target file, so a starter never fails `sio-harness validate`.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.steps import STEPS
from harness.targetfile import DEFAULT_QUERY, TARGET_VERSION, target_from_dict

DEFAULT_COMMAND = "node server.js --port {port} --db {db_path}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="target.json", help="where to write it (default target.json)")
    parser.add_argument("--command", dest="server_command", default=None,
                        help=f"the server's command line, with {{port}} where the port goes "
                             f"(default: {DEFAULT_COMMAND!r})")
    parser.add_argument("--url", default=None, help="a server already running at this URL (instead of --command)")
    parser.add_argument("--step", choices=STEPS, default="exactly-once", help="the tutorial step it claims")
    parser.add_argument("--name", default=None, help="short id (default: the folder's name)")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def starter(*, name: str, step: str, command: list[str] | None, url: str | None) -> dict[str, Any]:
    """The starter target file's data: the tutorial's protocol and table around the given command or url."""
    data: dict[str, Any] = {"target_version": TARGET_VERSION, "name": name,
                            "description": "the chat server under test", "step": step}
    if url:
        data["url"] = url
        data["database"] = "none"
        state: dict[str, Any] = {"kind": "replay", "settle": 0.5}
    else:
        data["start"] = {"command": command, "cwd": "{target_dir}", "env": {"PORT": "{port}"},
                         "ready": {"tcp": True, "timeout": 15}}
        data["database"] = "sqlite"
        state = {"kind": "sqlite", "path": "{db_path}", "query": DEFAULT_QUERY, "order": "integer"}
    data["nodes"] = 1
    data["protocol"] = {
        "namespace": "/", "path": "/socket.io/", "transports": ["websocket"],
        "send": {"event": "chat message", "args": ["{content}", "{client_offset}"], "ack": "auto", "ack_ok": None},
        "receive": {"event": "chat message", "content": "/0", "offset": "/1"},
        "auth": {"offset": "/serverOffset", "fields": {}},
    }
    if step not in STEPS[STEPS.index("server-delivery"):] and state["kind"] == "replay":
        raise HarnessError(f"--url with --step {step}: the harness reads the messages of a server it did not "
                           f"start by a replay from offset 0, which a {step} server does not do; edit state "
                           f"in the file instead (docs/targets.md)")
    data["state"] = state
    data["page"] = None
    return data


def _name(value: str | None, file: Path) -> str:
    raw = value or file.resolve().parent.name or "my-chat"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-._")[:64]
    return name or "my-chat"


def render(data: dict[str, Any]) -> str:
    """JSON with each small object or list on one line, as the examples in docs/targets.md are written."""
    def inline(value: Any) -> str:
        return json.dumps(value)

    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and len(inline(value)) > 100:
            lines.append(f"  {json.dumps(key)}: {{")
            inner = list(value.items())
            for j, (k, v) in enumerate(inner):
                lines.append(f"    {json.dumps(k)}: {inline(v)}" + ("," if j < len(inner) - 1 else ""))
            lines.append("  }" + comma)
        else:
            lines.append(f"  {json.dumps(key)}: {inline(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    file = Path(args.file)
    if file.exists() and not args.force:
        raise HarnessError(f"{file} exists; pass --force to overwrite it")
    if args.url and args.server_command:
        raise HarnessError("give --command (the harness starts the server) or --url (it already runs), not both")
    command = None if args.url else shlex.split(args.server_command or DEFAULT_COMMAND)
    data = starter(name=_name(args.name, file), step=args.step, command=command, url=args.url)
    target_from_dict(data, str(file), file.resolve().parent)
    file.write_text(render(data))
    print(f"wrote {file}: edit start.command, protocol and state to match your server (docs/targets.md), then "
          f"run `sio-harness doctor {file}`")
    return 0
