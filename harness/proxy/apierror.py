"""The one exception the embedded server's HTTP API turns into `{"error": ..., "status": N}`, and the body check
every call shares."""

from typing import Any


class ApiError(Exception):
    """A request the API refuses: `status` is the HTTP code, the message goes to the client verbatim."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def require_object(body: Any) -> dict[str, Any]:
    """A request body that must be a JSON object; a 400 otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad request body: expected a JSON object")
    return body
