"""Exceptions raised by the taskledger client.

Every error the server reports becomes a :class:`TaskLedgerError` subclass carrying the
HTTP status, the server's error ``code`` (``invalid_argument``, ``refused``, ...) and its
one-line message.
"""

from typing import Dict, Optional, Type

__all__ = [
    "TaskLedgerError",
    "InvalidArgument",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Refused",
    "LeaseLost",
    "UnsupportedMediaType",
    "Internal",
    "Busy",
    "UnknownOutcome",
    "Unavailable",
    "ProtocolError",
    "ClaimTimeout",
    "error_for",
]


class TaskLedgerError(Exception):
    """Base class of every error raised by the client.

    Attributes:
        status: the HTTP status code (0 when the server could not be reached at all).
        code: the server's error class (``"invalid_argument"``, ``"refused"``, ...), or ``""``.
        message: the server's one-line message.
    """

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.message: str = message
        self.status: int = status
        self.code: str = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return "%s(%r, status=%d, code=%r)" % (type(self).__name__, self.message, self.status, self.code)


class InvalidArgument(TaskLedgerError):
    """400 ``invalid_argument``: a malformed or invalid request; nothing was written."""


class Forbidden(InvalidArgument):
    """403: a POST over TCP from a foreign ``Origin`` (the server's code: ``invalid_argument``)."""


class NotFound(TaskLedgerError):
    """404 ``not_found``: an unknown task or path, or (claim) nothing is ready."""


class MethodNotAllowed(InvalidArgument):
    """405: the path exists but not for this method (the server's code: ``invalid_argument``)."""


class Refused(TaskLedgerError):
    """409 ``refused``: the lease rules refused the command (not claimable, stale token, ...)."""


class LeaseLost(Refused):
    """409 for a holder's command (heartbeat, complete, fail, ...): the lease is no longer
    this holder's (it expired, the task was taken over, ended or cancelled)."""


class UnsupportedMediaType(InvalidArgument):
    """415: a POST body that is not ``application/json`` (the server's code: ``invalid_argument``)."""


class Internal(TaskLedgerError):
    """500 ``internal``: a server or storage failure."""


class Busy(TaskLedgerError):
    """503 ``busy``: the server is overloaded; the request may be retried."""


class UnknownOutcome(TaskLedgerError):
    """504 ``unknown_outcome``: a cluster's writer did not answer in time; the request may
    or may not have taken effect. Look at the task before sending it again (not retried)."""


class Unavailable(TaskLedgerError):
    """The server could not be reached (connection refused, reset, timed out)."""


class ProtocolError(TaskLedgerError):
    """The server answered something this client does not understand."""


class ClaimTimeout(TaskLedgerError, TimeoutError):
    """:meth:`taskledger.Client.lease` found no ready task within its ``timeout``."""


_BY_CODE: Dict[str, Type[TaskLedgerError]] = {
    "invalid_argument": InvalidArgument,
    "refused": Refused,
    "not_found": NotFound,
    "busy": Busy,
    "internal": Internal,
    "unknown_outcome": UnknownOutcome,
}

_SPECIFIC_STATUS: Dict[int, Type[TaskLedgerError]] = {
    403: Forbidden,
    405: MethodNotAllowed,
    415: UnsupportedMediaType,
}

_BY_STATUS: Dict[int, Type[TaskLedgerError]] = {
    400: InvalidArgument,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Refused,
    413: InvalidArgument,
    415: UnsupportedMediaType,
    500: Internal,
    503: Busy,
    504: UnknownOutcome,
}


def error_for(status: int, code: str, message: str, holder: bool = False) -> TaskLedgerError:
    """The exception for an error reply.

    Args:
        status: the HTTP status.
        code: the ``code`` of the error body ("" when there was none).
        message: the ``error`` of the body (or a description of the reply).
        holder: the request was a lease holder's command; a refusal is then :class:`LeaseLost`.
    """
    # 403, 405 and 415 come with the code invalid_argument: their status says more.
    cls: Optional[Type[TaskLedgerError]] = _SPECIFIC_STATUS.get(status) or _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = Internal if status >= 500 else TaskLedgerError
    if holder and cls is Refused:
        cls = LeaseLost
    return cls(message, status=status, code=code)
