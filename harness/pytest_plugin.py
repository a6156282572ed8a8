"""The sio-harness pytest plugin: `--chaos-*` options and fixtures for delivery scenarios.

Registered through the `pytest11` entry point. Nothing heavy is imported at collection time.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "sio-harness delivery scenarios")
    group.addoption("--chaos-seed", type=int, default=None,
                    help="seed for fault schedules and random toxics (default: each scenario's own)")
    group.addoption("--chaos-proxy", choices=["embedded", "toxiproxy", "auto"], default="auto",
                    help="fault-injecting proxy backend; auto prefers the real Toxiproxy when found")
    group.addoption("--chaos-db", choices=["sqlite", "postgres", "both"], default="sqlite",
                    help="storage of the reference server (postgres needs SIO_HARNESS_POSTGRES_DSN)")
    group.addoption("--chaos-reports", default=os.environ.get("SIO_HARNESS_REPORTS", "reports"),
                    help="folder where run reports are written")
