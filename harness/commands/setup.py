"""`sio-harness setup node`: install the node driver's npm package where an installed harness finds it.

A checkout gets socket.io-client from `make setup` (the project's package.json); an installed wheel has
no package.json beside it, so this command puts one, pinning the same version, in the user cache
(`${XDG_CACHE_HOME:-~/.cache}/sio-harness/node`) and runs npm there. The node driver looks there last
(`harness.clients.node_driver.node_modules_candidates`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from harness.clients.node_driver import SOCKET_IO_CLIENT, user_node_folder
from harness.errors import HarnessError, MissingBinaryError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["node"], help="node: socket.io-client for the node driver")
    parser.add_argument("--folder", type=Path, default=None,
                        help="install into this folder instead of the user cache (its node_modules is then "
                             "what SIO_HARNESS_NODE_MODULES should name)")


def install_node(folder: Path) -> Path:
    """npm-install socket.io-client into `folder`; returns its node_modules folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise MissingBinaryError("`setup node` needs npm (it comes with Node.js 18 or later) on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "sio-harness-node-driver", "private": True,
                "description": "socket.io-client for sio-harness's node driver (written by `sio-harness setup node`)",
                "dependencies": {"socket.io-client": SOCKET_IO_CLIENT}}
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise HarnessError(f"npm install in {folder} failed: {last}")
    return folder / "node_modules"


def run(args: argparse.Namespace) -> int:
    folder = args.folder or user_node_folder()
    modules = install_node(folder)
    print(f"socket.io-client {SOCKET_IO_CLIENT} installed in {modules}")
    if args.folder is not None:
        print(f"the node driver finds it with SIO_HARNESS_NODE_MODULES={modules}")
    return 0
