"""The performance index (PI): 1.0 on goal, above 1 missing, below 1 beating.

Pure functions of a class's goal and what was measured. Every PI comes with
its *source* so the console can say whether it rests on measured response
times, velocity, completions, the PSI proxy, or a token projection.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from wlmtui.observation import ClassMeasure
from wlmtui.policy import DISCRETIONARY_PI, ServiceClass

PI_FLOOR, PI_CEIL = 0.01, 100.0
#: below this many completed transactions in the window, fall back to PSI
MIN_SAMPLES = 5
#: how far back measured response times count (seconds)
RT_WINDOW_S = 3.0


class Performance(NamedTuple):
    pi: float | None  # None: idle or no data — the controller holds
    source: str  # "rt-measured", "psi-proxy", "velocity", "completions", "token", "fixed", "idle", "missing"
    measured: float | None = None  # in the goal's unit: seconds, velocity, completions/s, tokens
    detail: str = ""
    distribution: "Distribution | None" = None  # response times, when measured


@dataclass(frozen=True, slots=True)
class Distribution:
    """Measured response times behind a PI: percentiles and z/OS buckets."""

    count: int
    p50: float
    p95: float
    p99: float
    goal: float  # seconds
    buckets: tuple[int, ...]  # completions per bucket, edges in BUCKETS (+ one beyond)
    bucket_pi: float | None = None  # z/OS's bucket PI of the goal's percentile (display only)

    @classmethod
    def of(cls, values: list[float], goal: float, pct: float | None = None) -> "Distribution":
        return cls(len(values), percentile(values, 50), percentile(values, 95), percentile(values, 99),
                   goal, tuple(bucket_counts(values, goal)), bucket_pi(values, goal, pct) if pct else None)

    def to_json(self) -> dict:
        return {"count": self.count, "p50": self.p50, "p95": self.p95, "p99": self.p99,
                "bucket_pi": self.bucket_pi,
                "buckets": dict(zip([f"<={int(e * 100)}%" for e in BUCKETS] + [">400%"], self.buckets))}


def clamp_pi(pi: float) -> float:
    if math.isnan(pi):
        return PI_CEIL
    return min(PI_CEIL, max(PI_FLOOR, pi))


#: z/OS response-time buckets, as fractions of the goal (the last is open-ended)
BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 2.0, 4.0)


def bucket_counts(values: list[float], goal: float) -> list[int]:
    """Completions per bucket (``len(BUCKETS) + 1`` counts, the last beyond 400 %)."""
    counts = [0] * (len(BUCKETS) + 1)
    for v in values:
        ratio = v / goal
        for i, edge in enumerate(BUCKETS):
            if ratio <= edge:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return counts


def bucket_pi(values: list[float], goal: float, pct: float) -> float:
    """The percentile PI by z/OS's method: the upper edge (as a fraction of the
    goal) of the bucket in which the ``pct``-th percentile completion falls.
    Beyond the last bucket the exact ratio is used, so severity still shows."""
    counts = bucket_counts(values, goal)
    need = pct / 100.0 * len(values)
    running = 0
    for edge, count in zip(BUCKETS, counts):
        running += count
        if running >= need:
            return edge
    return max(BUCKETS[-1], percentile(values, pct) / goal)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


class ResponseWindow:
    """Response times completed over the last :data:`RT_WINDOW_S` seconds."""

    def __init__(self, horizon: float = RT_WINDOW_S):
        self.horizon = horizon
        self._ticks: deque[tuple[float, tuple[float, ...], int]] = deque()

    def add(self, now: float, samples: Iterable[float], completions: int | None = None) -> None:
        samples = tuple(samples)
        self._ticks.append((now, samples, len(samples) if completions is None else max(completions, len(samples))))
        while self._ticks and self._ticks[0][0] <= now - self.horizon:
            self._ticks.popleft()

    def values(self) -> list[float]:
        return [v for _, vs, _ in self._ticks for v in vs]

    def ticks(self) -> int:
        return len(self._ticks)

    def rate(self, dt: float) -> float | None:
        """Completions per second over the window (None: none completed)."""
        done = sum(n for _, _, n in self._ticks)
        return done / (len(self._ticks) * dt) if done and dt > 0 else None


def _psi_proxy(cls: ServiceClass, m: ClassMeasure, why: str) -> Performance:
    """PI from CPU pressure: the time *all* the class's runnable tasks waited
    (``full``) where the kernel reports it, else the time *some* waited."""
    if m.idle:
        return Performance(None, "idle", detail="no CPU demand this interval")
    stall, kind = (m.cpu_full, "full") if m.cpu_full is not None else (m.cpu_stall, "some")
    return Performance(
        clamp_pi(stall / cls.psi_threshold), "psi-proxy", stall,
        f"cpu stall ({kind}) {stall:.1%} vs threshold {cls.psi_threshold:.1%}{why}",
    )


def performance(cls: ServiceClass, m: ClassMeasure | None, rt_values: list[float] | None = None,
                dt: float = 0.0, token_pi: float | None = None) -> Performance:
    """The PI of one class for this interval."""
    goal = cls.goal
    if goal.type == "token":
        if token_pi is None:
            return Performance(None, "token", detail="no budget data yet")
        return Performance(clamp_pi(token_pi), "token", detail="projected / budget")
    if m is not None and not m.present:
        return Performance(None, "missing", detail="cgroup missing")
    if goal.type == "discretionary":
        return Performance(DISCRETIONARY_PI, "fixed", detail="discretionary: always a donor")
    if m is None:
        return Performance(None, "missing", detail="cgroup missing")
    if goal.type == "velocity":
        if m.velocity is None:
            return Performance(None, "idle", detail="no CPU demand this interval")
        pi = goal.value / m.velocity if m.velocity > 0 else PI_CEIL
        return Performance(clamp_pi(pi), "velocity", m.velocity, f"velocity {m.velocity:.0f} vs goal {goal.value:g}")
    if goal.type == "response_time":
        values = rt_values or []
        if len(values) >= MIN_SAMPLES:
            if goal.percentile:
                # control runs on the percentile itself over the goal (continuous);
                # the z/OS bucket PI is kept for display (Distribution.bucket_pi)
                measured = percentile(values, goal.percentile)
                pi = measured / goal.value
                label = f"p{goal.percentile:g}"
            else:
                measured = sum(values) / len(values)
                pi = measured / goal.value
                label = "avg"
            return Performance(clamp_pi(pi), "rt-measured", measured,
                               f"{label} {measured * 1000:.0f}ms of {len(values)} vs goal {goal.value * 1000:.0f}ms",
                               Distribution.of(values, goal.value, goal.percentile))
        return _psi_proxy(cls, m, f" (only {len(values)} transactions)" if values else "")
    if goal.type == "throughput":
        if m.completions and dt > 0:
            rate = m.completions / dt
            return Performance(clamp_pi(goal.value / rate), "completions", rate,
                               f"{rate:.2f}/s vs goal {goal.value:.2f}/s")
        return _psi_proxy(cls, m, " (no completions reported)")
    raise ValueError(f"unknown goal type {goal.type!r}")
