"""Scenarios: a run described as data, checked against a JSON Schema, then resolved from its seed.

A scenario file names the target, the clients, the workload, the faults and what must come out. Some
values may be left open (a time range, "any" client, a range of send counts); `resolve()` draws them from
the scenario's seed and fills every default, so the resolved scenario written to a run folder is exact:
running it again reproduces the same schedule. Resolving a resolved scenario changes nothing.
"""

from __future__ import annotations

import copy
import json
import random
import secrets
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from harness.errors import ScenarioError, most_precise
from harness.expectations import CATEGORIES, GUARANTEES, RECOVERY_SCHEMA, ExpectationError, Expectations
from harness.faults import KINDS, kind
from harness.faults.base import Fault
from harness.faults.frames import trigger_defaults
from harness.steps import ACKING, PROMISES, client_preset
from harness.targetfile import PING_DEFAULTS, TargetSpec, load_target, target_from_dict


@dataclass
class Target:
    """The server under test: a reference server profile, or an external server described by a target
    file (`spec`, see harness.targetfile)."""

    kind: str = "reference"
    profile: str = "baseline"
    switches: list[str] = field(default_factory=list)
    mutant: str | None = None
    storage: str = "sqlite"
    nodes: int = 1
    """Processes sharing broadcasts through Redis (docs/multinode.md); an external target's is its file's."""
    failover: str = "next"
    """Where a client goes when its home node is down: `next`, `random` or `sticky-wait`."""
    spec: TargetSpec | None = None
    server_options: dict[str, float] = field(default_factory=dict)
    """External targets: Socket.IO options the scenario asks of the server (`ping_interval`,
    `ping_timeout`, seconds), handed to it through `{ping_interval_ms}` and `{ping_timeout_ms}`."""

    @property
    def step(self) -> str:
        """The tutorial step the server is (reference) or claims to be (external)."""
        return self.spec.step if self.spec is not None else self.profile

    @property
    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)] if self.nodes > 1 else []

    def to_dict(self) -> dict[str, Any]:
        if self.spec is None:
            data: dict[str, Any] = {"kind": self.kind, "profile": self.profile, "switches": list(self.switches),
                                    "mutant": self.mutant, "storage": self.storage}
            if self.nodes > 1:
                data.update(nodes=self.nodes, failover=self.failover)
            return data
        return external_target(self.spec, self.server_options, self.failover)


def external_target(spec: TargetSpec, server_options: dict[str, float] | None = None,
                    failover: str = "next") -> dict[str, Any]:
    """A scenario's `target` object for the target file `spec` (what `--target FILE` puts in a scenario)."""
    data: dict[str, Any] = {"kind": "external", "spec": spec.to_dict(), "target_dir": str(spec.target_dir)}
    if server_options:
        data["server_options"] = dict(server_options)
    if spec.nodes > 1 and failover != "next":
        data["failover"] = failover
    return data


ROOT = Path(__file__).resolve().parent.parent
"""The project folder: `{root}` in a scenario's short-form external target."""


def _target(data: dict[str, Any], name: str, source: str) -> Target:
    if data.get("kind", "reference") == "reference":
        return Target(**data)
    where = f"{source}: field target"
    if "file" in data:
        base = Path(source).parent if Path(source).is_file() else Path.cwd()
        loaded = load_target(base / data["file"])
        return Target(kind="external", spec=loaded, nodes=loaded.nodes, failover=data.get("failover", "next"))
    if "spec" in data:
        folder = Path(data.get("target_dir", Path.cwd()))
        loaded = target_from_dict(data["spec"], f"{where}.spec", folder)
        return Target(kind="external", spec=loaded, nodes=loaded.nodes, failover=data.get("failover", "next"),
                      server_options=dict(data.get("server_options", {})))
    # The short form: a command line and its SQLite file, the tutorial's protocol, the final step.
    if not data.get("sqlite_path"):
        raise ScenarioError(f"{where}.sqlite_path: an external target must say where it stores its messages "
                            f"(the checker compares them with what clients saw); use {{db_path}} to let the "
                            f"harness pick the file, or a target file (docs/targets.md)")
    # `{root}` (the project folder) belongs to the short form only; a target file has `{target_dir}`.
    def rooted(text: str) -> str:
        return text.replace("{root}", str(ROOT))

    start: dict[str, Any] = {"command": [rooted(a) for a in data["command"]],
                             **({"cwd": rooted(data["cwd"])} if "cwd" in data else {}),
                             **({"env": {k: rooted(v) for k, v in data["env"].items()}} if "env" in data else {}),
                             **({"ready": data["ready"]} if "ready" in data else {})}
    spec = {"target_version": 1, "name": name[:64], "step": "exactly-once", "start": start,
            "state": {"kind": "sqlite", "path": rooted(data["sqlite_path"])}}
    return Target(kind="external", spec=target_from_dict(spec, where, Path.cwd()))


