"""Calendar-aligned budget windows.

A budget of ``10000/hour`` resets at the top of every hour, ``2M/day`` at
midnight, ``…/week`` on Monday 00:00 (ISO weeks) and ``…/month`` on the 1st
at 00:00 — in UTC, or in the class's ``window_tz`` (an IANA zone name).

Zone-aware windows follow the wall clock: a day window is 23 or 25 hours
long on the days daylight-saving time starts or ends. Hour windows always
last 3600 s and tile without gaps: they start where the zone's *standard*
time shows ``HH:00`` — ``:00`` UTC for whole-hour zones, ``:30`` UTC for
India or Newfoundland; a repeated local hour in autumn is simply the next
window. (Only Lord Howe Island, whose summer time moves by half an hour,
then sees its hours start at local ``HH:30``.)
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

WINDOWS = ("hour", "day", "week", "month")


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo:
    """``None``, ``""`` and ``"UTC"`` mean UTC; anything else is an IANA zone
    (``ZoneInfoNotFoundError`` for an unknown name — policy validation
    rejects those earlier)."""
    if not name or name.upper() == "UTC":
        return timezone.utc
    return ZoneInfo(name)


def _local_midnight(day: datetime, tz: tzinfo) -> float:
    """Epoch seconds of 00:00 on ``day``'s date in ``tz``.

    A midnight that does not exist (a zone that springs forward at 00:00)
    resolves, per PEP 495 ``fold=0``, to the instant the clocks jump.
    """
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def window_bounds(window: str, now_epoch: float, tz: str | tzinfo | None = None) -> tuple[float, float]:
    """``(start, end)`` epoch seconds of the window containing ``now_epoch``.

    ``start <= now_epoch < end``. ``window`` is one of :data:`WINDOWS`.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r} (one of: {', '.join(WINDOWS)})")
    where = tz if isinstance(tz, tzinfo) else zone(tz)
    # whole seconds: boundaries are whole seconds, and fromtimestamp would round
    # 23:59:59.9999996 up into the next day
    local = datetime.fromtimestamp(math.floor(now_epoch), where)
    if window == "hour":
        # align to the zone's standard offset: hours tile even across DST changes
        dst = local.dst() or timedelta(0)
        offset = (local.utcoffset() - dst).total_seconds()
        start = now_epoch - ((now_epoch + offset) % 3600.0)
        return start, start + 3600.0
    if window == "day":
        first = local
        after = local + timedelta(days=1)
    elif window == "week":
        first = local - timedelta(days=local.weekday())
        after = first + timedelta(days=7)
    else:  # month
        first = local.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return _local_midnight(first, where), _local_midnight(after, where)


def window_length(window: str, now_epoch: float, tz: str | tzinfo | None = None) -> float:
    start, end = window_bounds(window, now_epoch, tz)
    return end - start


def iso_z(epoch: float) -> str:
    """``2025-11-22T01:02:03Z`` (UTC, whole seconds)."""
    return datetime.fromtimestamp(round(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
