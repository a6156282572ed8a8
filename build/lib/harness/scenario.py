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
from typing import Any

import jsonschema

from harness.errors import ScenarioError

PROFILES = ("baseline", "csr", "server-delivery", "at-least-once", "exactly-once")

PROMISES: dict[str, list[str]] = {
    "baseline": ["at-most-once"],
    "csr": ["at-most-once"],
    "server-delivery": ["at-most-once"],
    "at-least-once": ["at-least-once"],
    "exactly-once": ["exactly-once"],
}
"""What the tutorial promises at each step: the default expectations of a scenario."""

CLIENT_FAULTS = frozenset({"disconnect", "partition", "blackhole", "latency", "jitter", "bandwidth", "slicer",
                           "page_refresh", "ack_drop", "frame_drop", "frame_delay", "frame_dup", "frame_cut"})
SERVER_FAULTS = frozenset({"server_crash", "server_restart"})
DB_FAULTS = frozenset({"db_outage"})
FRAME_FAULTS = frozenset({"ack_drop", "frame_drop", "frame_delay", "frame_dup", "frame_cut"})

DEFAULT_DURATION: dict[str, float | None] = {
    "disconnect": 0.3, "partition": 1.0, "blackhole": 1.0, "latency": 1.0, "jitter": 1.0, "bandwidth": 1.0,
    "slicer": 1.0, "page_refresh": 0.0, "server_crash": 0.3, "server_restart": 0.0, "db_outage": 1.0,
    # A frame fault heals once it has hit its `count` frames; the duration only bounds the wait.
    "ack_drop": None, "frame_drop": None, "frame_delay": None, "frame_dup": None, "frame_cut": None,
}


def _client_preset(profile: str) -> dict[str, Any]:
    """The tutorial's client for a server profile (its page code at that step), with test-friendly timeouts."""
    preset: dict[str, Any] = {"ack": False, "ack_timeout": None, "retries": 0, "retry_mode": "none",
                              "client_offset": "none"}
    if profile in ("at-least-once", "exactly-once"):
        preset.update(ack=True, ack_timeout=1.0, retries=3, retry_mode="queue")
    if profile == "exactly-once":
        preset["client_offset"] = "socket-id"
    return preset


@dataclass
class Target:
    kind: str = "reference"
    profile: str = "baseline"
    switches: list[str] = field(default_factory=list)
    mutant: str | None = None
    storage: str = "sqlite"
    command: list[str] = field(default_factory=list)
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    sqlite_path: str | None = None


@dataclass
class Clients:
    driver: str = "python"
    count: int = 3
    ack: bool = False
    ack_timeout: float | None = None
    retries: int = 0
    retry_mode: str = "none"
    client_offset: str = "none"
    persist_offset: bool = False
    reconnection_delay: float = 0.1
    reconnection_delay_max: float = 1.0

    @property
    def slots(self) -> list[str]:
        return [f"c{i}" for i in range(1, self.count + 1)]


@dataclass
class Workload:
    messages: int = 100
    rate: float = 0.0
    content_size: int = 0


@dataclass
class Fault:
    """One scheduled fault, exact after resolution: a trigger, a target, a duration until its heal."""

    kind: str
    target: str
    trigger: dict[str, Any]
    duration: float | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.target}"


@dataclass
class Expectations:
    guarantees: list[str] = field(default_factory=list)
    violations: dict[str, int] = field(default_factory=dict)


@dataclass
class Quiet:
    settle: float = 0.3
    timeout: float = 20.0