RetryMode = Literal["none", "queue", "manual"]
"""`none`: fire and forget (or a plain ack callback with no timeout); `queue`: socket.io-client's
`retries` option (ordered, one in flight); `manual`: the tutorial's recursive `socket.timeout().emit`."""

OffsetStyle = Literal["none", "socket-id", "socket-id-undefined", "random"]
PageName = Literal["tutorial", "exactly-once-durable"]
NodeProcess = Literal["per-page", "shared"]
"""The page a browser plays: the tutorial's (`/`), or the fix that survives a reload (`/durable.html`)."""
"""`socket-id`: `<socket id>-<counter>` taken from the live socket; `socket-id-undefined`: the same but
reproducing the tutorial's trap (`undefined-<counter>` while offline); `random`: a random id."""

ProxyKind = Literal["embedded", "toxiproxy", "auto"]
"""Which fault-injecting proxy a run uses: ours, the real Toxiproxy, or whichever is there."""


@dataclass(frozen=True)
class ClientSettings:
    """How the tutorial's page behaves, one field per option it shows: the same for every client of a
    scenario, and all a driver needs besides the url it connects to and its seed.

    The reconnection delays default to 0.1 s and 1 s, not socket.io-client's 1 s and 5 s: a fault in
    a scenario lasts a second or less, and with the browser's delays a healed client would wait up to
    5 s for its next attempt, so every run would mostly wait for quiet. Every scenario has run with
    these values; set 1.0 and 5.0 to reproduce the browser's defaults (see docs/clients.md).
    """

    ack: bool = False
    ack_timeout: float | None = None
    retries: int = 0
    retry_mode: RetryMode = "none"
    client_offset: OffsetStyle = "none"
    persist_offset: bool = False
    reconnection_delay: float = 0.1
    reconnection_delay_max: float = 1.0
    randomization_factor: float = 0.5
    page: PageName = "tutorial"
    """Which page the `browser` driver loads; the other drivers play only the tutorial's."""
    node_process: NodeProcess = "per-page"
    """The node driver's processes: one per page (a page refresh kills it, as a reload does), or one
    `shared` by every page of the run (runs of hundreds of clients; a refresh drops the page's socket)."""
    transports: tuple[str, ...] = ("websocket",)
    """The frame-aware proxy toxics need frames on a WebSocket; socket.io-client's own default is
    `("polling", "websocket")`."""


SCENARIO_SETTINGS = ("ack", "ack_timeout", "retries", "retry_mode", "client_offset", "persist_offset",
                     "reconnection_delay", "reconnection_delay_max", "page", "node_process")
"""The ClientSettings a scenario file can set (its `clients` block, beside `driver` and `count`)."""


@dataclass
class Clients:
    """A scenario's clients: which driver plays the page, how many pages, and the page's settings.

    The file's `clients` block is flat (`{"count": 2, "ack": true, ...}`); `settings` holds its page fields.
    """

    driver: str = "python"
    count: int = 3
    settings: ClientSettings = field(default_factory=ClientSettings)

    @property
    def slots(self) -> list[str]:
        return [f"c{i}" for i in range(1, self.count + 1)]

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        return {"driver": self.driver, "count": self.count, **{k: settings[k] for k in SCENARIO_SETTINGS}}


@dataclass
class Workload:
    messages: int = 100
    rate: float = 0.0
    content_size: int = 0
    senders: int | None = None
    """How many clients send (c1 first); the others only listen. None: every client."""
    stagger: bool = False
    """Spread the senders' first sends evenly over one interval (1 / rate) instead of all at once."""
    per_client: dict[str, dict[str, float]] = field(default_factory=dict)
    """A client's own `messages` and `rate` over the ones above, by slot: a page that only listens while
    another talks is a schedule some reports need (docs/known-issues.md)."""

    def messages_of(self, slot: str) -> int:
        return int(self.per_client.get(slot, {}).get("messages", self.messages))

    def rate_of(self, slot: str) -> float:
        return float(self.per_client.get(slot, {}).get("rate", self.rate))


