"""SIMULATED host: a small fluid model of a CPU-contended Linux machine.

This is not a kernel. It exists so that ``wlmtui --demo``, the tests and
machines without cgroup access can watch the whole loop move. Each class has
a CPU demand curve (cores over time, from the policy's ``simulate:`` block);
weights split ``simulation.cpus`` cores by weighted max-min fairness (as the
kernel's fair scheduler does under contention); unmet demand queues up as
backlog, shows as CPU stall (PSI ``some``), and lengthens response times
(an M/M/1-style queue per class: mean ``service / (1 − utilisation)`` plus
the time to drain the backlog). Deterministic for a seed; one sample costs
tens of microseconds.

Token classes with ``tokens_per_min`` get a simulated agent that appends
counter lines to the class's ``counter_file`` and, like a well-behaved
agent, spends nothing while its signal file says red or black.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from typing import Callable, Mapping

from wlmtui.backends.base import ActuatorError, Backend
from wlmtui.observation import CgroupCounters, PressureLine, RawSample
from wlmtui.policy import Policy, SimSpec

#: response-time samples reported per class per sample (a random subset)
MAX_SAMPLES = 64
#: CPU stall a busy host inflicts even on a class that gets all it asks for
CONTENTION_STALL = 0.04


def step_value(steps: tuple[tuple[float, float], ...], t: float, period: float | None = None) -> float:
    """The value of a step curve at simulated second ``t`` (optionally periodic)."""
    if period:
        t = t % period
    value = steps[0][1]
    for start, v in steps:
        if t < start:
            break
        value = v
    return value


def water_fill(demand: Mapping[str, float], weight: Mapping[str, float], capacity: float) -> dict[str, float]:
    """Weighted max-min fair allocation of ``capacity`` cores."""
    alloc = {n: 0.0 for n in demand}
    active = {n for n, d in demand.items() if d > 0}
    left = capacity
    while active and left > 1e-12:
        total_w = sum(weight[n] for n in active)
        share = {n: left * weight[n] / total_w for n in active}
        satisfied = {n for n in active if demand[n] - alloc[n] <= share[n]}
        if not satisfied:
            for n in active:
                alloc[n] += share[n]
            break
        for n in satisfied:
            left -= demand[n] - alloc[n]
            alloc[n] = demand[n]
        active -= satisfied
    return alloc


def _blocked(signal_file: str | None) -> bool:
    """Whether a simulated agent must hold back (its signal is red or black)."""
    if not signal_file:
        return False
    try:
        with open(signal_file, encoding="utf-8") as fh:
            return json.load(fh).get("signal") in ("red", "black")
    except (OSError, ValueError, AttributeError):
        return False


@dataclass(slots=True)
class _SimClass:
    spec: SimSpec
    weight: int
    usage_us: float = 0.0
    stall_us: float = 0.0
    full_us: float = 0.0
    backlog: float = 0.0  # core-seconds of queued work
    present: bool = True
    counter_file: str | None = None
    signal_file: str | None = None
    tokens_owed: float = 0.0


class SimHost(Backend):
    kind = "sim"

    def __init__(self, policy: Policy, wall: Callable[[], float] | None = None):
        import time

        self.policy = policy
        self.cpus = policy.sim_cpus
        self.rng = random.Random(policy.sim_seed)
        self.wall = wall or time.time
        self.label = f"simulated host ({self.cpus:g} CPUs, seed {policy.sim_seed})"
        self.t0: float | None = None
        self.last: float | None = None
        self.sys_some_us = 0.0
        self.sys_full_us = 0.0
        self.classes: dict[str, _SimClass] = {}
        self._cgroups: dict[str, str] = {}

    # -- Backend --------------------------------------------------------------
    def attach(self, cgroups: Mapping[str, str], *, create: bool = True) -> list[str]:
        self._cgroups = dict(cgroups)
        old = self.classes
        self.classes = {}
        for cls in self.policy.classes:
            if cls.name not in cgroups and not (cls.is_token and cls.simulate):
                continue
            keep = old.get(cls.name)
            spec = cls.simulate or SimSpec()
            if keep is not None:
                keep.spec = spec
                self.classes[cls.name] = keep
            else:
                self.classes[cls.name] = _SimClass(spec=spec, weight=cls.base_weight, counter_file=cls.counter_file,
                                                   signal_file=cls.signal_file)
        return []

    def set_policy(self, policy: Policy) -> None:
        self.policy = policy

    def sample(self, now: float) -> RawSample:
        if self.t0 is None:
            self.t0 = self.last = now
        dt = max(0.0, now - self.last)
        self.last = now
        transactions = self._advance(now - self.t0 - dt / 2, dt) if dt > 0 else {}  # demand at mid-interval
        counters = {
            name: (CgroupCounters(usage_us=int(c.usage_us), cpu_some_us=int(c.stall_us), cpu_full_us=int(c.full_us))
                   if c.present else None)
            for name, c in self.classes.items() if name in self._cgroups
        }
        system = {
            "cpu": PressureLine(int(self.sys_some_us), int(self.sys_full_us)),
            "memory": PressureLine(0, 0),
            "io": PressureLine(0, 0),
        }
        return RawSample(t=now, classes=counters, system=system,
                         transactions={n: v for n, (v, _) in transactions.items()},
                         completions={n: k for n, (_, k) in transactions.items()})

    def read_weight(self, name: str) -> int | None:
        c = self.classes.get(name)
        return c.weight if c else None

    def set_weight(self, name: str, weight: int) -> None:
        c = self.classes.get(name)
        if c is None or not c.present:
            raise ActuatorError(f"{name}: simulated cgroup is gone")
        c.weight = int(weight)

    # -- simulation controls (tests, demo) ------------------------------------
    def remove_cgroup(self, name: str) -> None:
        """Make a class's cgroup vanish, as ``rmdir`` would on a real host."""
        self.classes[name].present = False

    # -- the model ------------------------------------------------------------
    def _advance(self, t: float, dt: float) -> dict[str, tuple[tuple[float, ...], int]]:
        live = {n: c for n, c in self.classes.items() if c.present and n in self._cgroups}
        demand = {n: step_value(c.spec.demand, t, c.spec.period) for n, c in live.items()}
        # queued work is worked off within about a second when CPU allows
        want = {n: demand[n] + c.backlog / 1.0 for n, c in live.items()}
        alloc = water_fill(want, {n: float(c.weight) for n, c in live.items()}, self.cpus)
        busy = sum(alloc.values()) / self.cpus if self.cpus else 0.0
        weights = {n: float(c.weight) for n, c in live.items()}
        any_waiting = False
        transactions: dict[str, tuple[tuple[float, ...], int]] = {}
        for n, c in live.items():
            a, w = alloc[n], want[n]
            c.usage_us += a * dt * 1e6
            c.backlog = max(0.0, c.backlog + (demand[n] - a) * dt)
            waiting = w - a > 1e-9
            any_waiting |= waiting
            stall = (1.0 - a / w) if waiting and w > 0 else (CONTENTION_STALL * busy if a > 0 else 0.0)
            c.stall_us += min(1.0, stall) * dt * 1e6
            c.full_us += min(1.0, stall) * dt * 1e6  # the model treats a class as one queue: full = some
            if demand[n] > 0 and c.spec.service_ms > 0:
                # the capacity this class could use: its share were it insatiable
                cap = water_fill({**want, n: self.cpus}, weights, self.cpus)[n]
                transactions[n] = self._responses(c, demand[n], cap, dt)
        if any_waiting:
            self.sys_some_us += busy * dt * 1e6
        self._agents(t, dt)
        return transactions

    def _responses(self, c: _SimClass, demand: float, capacity: float, dt: float) -> tuple[tuple[float, ...], int]:
        """Response times of a random subset of this interval's completions, and their count."""
        service = c.spec.service_ms / 1000.0
        if demand <= 0 or service <= 0:
            return (), 0
        rate = demand / service  # requests per second
        count = self._poisson(rate * dt)
        if count == 0:
            return (), 0
        util = min(0.98, demand / capacity) if capacity > 0 else 0.98
        mean = service / (1.0 - util) + (c.backlog / capacity if capacity > 0 else 10.0)
        return tuple(self.rng.expovariate(1.0 / mean) for _ in range(min(count, MAX_SAMPLES))), count

    def _poisson(self, lam: float) -> int:
        if lam > 30:
            return max(0, int(round(self.rng.gauss(lam, math.sqrt(lam)))))
        limit, k, p = math.exp(-lam), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def _agents(self, t: float, dt: float) -> None:
        for name, c in self.classes.items():
            rate = step_value(c.spec.tokens_per_min, t, c.spec.period)
            if rate <= 0 or not c.counter_file or _blocked(c.signal_file):
                continue
            c.tokens_owed += rate / 60.0 * dt
            if c.tokens_owed < 1:
                continue
            tokens = int(c.tokens_owed)
            c.tokens_owed -= tokens
            line = json.dumps({"ts": round(self.wall(), 3), "class": name, "agent": "sim-agent",
                               "model": "sim", "tokens": tokens}) + "\n"
            try:
                os.makedirs(os.path.dirname(os.path.abspath(c.counter_file)), exist_ok=True)
                fd = os.open(c.counter_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError:
                pass  # a simulated agent that cannot write just spends nothing
