"""The harness's exceptions: one base, a child per situation a user can act on.

Every `HarnessError` reaching the CLI becomes one line on stderr and exit code 2.
"""


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
