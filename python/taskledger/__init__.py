"""taskledger: the Python client of taskledger's HTTP JSON API (``taskledger serve --http``).

Pure standard library. The main pieces:

* :class:`Client` -- create, list, show and explain tasks, read events, claim leases;
* :class:`Lease` -- a claimed task: heartbeat, complete, fail, release, signal;
* :meth:`Client.lease` -- a ``with`` block holding a lease, heartbeated in the background;
* :class:`Worker` -- a loop running a handler per task, with a bounded drain on SIGTERM;
* :class:`TaskLedgerError` and its subclasses -- the server's errors.
"""

from .client import Client, Events, Lease, default_worker_name
from .durations import Duration, Time, duration_seconds, duration_text
from .errors import (Busy, ClaimTimeout, Forbidden, Internal, InvalidArgument, LeaseLost, MethodNotAllowed,
                     NotFound, ProtocolError, Refused, TaskLedgerError, Unavailable, UnknownOutcome,
                     UnsupportedMediaType)
from .transport import UnixHTTPConnection, parse_address
from .worker import Worker

__version__ = "0.1.0"

__all__ = [
    "Client", "Lease", "Events", "Worker", "default_worker_name",
    "Duration", "Time", "duration_text", "duration_seconds",
    "TaskLedgerError", "InvalidArgument", "Forbidden", "NotFound", "MethodNotAllowed", "Refused", "LeaseLost",
    "UnsupportedMediaType", "Internal", "Busy", "UnknownOutcome", "Unavailable", "ProtocolError", "ClaimTimeout",
    "UnixHTTPConnection", "parse_address",
]
