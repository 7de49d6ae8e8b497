"""Durations and times as the server takes them.

The server reads durations as text (``"30s"``, ``"5m"``, ``"1500ms"``, ``"1.5s"``); this
client also takes seconds (``int`` / ``float``) and :class:`datetime.timedelta`.
"""

import datetime
import re
from typing import Optional, Union

__all__ = ["Duration", "Time", "duration_text", "duration_seconds", "time_text"]

#: A duration: seconds (int or float), a :class:`datetime.timedelta`, or text like ``"30s"``.
Duration = Union[int, float, datetime.timedelta, str]

#: A time: a :class:`datetime.datetime` (naive ones are taken as UTC), or the server's text
#: (RFC 3339, ``2026-01-02``, or ``-5m`` for five minutes ago).
Time = Union[datetime.datetime, str]

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)")


def duration_text(value: Optional[Duration]) -> Optional[str]:
    """The server's text for a duration, or ``None`` for ``None``.

    Seconds become whole seconds (``"30s"``), milliseconds (``"1500ms"``) or nanoseconds,
    whichever is exact. Text is passed as it is (the server checks it). Negative values are
    passed on too, for the server to refuse with :class:`~taskledger.InvalidArgument`.

    Raises:
        TypeError: for anything else (``bool`` included).
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("a duration is seconds (int or float), a timedelta or text like '30s', not %r" % (value,))
    sign = "-" if value < 0 else ""
    ns = int(round(abs(value) * 1_000_000_000))
    if ns % 1_000_000_000 == 0:
        return "%s%ds" % (sign, ns // 1_000_000_000)
    if ns % 1_000_000 == 0:
        return "%s%dms" % (sign, ns // 1_000_000)
    return "%s%dns" % (sign, ns)


def duration_seconds(value: Optional[Duration]) -> Optional[float]:
    """A duration in seconds (``None`` for ``None``).

    Raises:
        ValueError: for text the server would not take either.
    """
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise TypeError("a duration is seconds, a timedelta or text like '30s', not %r" % (value,))
    pos, total = 0, 0.0
    if not value:
        raise ValueError("empty duration")
    for match in _PART.finditer(value):
        if match.start() != pos or match.group(2) not in _UNITS:
            raise ValueError("bad duration %r (examples: 1500ms, 30s, 5m, 2h)" % value)
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value):
        raise ValueError("bad duration %r (examples: 1500ms, 30s, 5m, 2h)" % value)
    return total


def time_text(value: Optional[Time]) -> Optional[str]:
    """The server's text for a time (RFC 3339 in UTC for a datetime), ``None`` for ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        utc = value.astimezone(datetime.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % utc.microsecond
    raise TypeError("a time is a datetime or the server's text, not %r" % (value,))
