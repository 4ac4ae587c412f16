"""The ECS error envelope: an exception that the server turns into a reply."""

from __future__ import annotations


class ApiError(Exception):
    """An ECS API error: HTTP status, error code and message.

    Args:
        status: HTTP status code of the reply.
        code: ECS error code, e.g. ``OperationDenied.NoStock``.
        message: Human-readable message, as the real service words it.
        headers: Extra reply headers (e.g. ``x-acs-retry-after``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def missing_parameter(name: str) -> ApiError:
    """Return the error for a mandatory parameter that was not sent."""
    return ApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this '
        "request is not supplied.",
    )


def invalid_parameter(name: str, code: str = "InvalidParameter") -> ApiError:
    """Return the error for a parameter whose value is not acceptable."""
    return ApiError(400, code, f'The specified parameter "{name}" is not valid.')


def not_found(code: str, message: str) -> ApiError:
    """Return a 404 error for a resource that does not exist."""
    return ApiError(404, code, message)
