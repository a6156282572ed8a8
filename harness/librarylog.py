"""Where the Socket.IO libraries' own log lines go: the run folder's `libraries.log`, never the terminal.

python-engineio and python-socketio give a client or server built with `logger=False` a stderr handler of
their own, at level ERROR, on first use. Under load their write loop then prints "packet queue is empty,
aborting" for every connection it gives up, between the harness's own lines. The harness judges those
connections from the history; the libraries' account of them belongs beside the run, in its folder.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from pathlib import Path

LOGGERS = ("engineio.client", "engineio.server", "socketio.client", "socketio.server")
LEVEL = logging.WARNING

_CURRENT: ContextVar[RunLog | None] = ContextVar("sio_harness_run_log", default=None)
"""The run whose task (or a task it started) is logging: runs on one event loop keep their own lines."""


def keep_off_terminal() -> None:
    """Give the libraries' loggers a level (so they add no stderr handler) and stop them propagating to
    the root logger, whose last-resort handler is stderr too. Idempotent."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(LEVEL)
        logger.propagate = False
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        if not logger.handlers:
            # A logger with no handler at all falls back to the last-resort handler (stderr).
            logger.addHandler(logging.NullHandler())


class RunLog:
    """From creation to `close()`, the libraries' records go to `path` (created on the first record);
    the runner opens one for each run, next to the history. Only records made in the context of the task
    that opened it (and of the tasks it started) are kept, so runs sharing an event loop (`sio-harness
    matrix --jobs`) each get their own."""

    def __init__(self, path: Path) -> None:
        keep_off_terminal()
        self._handler = logging.FileHandler(path, delay=True, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler.addFilter(self._made_by_this_run)
        _CURRENT.set(self)
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self._handler)

    def _made_by_this_run(self, record: logging.LogRecord) -> bool:
        return _CURRENT.get() is self

    def close(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()
        if _CURRENT.get() is self:
            _CURRENT.set(None)
