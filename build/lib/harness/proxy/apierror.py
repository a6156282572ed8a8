"""The one exception the embedded server's HTTP API turns into `{"error": ..., "status": N}`."""


class ApiError(Exception):
    """A request the API refuses: `status` is the HTTP code, the message goes to the client verbatim."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
