"""The harness's exceptions: one base, a child per situation a user can act on.

Every `HarnessError` reaching the CLI becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jsonschema import ValidationError


class HarnessError(Exception):
    """Base of every error a user can fix (bad input, missing tool, busy port)."""


class ScenarioError(HarnessError):
    """A scenario file is malformed or names something that does not exist."""


class MissingBinaryError(HarnessError):
    """An external program the run needs (toxiproxy-server, node, postgres) is not installed."""


class PortInUseError(HarnessError):
    """A requested listen address is already taken by another process."""


class BackendUnavailableError(HarnessError):
    """A backend (PostgreSQL, the real Toxiproxy) was asked for and cannot be reached."""


class ProcessStartError(HarnessError):
    """A child process (server, proxy) exited or never became ready."""


def most_precise(errors: list[ValidationError]) -> ValidationError:
    """Of a document's schema errors, the one naming the field most precisely: the deepest. Inside a
    oneOf, a `const` miss only says which branch this is not (e.g. the other target kind); the error
    inside the branch the user meant is preferred."""
    error = max(errors, key=lambda e: len(e.absolute_path))
    while error.context:
        error = max(error.context, key=lambda e: (e.validator != "const", len(e.absolute_path)))
    return error
