"""`sio-harness setup node` and where the node driver looks for socket.io-client.

The install is real (npm, about 3 s); an installed wheel is stood in for by pointing the driver's own
location (`DRIVER_JS`) at a folder with no node_modules anywhere above it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.clients import node_driver
from harness.errors import MissingBinaryError


@pytest.fixture
def outside_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed harness: the driver outside any checkout, an empty working directory and cache."""
    site = tmp_path / "site-packages" / "harness" / "clients" / "node"
    site.mkdir(parents=True)
    monkeypatch.setattr(node_driver, "DRIVER_JS", site / "driver.js")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SIO_HARNESS_NODE_MODULES", raising=False)
    return tmp_path


def fake_modules(folder: Path) -> Path:
    (folder / "socket.io-client").mkdir(parents=True)
    return folder


def test_missing_package_says_how_to_install_it(outside_checkout):
    with pytest.raises(MissingBinaryError, match=r"run `sio-harness setup node`") as caught:
        node_driver.node_modules_dir()
    assert "\n" not in str(caught.value)


def test_the_search_order_env_then_checkout_then_working_directory_then_cache(outside_checkout, monkeypatch):
    tmp = outside_checkout
    cache = fake_modules(tmp / "cache" / "sio-harness" / "node" / "node_modules")
    assert node_driver.node_modules_dir() == cache
    cwd = fake_modules(tmp / "work" / "node_modules")
    assert node_driver.node_modules_dir() == cwd
    checkout = fake_modules(tmp / "site-packages" / "node_modules")
    assert node_driver.node_modules_dir() == checkout
    named = fake_modules(tmp / "named")
    monkeypatch.setenv("SIO_HARNESS_NODE_MODULES", str(named))
    assert node_driver.node_modules_dir() == named
    # A named folder without the package does not stop the search.
    monkeypatch.setenv("SIO_HARNESS_NODE_MODULES", str(tmp / "empty"))
    assert node_driver.node_modules_dir() == checkout


@pytest.mark.skipif(not shutil.which("npm"), reason="npm not installed")
def test_setup_node_installs_into_the_user_cache_where_the_driver_finds_it(outside_checkout, capsys):
    assert main(["setup", "node"]) == 0
    folder = outside_checkout / "cache" / "sio-harness" / "node"
    assert str(folder / "node_modules") in capsys.readouterr().out
    installed = json.loads((folder / "node_modules" / "socket.io-client" / "package.json").read_text())
    assert installed["version"] == node_driver.SOCKET_IO_CLIENT
    assert node_driver.node_modules_dir() == folder / "node_modules"


def test_setup_node_without_npm_is_one_line_and_exit_2(outside_checkout, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(outside_checkout / "no-bin"))
    assert main(["setup", "node"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs npm" in err
