"""Small, fast formatters shared by the panels (plain strings, no Textual)."""

from __future__ import annotations

import functools
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


#: a performance index's source, as a short tag for the class table
SOURCE_TAG = {"rt-measured": "rt", "psi-proxy": "psi", "velocity": "vel", "completions": "tput",
              "token": "tok", "fixed": "fix", "idle": "-", "missing": "-"}
#: what the tags stand for (help screen, detail panel)
SOURCE_WORDS = {"rt": "measured response times,", "psi": "CPU pressure (stands in when too few transactions are "
                "reported),", "vel": "CPU velocity,", "tput": "completions per second,", "tok": "token budget,",
                "fix": "fixed (discretionary)"}
DELAY_NAMES = (("cpu", "cpu"), ("memory", "mem"), ("io", "io"))


def source_tag(source: str) -> str:
    return SOURCE_TAG.get(source, source[:4] or "-")


def delay(shares: dict[str, float], width: int = 12) -> str:
    """Each resource's share of a class's stall, biggest first: ``cpu 80 io 20``.

    Shares under 10 % are left out; three parts that do not fit ``width``
    use one letter each (``c50 m30 i20``). ``-`` when the class did not stall."""
    parts = sorted(((shares.get(key, 0.0), short) for key, short in DELAY_NAMES), reverse=True)
    parts = [(round(share * 100), short) for share, short in parts if share >= 0.1]
    if not parts:
        return "-"
    text = " ".join(f"{short} {p}" for p, short in parts)
    if len(text) > width:
        text = " ".join(f"{short[0]}{p}" for p, short in parts)
    return text


def delay_of(cpu: float, mem: float, io: float, width: int = 12) -> str:
    """:func:`delay` straight from stall fractions (cached: most classes stall on CPU alone)."""
    total = cpu + mem + io
    if total <= 0:
        return "-"
    if mem == 0 and io == 0:
        return "cpu 100"
    return _delay_cached(round(cpu / total, 3), round(mem / total, 3), round(io / total, 3), width)


@functools.lru_cache(maxsize=1024)
def _delay_cached(cpu: float, mem: float, io: float, width: int) -> str:
    return delay({"cpu": cpu, "memory": mem, "io": io}, width)


def rt(seconds: float | None) -> str:
    """A response time: ``73ms``, ``1.29s``, ``12.5s``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.2f}s"
    return f"{seconds:.1f}s"


def bucket_labels(edges: Sequence[float]) -> list[str]:
    """z/OS response-time buckets as percent of the goal: ``≤50`` … ``≤400``, ``>400``."""
    return [f"≤{edge * 100:.0f}" for edge in edges] + [f">{edges[-1] * 100:.0f}"] if edges else []


def bar(count: int, top: int) -> str:
    """One block character for ``count`` out of ``top`` on a square-root scale,
    so a thin tail still shows (a non-zero count never draws blank)."""
    if count <= 0 or top <= 0:
        return " "
    return SPARK[max(0, min(len(SPARK) - 1, math.ceil(math.sqrt(count / top) * len(SPARK)) - 1))]
