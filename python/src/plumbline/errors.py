"""Exceptions. Every refusal by the server is an :class:`ApiError` carrying the API's stable
``code`` (``wrong_phase``, ``insufficient_funds``, ...), its ``message`` and the HTTP
``status``; subclasses by status let callers catch a family (``except plumbline.Conflict``).
"""

from __future__ import annotations

from typing import Optional


class PlumblineError(Exception):
    """The base of every exception this package raises."""


class InputError(PlumblineError, ValueError):
    """Bad input caught before anything is sent: a missing column, a label of the wrong kind,
    an unreadable spec file."""


class TransportError(PlumblineError):
    """The server could not be reached, or did not answer in time."""


class ApiError(PlumblineError):
    """The server refused a request: ``status`` (HTTP), ``code`` (stable, see
    ``docs/http-api.md``) and ``message`` (for people)."""

    status: int
    code: str
    message: str
    method: str
    path: str

    def __init__(self, status: int, code: str, message: str, method: str = "", path: str = ""):
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"{code}: {message}{where}")


class BadRequest(ApiError):
    """400: the request is malformed."""


class Unauthorized(ApiError):
    """401: not signed in, or the session ended."""


class Forbidden(ApiError):
    """403: not allowed (wrong signer, not the creator, not qualified, ineligible)."""


class NotFound(ApiError):
    """404: no such experiment, batch, settlement or route."""


class Conflict(ApiError):
    """409: the current state does not allow it (wrong phase, deadline, insufficient funds)."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the server takes."""


class Invalid(ApiError):
    """422: valid JSON that breaks a rule (a spec field, a task line, a label)."""


class RateLimited(ApiError):
    """429: too many requests; try again later."""


class ServerError(ApiError):
    """5xx: the server failed (``internal``), a replica conflict ran out of retries
    (``stale``), or the chain did not answer (``chain_unavailable``)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Invalid,
    429: RateLimited,
}


def api_error(status: int, code: str, message: str, method: str = "", path: str = "") -> ApiError:
    """The exception for an error answer, of the class its status names."""
    cls: type[ApiError] = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, code, message, method, path)


class WaitTimeout(PlumblineError, TimeoutError):
    """An experiment did not reach the phase waited for in time."""

    phase: str

    def __init__(self, message: str, phase: str):
        self.phase = phase
        super().__init__(message)


class AuditError(PlumblineError):
    """``plumbline audit`` did not verify a record (``returncode`` 1: the first mismatch is in
    the message), could not read it (2), or could not be run at all (``returncode`` None)."""

    returncode: Optional[int]
    output: str

    def __init__(self, message: str, returncode: Optional[int] = None, output: str = ""):
        self.returncode = returncode
        self.output = output
        super().__init__(message)
