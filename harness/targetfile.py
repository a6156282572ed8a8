"""Target files: a user's Socket.IO server described as data, so the harness can test it without changing it.

A target file (`"target_version": 1`, schema `harness/target.schema.json`, every field in docs/targets.md)
says how to start the server or where it already runs, which tutorial step it claims, its protocol
(`harness.protocol`) and how the harness reads the messages it stored. `load_target(path)` checks it and
returns a `TargetSpec`; a wrong file raises `ScenarioError` with one line naming the field and the fix.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from harness.errors import ScenarioError, most_precise
from harness.protocol import CLIENT_OFFSET, CONTENT, TEMPLATE_PLACEHOLDERS, Protocol, template_strings
from harness.steps import ACKING, STEPS

TARGET_VERSION = 1

PLACEHOLDERS = ("port", "db_url", "db_path", "run_dir", "target_dir", "node", "redis_url", "redis_subscribe_url",
                "redis_channel", "ping_interval_ms", "ping_timeout_ms")
"""What `{...}` may name in a command, cwd, env value, url or state path/command (docs/targets.md)."""

PING_DEFAULTS = {"ping_interval": 25.0, "ping_timeout": 20.0}
"""Socket.IO's own pingInterval and pingTimeout (seconds): what `{ping_interval_ms}` and `{ping_timeout_ms}`
stand for unless a scenario asks for shorter ones (the half-open link cells do)."""

SERVER_DELIVERY = frozenset(STEPS[STEPS.index("server-delivery"):])
"""Steps whose server replays `id > offset` to a client that connects with an offset."""

DEFAULT_QUERY = "SELECT id, content, client_offset FROM messages ORDER BY id"
"""The tutorial's table."""

CONTROLS_NEEDED = {"server_crash": ("crash", "start"), "server_restart": ("stop", "start"),
                   "server_pause": ("pause", "resume")}
"""The controls a server fault needs on a server the harness did not start (it heals by starting it again)."""

StateKind = Literal["sqlite", "postgres", "command", "replay"]


@dataclass(frozen=True)
class Ready:
    """When a started server counts as up: an HTTP path answers 200, a log line appears, or the port accepts."""

    http: str | None = None
    tcp: bool = False
    log: str | None = None
    timeout: float = 15.0


@dataclass(frozen=True)
class Start:
    command: tuple[str, ...]
    cwd: str = "{target_dir}"
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Ready = field(default_factory=Ready)


@dataclass(frozen=True)
class Controls:
    """argv lists acting on a server the harness did not start (a container, a deployment)."""

    crash: tuple[str, ...] | None = None
    stop: tuple[str, ...] | None = None
    start: tuple[str, ...] | None = None
    pause: tuple[str, ...] | None = None
    resume: tuple[str, ...] | None = None
    ready: Ready = field(default_factory=lambda: Ready(timeout=30.0))


@dataclass(frozen=True)
class State:
    """How the final messages are read after a run."""

    kind: StateKind = "sqlite"
    path: str = "{db_path}"
    query: str = DEFAULT_QUERY
    command: tuple[str, ...] | None = None
    order: Literal["integer", "read"] = "integer"
    settle: float = 0.5
    """replay: seconds without a replayed message after which the replay counts as complete."""


