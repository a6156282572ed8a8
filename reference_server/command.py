"""Command line of the reference server: `python -m reference_server ...` and `sio-harness serve ...`.

Kept free of heavy imports: `sio-harness` builds every subcommand's parser on each call, so python-socketio
and the database drivers are imported only when the server really starts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from types import ModuleType

from reference_server.config import BROADCASTS, ServerConfig
from reference_server.errors import ServerUsageError
from reference_server.mutants import MutantError, describe, select
from reference_server.profiles import PROFILE_SUMMARY, PROFILES, SWITCH_NAMES, resolve
from reference_server.storage import StorageConfigError, open_storage

MUTANT_CONFIRMATION = "--i-know-this-breaks-delivery"

_SWITCH_HELP = {
    "csr": "connection state recovery",
    "replay": "replay rows with id > auth.serverOffset on a connection that was not recovered",
    "ack": "acknowledge a message once its row is committed",
    "dedupe": "store clientOffset in the UNIQUE column; ack a duplicate without storing it",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "profiles (cumulative, as the tutorial builds them):\n"
        + "\n".join(f"  {name}: {PROFILE_SUMMARY[name]}" for name in PROFILES)
        + "\n\nmutants (broken on purpose, to prove the checkers; need " + MUTANT_CONFIRMATION + "):\n"
        + describe())
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="listen port, 0 for any (default %(default)s)")
    parser.add_argument("--db", default="sqlite:///chat.db",
                        help="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db "
                             "(default %(default)s)")
    parser.add_argument("--profile", default="baseline", choices=list(PROFILES),
                        help="the tutorial's step to run (default %(default)s)")
    switches = parser.add_argument_group("switches", "turn one part of a profile on or off")
    for name in SWITCH_NAMES:
        switches.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None,
                              help=_SWITCH_HELP[name])
    parser.add_argument("--mutant", metavar="NAME", help="run a deliberately broken variant (see below)")
    parser.add_argument(MUTANT_CONFIRMATION, dest="confirm_mutant", action="store_true",
                        help="confirm that --mutant is meant: it breaks a delivery guarantee")
    limits = parser.add_argument_group("limits and timeouts")
    limits.add_argument("--db-busy-timeout", type=float, default=0.05, metavar="SECONDS",
                        help="SQLite: how long a write waits for a lock held elsewhere (default %(default)s)")
    limits.add_argument("--db-timeout", type=float, default=1.0, metavar="SECONDS",
                        help="PostgreSQL: bound on every connect and statement (default %(default)s)")
    limits.add_argument("--max-content-bytes", type=int, default=64 * 1024, metavar="N",
                        help="largest accepted message content in UTF-8 bytes (default %(default)s)")
    limits.add_argument("--rate-limit", type=float, default=500.0, metavar="PER_SECOND",
                        help="messages a second one connection may send on average, 0 for no limit "
                             "(default %(default)s)")
    limits.add_argument("--rate-burst", type=float, default=1000.0, metavar="N",
                        help="messages one connection may send in a burst (default %(default)s)")
    limits.add_argument("--ping-interval", type=float, default=25.0, metavar="SECONDS",
                        help="Engine.IO ping interval (default %(default)s, as socket.io)")
    limits.add_argument("--ping-timeout", type=float, default=20.0, metavar="SECONDS",
                        help="Engine.IO ping timeout (default %(default)s, as socket.io)")
    csr = parser.add_argument_group("connection state recovery")
    csr.add_argument("--max-disconnection-duration", type=float, default=120.0, metavar="SECONDS",
                     help="how long a disconnected session is kept for recovery (default %(default)s)")
    csr.add_argument("--csr-run-middlewares", action="store_true",
                     help="run the connect handler's checks on a recovered socket too "
                          "(socket.io's skipMiddlewares: false)")
    csr.add_argument("--connect-first", action=argparse.BooleanOptionalAction, default=True,
                     help="send the CONNECT before the connect handler's catch-up (python-socketio's "
                          "always_connect; default); --no-connect-first is python-socketio's own default, "
                          "under which the catch-up leaves before the CONNECT (docs/findings/"
                          "catch-up-before-connect.md)")
    cluster = parser.add_argument_group("several nodes (docs/multinode.md)")
    cluster.add_argument("--node", default="", metavar="NAME", help="this node's name, shown in /health")
    cluster.add_argument("--redis", metavar="URL",
                         help="share broadcasts with other nodes through Redis (python-socketio's "
                              "AsyncRedisManager), e.g. redis://127.0.0.1:6379/0")
    cluster.add_argument("--redis-subscribe", metavar="URL",
                         help="reach Redis at another address for the subscription only (default: --redis)")
    cluster.add_argument("--redis-channel", default="socketio", metavar="NAME",
                         help="the pub/sub channel, the same on every node (default %(default)s)")
    cluster.add_argument("--session-store", default="memory", choices=["memory", "redis"],
                         help="where CSR keeps a dropped session: this node's memory, or Redis so that "
                              "another node can restore it (default %(default)s)")
    cluster.add_argument("--broadcast", choices=BROADCASTS, metavar="HOW",
                         help="with --redis: 'pubsub', each row broadcast by the node that stored it "
                              "through AsyncRedisManager (the tutorial's way), or 'feed', every node "
                              "broadcasting every row in commit order from the database, Redis only "
                              "waking it up (default: feed for the exactly-once profile, else pubsub)")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="server log level on stderr (default %(default)s)")



def run(args: argparse.Namespace) -> int:
    """Validate the options, then serve in the foreground until SIGTERM or SIGINT."""
    config = build_config(args)
    recovery = _load_recovery() if config.switches.csr else None
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from reference_server.app import serve

    asyncio.run(serve(config, recovery))
    return 0


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The server's configuration from parsed options; raises ServerUsageError with one clear line."""

    switches = resolve(args.profile, {name: getattr(args, name) for name in SWITCH_NAMES})
    mutant = None
    if args.mutant:
        if not args.confirm_mutant:
            raise ServerUsageError(f"--mutant {args.mutant} breaks delivery on purpose; add "
                                   f"{MUTANT_CONFIRMATION} to confirm")
        try:
            mutant = select(args.mutant, switches)
        except MutantError as exc:
            raise ServerUsageError(str(exc)) from None
    elif args.confirm_mutant:
        raise ServerUsageError(f"{MUTANT_CONFIRMATION} given without --mutant")
    try:
        open_storage(args.db)
    except StorageConfigError as exc:
        raise ServerUsageError(str(exc)) from None
    _check_positive(args, "db_busy_timeout", "db_timeout", "max_content_bytes", "rate_burst",
                    "ping_interval", "ping_timeout", "max_disconnection_duration")
    if args.rate_limit < 0:
        raise ServerUsageError("--rate-limit must be 0 (no limit) or positive")
    if (args.redis_subscribe or args.session_store != "memory") and not args.redis:
        raise ServerUsageError("--redis-subscribe and --session-store redis need --redis URL")
    if args.broadcast and not args.redis:
        raise ServerUsageError("--broadcast needs --redis URL (one node broadcasts what it stores)")
    if not 0 <= args.port <= 65535:
        raise ServerUsageError(f"--port {args.port} is not a TCP port (0-65535)")
    return ServerConfig(
        host=args.host, port=args.port, db=args.db, profile=args.profile, switches=switches, mutant=mutant,
        db_busy_timeout=args.db_busy_timeout, db_timeout=args.db_timeout,
        max_content_bytes=args.max_content_bytes, rate_limit=args.rate_limit, rate_burst=args.rate_burst,
        max_disconnection_duration=args.max_disconnection_duration,
        csr_run_middlewares=args.csr_run_middlewares, connect_first=args.connect_first,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout, node=args.node, redis_url=args.redis,
        redis_subscribe_url=args.redis_subscribe or args.redis, redis_channel=args.redis_channel,
        session_store=args.session_store,
        broadcast=args.broadcast or ("feed" if args.profile == "exactly-once" else "pubsub"))


def _check_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) <= 0:
            raise ServerUsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")


def _load_recovery() -> ModuleType:
    try:
        return importlib.import_module("reference_server.recovery")
    except ModuleNotFoundError as exc:
        if exc.name != "reference_server.recovery":
            raise
        raise ServerUsageError("connection state recovery is not available (reference_server/recovery.py "
                               "is missing); choose a profile without it or add --no-csr") from None