@dataclass
class Scenario:
    name: str
    seed: int
    target: Target
    proxy: str
    clients: Clients
    workload: Workload
    faults: list[Fault]
    expectations: Expectations
    quiet: Quiet
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.target.kind == "reference":
            data["target"] = {k: data["target"][k] for k in ("kind", "profile", "switches", "mutant", "storage")}
        else:
            data["target"] = {k: v for k, v in data["target"].items()
                              if k not in ("profile", "switches", "mutant", "storage") and v not in (None, {}, [])}
        if not self.description:
            data.pop("description")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, shipped inside the package."""
    return json.loads(resources.files("harness").joinpath("scenario.schema.json").read_text())


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def validate(data: Any, source: str = "scenario") -> None:
    """Raise ScenarioError with one line naming the offending field, or return when `data` is valid."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    # The deepest error names the field most precisely. Inside a oneOf, a `const` miss only says which
    # branch this is not (e.g. the other target kind); prefer the error inside the branch the user meant.
    error = max(errors, key=lambda e: len(e.absolute_path))
    while error.context:
        error = max(error.context, key=lambda e: (e.validator != "const", len(e.absolute_path)))
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

    target = Target(**data.get("target", {}))
    if target.kind == "external" and not target.sqlite_path:
        raise ScenarioError(f"{source}: field target.sqlite_path: an external target must say where it stores "
                            f"its messages (the checker compares them with what clients saw); "
                            f"use {{db_path}} to let the harness pick the file")
    profile = target.profile if target.kind == "reference" else "exactly-once"
    client_data = {**_client_preset(profile), **data.get("clients", {})}
    clients = Clients(**client_data)
    if clients.retry_mode == "none" and clients.retries:
        raise ScenarioError(f"{source}: field clients.retry_mode: retries={clients.retries} needs "
                            f"retry_mode 'queue' or 'manual' (and a server that acks: profile at-least-once "
                            f"or exactly-once)")
    workload = Workload(**data.get("workload", {}))

    faults = [_resolve_fault(f, i, rng, clients, workload, target, source)
              for i, f in enumerate(data.get("faults", []))]

    exp_data = data.get("expectations")
    if exp_data is None:
        exp_data = {"guarantees": PROMISES[profile] if target.kind == "reference" else []}
    expectations = Expectations(guarantees=list(exp_data.get("guarantees", [])),
                                violations=dict(exp_data.get("violations", {})))
    return Scenario(name=data["name"], seed=seed, target=target, proxy=data.get("proxy", "embedded"),
                    clients=clients, workload=workload, faults=faults, expectations=expectations,
                    quiet=Quiet(**data.get("quiet", {})), description=data.get("description", ""))


def _resolve_fault(raw: dict[str, Any], index: int, rng: random.Random, clients: Clients, workload: Workload,
                   target: Target, source: str) -> Fault:
    kind = raw["kind"]
    where = f"{source}: field faults.{index}"
    default_target = "c1" if kind in CLIENT_FAULTS else "server" if kind in SERVER_FAULTS else "db"
    fault_target = raw.get("target", default_target)
    if fault_target == "any":
        fault_target = rng.choice(clients.slots)
    if kind in CLIENT_FAULTS:
        if fault_target not in clients.slots and not (fault_target == "all" and kind != "page_refresh"):
            raise ScenarioError(f"{where}.target: {kind} needs a client ({', '.join(clients.slots)}"
                                f"{'' if kind == 'page_refresh' else ', all'}), not {fault_target!r}")
    elif fault_target != default_target:
        raise ScenarioError(f"{where}.target: {kind} acts on {default_target!r}, not {fault_target!r}")
    if kind in SERVER_FAULTS and target.kind == "external" and not target.command:
        raise ScenarioError(f"{where}: {kind} needs a target started by the harness")
    if kind == "db_outage" and target.kind == "external" and not target.sqlite_path:
        raise ScenarioError(f"{where}: db_outage on an external target needs target.sqlite_path")

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
        if n > workload.messages:
            raise ScenarioError(f"{where}.trigger.after_sends.n: {n} is more than the {workload.messages} "
                                f"messages each client sends, so the fault would never fire")
        trigger["after_sends"] = {"client": client, "n": n}
    else:
        spec = trigger["frame"]
        watched = spec.get("client", fault_target)
        if watched not in clients.slots:
            raise ScenarioError(f"{where}.trigger.frame.client: a frame trigger watches one client's link; "
                                f"name it ({', '.join(clients.slots)}), not {watched!r}")
        if kind in FRAME_FAULTS and watched != fault_target:
            raise ScenarioError(f"{where}.trigger.frame.client: a {kind} fault counts frames on its own "
                                f"target's link ({fault_target}), not {watched}'s")
        trigger["frame"] = {"client": watched, "sio_type": spec.get("sio_type", "ACK" if kind == "ack_drop" else "EVENT"),
                            "stream": spec.get("stream", _frame_stream(kind, raw.get("params", {}))),
                            "nth": _draw(rng, spec.get("nth", 1), integer=True),
                            **({"event": spec["event"]} if "event" in spec else {})}

    duration = _draw(rng, raw["duration"]) if "duration" in raw else DEFAULT_DURATION[kind]
    return Fault(kind=kind, target=fault_target, trigger=trigger, duration=duration,
                 params=dict(raw.get("params", {})))


def _frame_stream(kind: str, params: dict[str, Any]) -> str:
    """Acks travel server -> client (downstream); other frame faults default to the client's sends."""
    return params.get("stream", "downstream" if kind == "ack_drop" else "upstream")
