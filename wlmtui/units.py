"""Parsing and formatting of the quantities a policy is written in.

Durations (``500ms``, ``2s``, ``1m``), rates (``100/min``) and token budgets
(``10000/hour``, ``2M/day``) — each parser raises ``ValueError`` with a
message fit to show an operator.
"""

from __future__ import annotations

import math
import re

_DURATION_UNITS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|min|m|h)\s*$")


def parse_duration(text: object) -> float:
    """Seconds from ``"500ms"``, ``"2s"``, ``"1.5m"``; bare numbers are seconds."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (try '500ms' or '2s')")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _DURATION_RE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration (try '500ms', '2s' or '1m')")
        value = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} must be a positive duration")
    return value


_PER = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*$")


def parse_rate(text: object) -> float:
    """Completions per second from ``"100/min"``, ``"5/s"``, ``"2000/hour"``."""
    match = _RATE_RE.match(str(text).lower())
    if not match or match.group(2) not in _PER:
        raise ValueError(f"{text!r} is not a rate (try '100/min', '5/s' or '2000/hour')")
    value = float(match.group(1)) / _PER[match.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive rate")
    return value


_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
WINDOWS = ("hour", "day", "week", "month")
_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*/\s*([a-z]+)\s*$")


def parse_count(text: object) -> int:
    """An amount with an optional K/M/G suffix: ``"1.5M"`` → 1500000."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$", str(text).lower())
    if not match:
        raise ValueError(f"{text!r} is not an amount (try '10000', '500K' or '2M')")
    return int(round(float(match.group(1)) * _SUFFIX[match.group(2)]))


def parse_budget(text: object) -> tuple[int, str]:
    """``"2M/day"`` → ``(2000000, "day")``; windows: hour, day, week, month."""
    match = _BUDGET_RE.match(str(text).lower())
    window = match.group(3).rstrip("s") if match else ""
    if not match or window not in WINDOWS:
        raise ValueError(
            f"{text!r} is not a token budget (try '10000/hour', '2M/day', '500K/week' or '1.5M/month')"
        )
    amount = int(round(float(match.group(1)) * _SUFFIX[match.group(2)]))
    if amount <= 0:
        raise ValueError(f"{text!r} must be a positive budget")
    return amount, window


def format_duration(seconds: float | None) -> str:
    """Compact human duration: ``45s``, ``25m``, ``3h10m``, ``2d4h``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def format_count(value: float) -> str:
    """``1234`` → ``1.2K``; ``2500000`` → ``2.5M``."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"
