"""The reference server's own errors: one base, a child per situation an operator can act on.

The server stands alone (it is what users compare their own server with), so it does not share the
harness's exceptions. `python -m reference_server` prints any `ServerError` as one line and exits 2;
`sio-harness serve` (harness/commands/serve.py) turns it into the harness's own one-line error.
"""


class ServerError(Exception):
    """Base of every error an operator can fix (a bad option, a busy port, an unreachable database)."""


class ServerUsageError(ServerError):
    """The server was asked for something it cannot do (an unknown mutant, no CSR module, a bad option)."""


class PortInUseError(ServerError):
    """The listen address is already taken by another process."""


class BackendUnavailableError(ServerError):
    """The database cannot be opened or reached."""
