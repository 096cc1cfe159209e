"""What the sensors hand to the decision core.

A backend produces a :class:`RawSample` of cumulative kernel counters; the
pure :func:`wlmtui.sensors.derive` turns two consecutive samples into an
:class:`Observation` of rates over the real elapsed ``dt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

RESOURCES = ("cpu", "memory", "io")


@dataclass(frozen=True, slots=True)
class PressureLine:
    """One pressure file (``some`` and, where the kernel has it, ``full``)."""

    some_total_us: int
    full_total_us: int | None = None
    some_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # avg10, avg60, avg300 in %
    full_avg: tuple[float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class CgroupCounters:
    """Cumulative counters of one class's cgroup at one instant (µs)."""

    usage_us: int
    cpu_some_us: int = 0
    cpu_full_us: int | None = 0  # None: this kernel has no cgroup cpu "full" line
    mem_some_us: int = 0
    mem_full_us: int = 0
    io_some_us: int = 0
    io_full_us: int = 0


@dataclass(frozen=True, slots=True)
class RawSample:
    """Everything read in one sensing pass.

    ``classes`` maps a class name to its counters, or ``None`` when its
    cgroup is missing. ``transactions`` holds response times (seconds) of
    work completed since the previous sample, where the host knows them
    (the simulated host does; real hosts need transaction reporting).
    """

    t: float
    classes: Mapping[str, CgroupCounters | None]
    system: Mapping[str, PressureLine] = field(default_factory=dict)
    transactions: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    completions: Mapping[str, int] = field(default_factory=dict)  # good completions, when more than sampled
    failed: Mapping[str, int] = field(default_factory=dict)  # aborted / failed transactions
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClassMeasure:
    """Rates for one class over one interval."""

    present: bool = True
    usage: float = 0.0  # cores
    cpu_stall: float = 0.0  # fraction of wall time with some task stalled on CPU
    cpu_full: float | None = 0.0  # fraction with *every* task of the class stalled (None: not reported)
    mem_stall: float = 0.0
    io_stall: float = 0.0
    velocity: float | None = None  # None: idle, nothing to judge
    rt_samples: tuple[float, ...] = ()  # response times (s) completed this interval
    completions: int = 0  # good completions this interval (≥ len(rt_samples))
    failed: int = 0  # aborted or failed transactions this interval

    @property
    def idle(self) -> bool:
        return self.velocity is None

    def delay_shares(self) -> dict[str, float]:
        """Why the class waits: each resource's share of its stall time.

        CPU stall is what weights can fix; memory and I/O stall they cannot.
        Empty when the class did not stall at all.
        """
        total = self.cpu_stall + self.mem_stall + self.io_stall
        if total <= 0:
            return {}
        return {"cpu": self.cpu_stall / total, "memory": self.mem_stall / total, "io": self.io_stall / total}


@dataclass(frozen=True, slots=True)
class SystemPressure:
    """System-wide pressure for one resource: this interval and kernel averages."""

    some: float  # fraction over this interval
    full: float | None
    avg: tuple[float, float, float]  # kernel avg10/60/300 (%)


@dataclass(frozen=True, slots=True)
class Observation:
    dt: float
    classes: Mapping[str, ClassMeasure]
    system: Mapping[str, SystemPressure] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