@dataclass(frozen=True)
class TargetSpec:
    """A loaded target file; `target_dir` is the folder it came from (`{target_dir}`, relative paths)."""

    name: str
    step: str = "exactly-once"
    start: Start | None = None
    url: str | None = None
    controls: Controls | None = None
    nodes: int = 1
    settle: float = 1.0
    """The shortest wait for quiet a run against this server gets (a scenario's own `quiet.settle` when
    longer). The cells' 0.3 s suit the reference server; a server that commits each message with its own
    fsync takes longer to work through the burst a reconnecting page sends, and a run declared quiet
    meanwhile would count its last messages as missed."""
    database: Literal["sqlite", "postgres", "none"] = "sqlite"
    protocol: Protocol = field(default_factory=Protocol)
    state: State = field(default_factory=State)
    page: str | None = None
    description: str = ""
    target_dir: Path = field(default_factory=Path.cwd)
    source: str = field(default="target", compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The file's own data, as written (kept in a run folder as target.json)."""

    @property
    def started_by_harness(self) -> bool:
        return self.start is not None

    def uses(self, placeholder: str) -> bool:
        """Whether any command, env value or path of the file names `{placeholder}`."""
        return any(placeholder in placeholders_in(text) for _, text in _templated_fields(dict(self.raw)))

    def commands(self) -> list[list[str]]:
        """Every command line this target makes the harness run (shown before a replay runs them)."""
        lines = [list(self.start.command)] if self.start else []
        if self.controls:
            lines += [list(c) for c in (self.controls.crash, self.controls.stop, self.controls.start,
                                        self.controls.pause, self.controls.resume) if c]
        if self.state.kind == "command" and self.state.command:
            lines.append(list(self.state.command))
        return lines

    def not_applicable(self, acts_on: str, fault: str) -> str | None:
        """Why a fault acting on `acts_on` (server, db) cannot happen to this target, or None when it can."""
        if acts_on == "server" and self.nodes > 1:
            return (f"not applicable: {fault} acts on a single server; this target runs {self.nodes} nodes "
                    f"(the node faults act on one of them)")
        if fault == "deaf_node" and not self.uses("redis_subscribe_url"):
            return ("not applicable: deaf_node silences a node's subscribe link, which this target does not "
                    "use (its command takes no {redis_subscribe_url}: an adapter with one Redis client)")
        if acts_on == "server" and not self.started_by_harness:
            needed = CONTROLS_NEEDED.get(fault, ("stop", "start"))
            missing = [n for n in needed if not (self.controls and getattr(self.controls, n))]
            if missing:
                return (f"not applicable: {fault} on a server the harness did not start needs "
                        f"controls.{' and controls.'.join(missing)}")
        if acts_on == "db":
            if not self.started_by_harness:
                return f"not applicable: {fault} needs a database the harness creates (a target with start)"
            if self.database == "none":
                return f"not applicable: {fault} needs database sqlite or postgres (this target has none)"
            if self.database == "sqlite" and self.state.kind != "sqlite":
                return f"not applicable: {fault} on SQLite locks the file named by state.path (state.kind sqlite)"
        return None

    def at_step(self, step: str) -> TargetSpec:
        """The same server judged as a `step` server (`--all-steps`); ScenarioError when the file cannot
        describe that step (a replay state before server delivery, no clientOffset for exactly-once)."""
        if step == self.step:
            return self
        return target_from_dict({**self.raw, "step": step}, f"{self.source} (as a {step} server)", self.target_dir)

    def to_dict(self) -> dict[str, Any]:
        """The target file as data: what was written, `target_version` first."""
        return {"target_version": TARGET_VERSION, **{k: v for k, v in self.raw.items() if k != "target_version"}}


def schema() -> dict[str, Any]:
    """The JSON Schema of target files, shipped inside the package."""
    data: dict[str, Any] = json.loads(resources.files("harness").joinpath("target.schema.json").read_text())
    return data


def is_target_file(data: Any) -> bool:
    """A target file says so at its top level; a scenario file never has `target_version`."""
    return isinstance(data, dict) and "target_version" in data


def _where(path: Iterator[Any] | Any) -> str:
    text = ".".join(str(p) for p in path)
    return text or "(top level)"


def validate_target(data: Any, source: str = "target") -> None:
    """Raise ScenarioError with one line naming the offending field and the fix; return when `data` is valid."""
    _check_schema(data, source)
    _check_meaning(data, source)


def _check_schema(data: Any, source: str) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    error = most_precise(errors)
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        fix = f"allowed here: {', '.join(allowed)} (see docs/targets.md)"
    elif error.validator == "required":
        fix = "add it (see docs/targets.md)"
    elif error.validator == "const" and where == "target_version":
        fix = f"this harness reads target_version {TARGET_VERSION}"
    elif error.validator == "enum":
        fix = "use one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    else:
        fix = "see docs/targets.md"
    raise ScenarioError(f"{source}: field {where}: {error.message}; {fix}")


def _fail(source: str, where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{source}: field {where}: {message}")


def placeholders_in(text: str) -> list[str]:
    """The `{name}` fields of `text` (`{{` is a literal brace)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}; write a literal brace as {{{{ or }}}}") from None


def substitute(text: str, values: Mapping[str, Any]) -> str:
    """`text` with its placeholders filled from `values` (checked names only: see `validate_target`)."""
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def _templated_fields(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    start = data.get("start") or {}
    for i, arg in enumerate(start.get("command", [])):
        yield f"start.command.{i}", arg
    if "cwd" in start:
        yield "start.cwd", start["cwd"]
    for key, value in start.get("env", {}).items():
        yield f"start.env.{key}", value
    if data.get("url"):
        yield "url", data["url"]
    for name, argv in (data.get("controls") or {}).items():
        if isinstance(argv, list):
            for i, arg in enumerate(argv):
                yield f"controls.{name}.{i}", arg
    state = data.get("state") or {}
    if "path" in state:
        yield "state.path", state["path"]
    for i, arg in enumerate(state.get("command") or []):
        yield f"state.command.{i}", arg


def _check_meaning(data: dict[str, Any], source: str) -> None:
    for where, text in _templated_fields(data):
        try:
            names = placeholders_in(text)
        except ValueError as exc:
            raise _fail(source, where, str(exc)) from None
        for name in names:
            if name not in PLACEHOLDERS:
                raise _fail(source, where, f"unknown placeholder {{{name}}}; use one of "
                                           + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                                           + " (a literal brace is {{ or }})")
    start, url = data.get("start"), data.get("url")
    if start is None and not url:
        raise _fail(source, "start", "say how to reach the server: start.command for the harness to start "
                                     "it, or url for one already running")
    if start is not None and url:
        raise _fail(source, "url", "give start (the harness starts the server on {port}) or url (it "
                                   "already runs), not both")
    if start is None and data.get("nodes", 1) > 1:
        raise _fail(source, "nodes", f"{data['nodes']} nodes need start: the harness starts the command once per "
                                     f"node, each on its own {{port}}; a server at url is one address (use "
                                     f"nodes 1, or start)")
    if start is not None and data.get("controls"):
        raise _fail(source, "controls", "controls are for a server the harness did not start; with start "
                                        "the harness crashes and restarts it itself")
    step = data.get("step", "exactly-once")
    database = data.get("database", "sqlite" if start is not None else "none")
    if start is None and database != "none":
        raise _fail(source, "database", f"the harness can only create a {database} database for a server it "
                                        f"starts; use database none with url")
    _check_send(data.get("protocol", {}).get("send", {}), step, source)
    state = data.get("state", {})
    kind = state.get("kind", _default_state(database))
    if kind == "replay" and step not in SERVER_DELIVERY:
        raise _fail(source, "state.kind", f"replay reads what the server replays from offset 0, which a "
                                          f"{step} server does not do; use sqlite, postgres or command")
    if kind == "postgres" and database != "postgres":
        raise _fail(source, "state.kind", "postgres reads the database the harness creates for each run; "
                                          "set database postgres (with start)")
    if kind == "command" and not state.get("command"):
        raise _fail(source, "state.command", "state.kind command needs the command that prints the messages "
                                             "(one JSON object per line)")
    if kind == "sqlite" and start is None and "{db_path}" in state.get("path", "{db_path}"):
        raise _fail(source, "state.path", "{db_path} is the file the harness picks for a server it starts; "
                                          "give the running server's own SQLite file")


def _check_send(send: dict[str, Any], step: str, source: str) -> None:
    template = send.get("args", [CONTENT, CLIENT_OFFSET])
    strings = template_strings(template)
    for text in strings:
        if "{" in text and text not in TEMPLATE_PLACEHOLDERS:
            raise _fail(source, "protocol.send.args", f"{text!r} is not a template value; a placeholder "
                                                      f"stands for a whole value: \"{CONTENT}\" or "
                                                      f"\"{CLIENT_OFFSET}\"")
    if strings.count(CONTENT) != 1:
        raise _fail(source, "protocol.send.args", f"put \"{CONTENT}\" exactly once in the template (found "
                                                  f"{strings.count(CONTENT)}); the harness finds each "
                                                  f"message by its content")
    if strings.count(CLIENT_OFFSET) > 1:
        raise _fail(source, "protocol.send.args", f"\"{CLIENT_OFFSET}\" may appear once")
    if step == "exactly-once" and CLIENT_OFFSET not in strings:
        raise _fail(source, "protocol.send.args", f"the exactly-once step sends a clientOffset with each "
                                                  f"message; put \"{CLIENT_OFFSET}\" in the template")
    if send.get("ack") is False and step in ACKING:
        raise _fail(source, "protocol.send.ack", f"the {step} step asks for acks; use auto or true, or claim "
                                                 f"a step without acks")


def _default_state(database: str) -> StateKind:
    return {"sqlite": "sqlite", "postgres": "postgres"}.get(database, "replay")  # type: ignore[return-value]


def _ready(data: dict[str, Any] | None, timeout: float) -> Ready:
    data = data or {}
    return Ready(http=data.get("http"), tcp=bool(data.get("tcp", False)), log=data.get("log"),
                 timeout=float(data.get("timeout", timeout)))


def _argv(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value else None


def target_from_dict(data: dict[str, Any], source: str = "target", target_dir: Path | None = None) -> TargetSpec:
    """Check `data` (a target file's object) and build its TargetSpec."""
    validate_target(data, source)
    raw = copy.deepcopy(data)
    start_data = data.get("start")
    start = None
    if start_data is not None:
        start = Start(command=tuple(start_data["command"]), cwd=start_data.get("cwd", "{target_dir}"),
                      env=dict(start_data.get("env", {})), ready=_ready(start_data.get("ready"), 15.0))
    controls = None
    if data.get("controls"):
        c = data["controls"]
        controls = Controls(crash=_argv(c.get("crash")), stop=_argv(c.get("stop")), start=_argv(c.get("start")),
                            pause=_argv(c.get("pause")), resume=_argv(c.get("resume")),
                            ready=_ready(c.get("ready"), 30.0))
    database = data.get("database", "sqlite" if start is not None else "none")
    s = data.get("state", {})
    state = State(kind=s.get("kind", _default_state(database)), path=s.get("path", "{db_path}"),
                  query=s.get("query", DEFAULT_QUERY), command=_argv(s.get("command")),
                  order=s.get("order", "integer"), settle=float(s.get("settle", 0.5)))
    return TargetSpec(name=data["name"], step=data.get("step", "exactly-once"), start=start, url=data.get("url"),
                      controls=controls, nodes=int(data.get("nodes", 1)),
                      settle=float(data.get("settle", 1.0)), database=database,
                      protocol=Protocol.from_dict(data.get("protocol", {})), state=state, page=data.get("page"),
                      description=data.get("description", ""),
                      target_dir=(target_dir or Path.cwd()).resolve(), source=source, raw=raw)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None


def load_target(path: str | Path) -> TargetSpec:
    """Read, check and build the target file at `path`; `{target_dir}` is its folder."""
    path = Path(path)
    data = read_json(path)
    if not is_target_file(data):
        raise ScenarioError(f"{path}: field target_version: missing; a target file starts with "
                            f"\"target_version\": {TARGET_VERSION} (is this a scenario file? pass it "
                            f"without --target)")
    return target_from_dict(data, str(path), path.parent)
