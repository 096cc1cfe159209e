"""Small, fast formatters shared by the panels (plain strings, no Textual)."""

from __future__ import annotations

import math
import time
from typing import Iterable, Sequence

from wlmtui.units import format_count, format_duration

SPARK = "▁▂▃▄▅▆▇█"
BACKEND_NAMES = {"v2": "cgroup v2", "v1": "hybrid v1", "sim": "simulated"}
STATUS_SHORT = {"missing": "MISS", "meeting": "meet", "beating": "beat", "idle": "idle",
                "absent": "gone", "token": "tok"}


def clock(wall: float | None) -> str:
    """``HH:MM:SS`` in local time (tests pin ``TZ``)."""
    if wall is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(wall))


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x * 100:.{digits}f}%"


def num(x: float | None, spec: str = ".2f") -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return format(x, spec)


def signed(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) < 0.5 * 10 ** -digits:
        return f"{0:.{digits}f}".rjust(digits + 3)
    return f"{x:+.{digits}f}"


def pi(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def measured(goal_type: str, source: str, value: float | None) -> str:
    """The measured value in the goal's unit."""
    if value is None:
        return "-"
    if source == "rt-measured":
        return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"
    if source == "psi-proxy":
        return f"stall {value * 100:.1f}%"
    if source == "velocity":
        return f"vel {value:.0f}"
    if source == "completions":
        return f"{value:.2f}/s"
    if source == "token":
        return format_count(value)
    return num(value)


def sparkline(values: Sequence[float | None], width: int, lo: float = 0.0, hi: float | None = None) -> str:
    """The last ``width`` values as block characters (``None`` draws a space)."""
    if width <= 0:
        return ""
    vals = list(values)[-width:]
    real = [v for v in vals if v is not None]
    top = hi if hi is not None else max(real, default=0.0)
    if top <= lo:
        top = lo + 1e-9
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
            continue
        frac = (min(max(v, lo), top) - lo) / (top - lo)
        out.append(SPARK[min(len(SPARK) - 1, int(frac * (len(SPARK) - 1) + 0.5))])
    return "".join(out).rjust(width)


def gauge(weight: int | None, lo: int, hi: int, width: int = 8) -> str:
    """Where a weight sits in ``lo..hi`` on a log scale: ``├──●───┤``."""
    if weight is None or width < 3:
        return " " * width
    inner = width - 2
    if hi <= lo:
        pos = 0
    else:
        frac = (math.log(max(weight, 1)) - math.log(max(lo, 1))) / (math.log(max(hi, 1)) - math.log(max(lo, 1)) or 1)
        pos = min(inner - 1, max(0, int(round(frac * (inner - 1)))))
    return "├" + "".join("●" if i == pos else "─" for i in range(inner)) + "┤"


def duration(seconds: float | None) -> str:
    return format_duration(seconds)


def count(value: float | None) -> str:
    return "-" if value is None else format_count(value)


def join(parts: Iterable[str], sep: str = "  ") -> str:
    return sep.join(p for p in parts if p)
