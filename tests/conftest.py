"""Shared fixtures for the harness's own tests.

Backends (PostgreSQL, the real Toxiproxy, Node.js packages) are skipped when absent on a developer's
machine, but under CI=true a missing backend fails the test: CI must prove every backend.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from backends_support import missing_backend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    """DSN of a PostgreSQL server that may create databases (SIO_HARNESS_POSTGRES_DSN)."""
    dsn = os.environ.get("SIO_HARNESS_POSTGRES_DSN")
    if not dsn:
        missing_backend("PostgreSQL (set SIO_HARNESS_POSTGRES_DSN)")
    return dsn


@pytest.fixture(scope="session")
def toxiproxy_bin() -> str:
    """Path of the real Toxiproxy server binary ($TOXIPROXY_BIN, or toxiproxy-server on PATH)."""
    path = os.environ.get("TOXIPROXY_BIN") or shutil.which("toxiproxy-server")
    if not path or not os.access(path, os.X_OK):
        missing_backend("the real Toxiproxy (set TOXIPROXY_BIN or put toxiproxy-server on PATH)")
    return path


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The project's npm folder with socket.io-client 4.8 (the node driver's package), from `make setup`."""
    path = ROOT / "node_modules" / "socket.io-client"
    if not shutil.which("node") or not path.exists():
        missing_backend("Node.js with the project's npm packages (run `make setup`)")
    return ROOT / "node_modules"


@pytest.fixture(scope="session")
def node_server() -> Path:
    """The tutorial's Node.js server, examples/targets/node-tutorial/server.js, with the examples' own npm
    packages (socket.io, better-sqlite3), which `make test` installs into examples/node_modules."""
    folder = ROOT / "examples"
    if not shutil.which("node") or not all((folder / "node_modules" / p).is_dir()
                                           for p in ("socket.io", "better-sqlite3")):
        missing_backend("Node.js with the examples' npm packages (run `make test-setup`)")
    return folder / "targets" / "node-tutorial" / "server.js"