@dataclass
class Quiet:
    settle: float = 0.3
    timeout: float = 20.0


@dataclass
class Overload:
    """The bounds on the harness's own load beyond which a run is inconclusive (docs/reliability.md,
    "Harness overloaded"): its event loop's lag (p99 of a periodic timer's lateness) and the largest
    backlog of bytes the embedded proxy held for one client that was not reading them."""

    loop_lag_p99_ms: float = 250.0
    """Resolved scenarios get their own: `_overload` derives it from the run's timers."""
    proxy_backlog_bytes: int = 1 << 20


LOOP_LAG_FLOOR_MS = 250.0
LOOP_LAG_CEILING_MS = 1000.0


@dataclass
class Scenario:
    name: str
    seed: int
    target: Target
    proxy: ProxyKind
    clients: Clients
    workload: Workload
    faults: list[Fault]
    expectations: Expectations
    quiet: Quiet
    description: str = ""
    overload: Overload = field(default_factory=Overload)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clients"] = self.clients.to_dict()
        data["expectations"] = self.expectations.to_dict()
        data["target"] = self.target.to_dict()
        if not self.description:
            data.pop("description")
        if not self.workload.per_client:
            data["workload"].pop("per_client")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, shipped inside the package, with the fault kinds of the registry
    and the guarantees and categories of `harness.expectations` filled in."""
    data = json.loads(resources.files("harness").joinpath("scenario.schema.json").read_text())
    data["$defs"]["fault"]["properties"]["kind"]["enum"] = list(KINDS)
    expectations = data["$defs"]["expectations"]["properties"]
    expectations["guarantees"]["items"] = {"enum": list(GUARANTEES)}
    expectations["violations"]["properties"] = {c: {"type": "integer", "minimum": 1} for c in CATEGORIES}
    expectations["absent"]["items"] = {"enum": list(CATEGORIES)}
    expectations["recovery"] = RECOVERY_SCHEMA
    return data


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def validate(data: Any, source: str = "scenario") -> None:
    """Raise ScenarioError with one line naming the offending field, or return when `data` is valid."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    error = most_precise(errors)
    message = error.message
    if error.validator == "additionalProperties":
        message = f"{message}; see `sio-harness validate --schema` for the fields allowed here"
    raise ScenarioError(f"{source}: field {_where(error)}: {message}")


def bundled_dir() -> Path:
    return Path(str(resources.files("harness").joinpath("scenarios_data")))


def bundled_names() -> list[str]:
    """Names of the example scenarios shipped with the package."""
    return sorted(p.stem for p in bundled_dir().glob("*.json"))


