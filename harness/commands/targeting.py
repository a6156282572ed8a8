"""`--target FILE`, shared by every command that runs scenarios: the user's own server in place of the
reference server (docs/targets.md).

The target file's `step` decides the clients and the expectations of each scenario it is put into
(`harness.scenario.resolve`); a fault the target cannot undergo (a crash of a server the harness only
reaches by URL) is *not applicable*, which matrix and suite report per cell.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.errors import ScenarioError
from harness.faults import kind
from harness.scenario import external_target
from harness.steps import STEPS
from harness.targetfile import TargetSpec, load_target


def add_target_argument(parser: argparse.ArgumentParser, *, all_steps: bool = False) -> None:
    parser.add_argument("--target", metavar="FILE", default=None,
                        help="a target file (docs/targets.md): test your own server instead of the reference "
                             "server")
    if all_steps:
        parser.add_argument("--all-steps", action="store_true",
                            help="with --target: run every step's column, not only the claimed one, to see "
                                 "which step the server really reaches")


def target_option(args: argparse.Namespace) -> TargetSpec | None:
    """The `--target` file, loaded and checked (a wrong file: one line, exit 2)."""
    path = getattr(args, "target", None)
    return load_target(path) if path else None


_PING_SWITCHES = {"--ping-interval": "ping_interval", "--ping-timeout": "ping_timeout"}


def server_options(data: dict[str, Any]) -> dict[str, float]:
    """The Socket.IO options a reference-server scenario sets by switch (the half-open link cells shorten
    the ping), as options an external target receives through `{ping_interval_ms}`/`{ping_timeout_ms}`."""
    switches = list(data.get("target", {}).get("switches", []))
    return {_PING_SWITCHES[flag]: float(value) for flag, value in zip(switches, switches[1:], strict=False)
            if flag in _PING_SWITCHES}


def with_target(data: dict[str, Any], spec: TargetSpec | None) -> dict[str, Any]:
    """Scenario data aimed at `spec` (unchanged without one), keeping the options the scenario asks of
    its server."""
    if spec is None:
        return data
    return {**data, "target": external_target(spec, server_options(data),
                                              data.get("target", {}).get("failover", "next"))}


def steps_for(spec: TargetSpec | None, requested: list[str], all_steps: bool) -> list[str]:
    """The columns to run: the claimed step's against a target (every step with `--all-steps`)."""
    if spec is None:
        return requested
    return list(STEPS) if all_steps else [spec.step]


def not_applicable(spec: TargetSpec | None, step: str, data: dict[str, Any]) -> str | None:
    """Why the target cannot be judged as a `step` server in the scenario `data`, or None."""
    if spec is None:
        return None
    cell = data.get("target", {})
    if cell.get("nodes", 1) > 1 and spec.nodes < 2:
        return ("not applicable: a multi-node cell needs a target file with nodes 2 or more, whose command "
                "takes {redis_url} (docs/multinode.md)")
    if cell.get("nodes", 1) == 1 and spec.nodes > 1:
        return (f"not applicable: a single-server cell (its expectations hold one server's order); this "
                f"target runs {spec.nodes} nodes, judged by the multi-node cells (docs/multinode.md)")
    if "--session-store" in cell.get("switches", []):
        return ("not applicable: where CSR sessions are kept is a switch of the reference server; a target's "
                "own adapter decides it")
    options = server_options(data)
    if options and not spec.uses("ping_interval_ms"):
        return ("not applicable: this cell needs a short Socket.IO ping (pingInterval/pingTimeout "
                f"{options.get('ping_interval', 25):g}/{options.get('ping_timeout', 20):g} s) to notice a "
                "half-open link; pass {ping_interval_ms} and {ping_timeout_ms} to the server")
    try:
        spec = spec.at_step(step)
    except ScenarioError as exc:
        return f"not applicable: {str(exc).split(': field ', 1)[-1]}"
    for fault in data.get("faults", []):
        reason = spec.not_applicable(kind(fault["kind"]).acts_on, fault["kind"])
        if reason:
            return reason
    return None