def load_raw(ref: str | Path) -> tuple[dict[str, Any], str]:
    """Read a scenario file, or a bundled scenario by name; return (data, where it came from)."""
    path = Path(ref)
    if not path.exists():
        candidate = bundled_dir() / f"{ref}.json"
        if candidate.exists():
            path = candidate
        else:
            names = ", ".join(bundled_names())
            raise ScenarioError(f"{ref}: no such file and no bundled scenario of that name (bundled: {names})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return data, str(path)


def load(ref: str | Path, seed: int | None = None) -> Scenario:
    """Load, validate and resolve a scenario file or bundled name; `seed` overrides the file's seed."""
    data, source = load_raw(ref)
    return resolve(data, seed=seed, source=source)


def _draw(rng: random.Random, value: Any, integer: bool = False) -> Any:
    if isinstance(value, list):
        low, high = sorted(value)
        return rng.randint(int(low), int(high)) if integer else round(rng.uniform(low, high), 3)
    return value


def resolve(data: dict[str, Any], seed: int | None = None, source: str = "scenario") -> Scenario:
    """Validate `data` and return the exact scenario: defaults filled, open values drawn from the seed."""
    validate(data, source)
    data = copy.deepcopy(data)
    if seed is None:
        seed = data.get("seed")
    if seed is None:
        seed = secrets.randbelow(2**31)
    rng = random.Random(seed)

    target = _target(data.get("target", {}), data["name"], source)
    profile = target.step
    client_data = {**client_preset(profile), **_protocol_preset(target), **data.get("clients", {})}
    page = {k: client_data.pop(k) for k in SCENARIO_SETTINGS if k in client_data}
    if target.spec is not None and target.spec.protocol.transports is not None:
        page["transports"] = target.spec.protocol.transports
    clients = Clients(**client_data, settings=ClientSettings(**page))
    if clients.settings.retry_mode == "none" and clients.settings.retries:
        raise ScenarioError(f"{source}: field clients.retry_mode: retries={clients.settings.retries} needs "
                            f"retry_mode 'queue' or 'manual' (and a server that acks: profile at-least-once "
                            f"or exactly-once)")
    workload = Workload(**data.get("workload", {}))
    unknown = sorted(set(workload.per_client) - set(clients.slots))
    if unknown:
        raise ScenarioError(f"{source}: field workload.per_client: no client {unknown[0]!r} "
                            f"(the scenario has {', '.join(clients.slots)})")

    faults = [_resolve_fault(f, i, rng, clients, workload, target, source)
              for i, f in enumerate(data.get("faults", []))]

    exp_data = data.get("expectations")
    if exp_data is None:
        exp_data = {"guarantees": PROMISES[profile]}
    try:
        expectations = Expectations.from_dict(exp_data)
    except ExpectationError as exc:
        raise ScenarioError(f"{source}: field expectations: {exc}") from None
    return Scenario(name=data["name"], seed=seed, target=target, proxy=data.get("proxy", "embedded"),
                    clients=clients, workload=workload, faults=faults, expectations=expectations,
                    quiet=_quiet(data.get("quiet", {}), target), description=data.get("description", ""),
                    overload=_overload(data.get("overload", {}), clients, target))


def _overload(data: dict[str, Any], clients: Clients, target: Target) -> Overload:
    """The scenario's overload bounds; the loop-lag bound, when not given, is the run's shortest protocol
    timer (the client's ack timeout, the server's ping timeout) within 250 ms to 1 s: a harness stalled
    for that long can make a pong or an ack late by itself, and less than that cannot."""
    if "loop_lag_p99_ms" in data:
        return Overload(**data)
    timers = [_ping_timeout(target)]
    if clients.settings.ack and clients.settings.ack_timeout:
        timers.append(clients.settings.ack_timeout)
    bound = min(max(min(timers) * 1000, LOOP_LAG_FLOOR_MS), LOOP_LAG_CEILING_MS)
    return Overload(**{**data, "loop_lag_p99_ms": bound})


def _ping_timeout(target: Target) -> float:
    """Seconds the server waits for a pong: a reference server's `--ping-timeout` switch (socket.io's
    20 s default otherwise), an external target's `ping_timeout` server option."""
    if target.spec is not None:
        return float({**PING_DEFAULTS, **target.server_options}["ping_timeout"])
    switches = list(target.switches)
    if "--ping-timeout" in switches[:-1]:
        return float(switches[switches.index("--ping-timeout") + 1])
    return 20.0


def _quiet(data: dict[str, Any], target: Target) -> Quiet:
    """The scenario's wait for quiet, at least as long as the target file's `settle` (docs/targets.md)."""
    quiet = Quiet(**data)
    if target.spec is not None and quiet.settle < target.spec.settle:
        quiet = Quiet(settle=target.spec.settle, timeout=max(quiet.timeout, target.spec.settle))
    return quiet


def _protocol_preset(target: Target) -> dict[str, Any]:
    """What the target's `protocol.send.ack` changes in its step's client: `true` at a step whose page
    sends without a callback makes it attach one (it observes the ack; retrying stays the acking steps')."""
    if target.spec is None or target.spec.protocol.send.ack is not True or target.step in ACKING:
        return {}
    return {"ack": True}


def _resolve_fault(raw: dict[str, Any], index: int, rng: random.Random, clients: Clients, workload: Workload,
                   target: Target, source: str) -> Fault:
    name = raw["kind"]
    fault_kind = kind(name)
    where = f"{source}: field faults.{index}"
    nodes = target.node_names
    default_target = {"client": "c1", "node": "n1"}.get(fault_kind.acts_on, fault_kind.acts_on)
    fault_target = raw.get("target", default_target)
    if fault_kind.acts_on in ("node", "redis") and not nodes:
        raise ScenarioError(f"{where}: {name} needs several server nodes (target.nodes: 2 or more)")
    if fault_kind.acts_on == "server" and nodes:
        raise ScenarioError(f"{where}: {name} acts on a single server; with target.nodes use node_crash or "
                            f"node_restart on one node (n1 ... {nodes[-1]})")
    if fault_target == "any":
        fault_target = rng.choice(nodes if fault_kind.acts_on == "node" else clients.slots)
    if fault_kind.acts_on == "node":
        if fault_target not in nodes and not (fault_target == "all" and fault_kind.targets_all):
            raise ScenarioError(f"{where}.target: {name} needs a node ({', '.join(nodes)}"
                                f"{', all' if fault_kind.targets_all else ''}), not {fault_target!r}")
    elif fault_kind.acts_on == "client":
        if fault_target not in clients.slots and not (fault_target == "all" and fault_kind.targets_all):
            raise ScenarioError(f"{where}.target: {name} needs a client ({', '.join(clients.slots)}"
                                f"{', all' if fault_kind.targets_all else ''}), not {fault_target!r}")
    elif fault_target != default_target:
        raise ScenarioError(f"{where}.target: {name} acts on {default_target!r}, not {fault_target!r}")
    if fault_kind.drivers and clients.driver not in fault_kind.drivers:
        raise ScenarioError(f"{where}.kind: {name} needs clients.driver {' or '.join(fault_kind.drivers)} "
                            f"(the {clients.driver} driver has no such fault)")
    if target.spec is not None:
        reason = target.spec.not_applicable(fault_kind.acts_on, name)
        if reason:
            raise ScenarioError(f"{where}: {reason} (target {target.spec.name}); remove the fault or describe "
                                f"how the harness can do it (docs/targets.md)")

    trigger = copy.deepcopy(raw.get("trigger", {"at": 0.5}))
    if "at" in trigger:
        trigger["at"] = _draw(rng, trigger["at"])
    elif "after_sends" in trigger:
        spec = trigger["after_sends"]
        client = spec.get("client", fault_target if fault_target in clients.slots else "c1")
        if client == "any":
            client = rng.choice(clients.slots)
        if client not in clients.slots:
            raise ScenarioError(f"{where}.trigger.after_sends.client: no client {client!r} "
                                f"(the scenario has {', '.join(clients.slots)})")
        n = _draw(rng, spec["n"], integer=True)
        if n > workload.messages_of(client):
            raise ScenarioError(f"{where}.trigger.after_sends.n: {n} is more than the "
                                f"{workload.messages_of(client)} messages {client} sends, so the fault would "
                                f"never fire")
        trigger["after_sends"] = {"client": client, "n": n}
        once = spec.get("once_received")
        if once is not None:
            if once["client"] not in clients.slots:
                raise ScenarioError(f"{where}.trigger.after_sends.once_received.client: no client "
                                    f"{once['client']!r} (the scenario has {', '.join(clients.slots)})")
            trigger["after_sends"]["once_received"] = {"client": once["client"], "n": once.get("n", 1)}
    else:
        spec = trigger["frame"]
        watched = spec.get("client", fault_target)
        if watched not in clients.slots:
            raise ScenarioError(f"{where}.trigger.frame.client: a frame trigger watches one client's link; "
                                f"name it ({', '.join(clients.slots)}), not {watched!r}")
        if fault_kind.needs_frames and watched != fault_target:
            raise ScenarioError(f"{where}.trigger.frame.client: a {name} fault counts frames on its own "
                                f"target's link ({fault_target}), not {watched}'s")
        defaults = trigger_defaults(fault_kind, raw.get("params", {}))
        trigger["frame"] = {"client": watched, "sio_type": spec.get("sio_type", defaults["sio_type"]),
                            "stream": spec.get("stream", defaults["stream"]),
                            "nth": _draw(rng, spec.get("nth", 1), integer=True),
                            **({"event": spec["event"]} if "event" in spec else {})}

    duration = _draw(rng, raw["duration"]) if "duration" in raw else fault_kind.duration
    return Fault(kind=name, target=fault_target, trigger=trigger, duration=duration,
                 params=dict(raw.get("params", {})))
