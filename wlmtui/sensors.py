"""Turn two raw counter samples into rates (pure; no I/O, no clock)."""

from __future__ import annotations

from wlmtui.observation import (
    ClassMeasure,
    CgroupCounters,
    Observation,
    PressureLine,
    RawSample,
    SystemPressure,
)

# Below this much CPU time plus stall in an interval a class counts as idle.
IDLE_US_PER_S = 1000.0


def _delta(cur: int, prev: int) -> int:
    # Counters only grow; a smaller value means the cgroup was recreated.
    return cur - prev if cur >= prev else cur


#: What :func:`class_measure` gives a class whose counters did not move and
#: that reported nothing (any ``dt > 0``): one shared object each, so that
#: the engine can tell a quiet class by identity (``m is QUIET``).
QUIET = ClassMeasure(usage=0.0, cpu_stall=0.0, cpu_full=0.0, mem_stall=0.0, io_stall=0.0, velocity=None)
QUIET_NO_FULL = ClassMeasure(usage=0.0, cpu_stall=0.0, cpu_full=None, mem_stall=0.0, io_stall=0.0, velocity=None)
#: ... and one whose cgroup is missing and that reported nothing
MISSING = ClassMeasure(present=False)
QUIET_MEASURES = (QUIET, QUIET_NO_FULL, MISSING)


def class_measure(prev: CgroupCounters | None, cur: CgroupCounters | None, dt: float,
                  rt: tuple[float, ...] = (), completions: int | None = None, failed: int = 0) -> ClassMeasure:
    if not rt and not completions and not failed:
        if cur is None:
            return MISSING
        if dt > 0 and (cur is prev or cur == prev):  # nothing moved: every rate is 0, whatever dt
            return QUIET if cur.cpu_full_us is not None else QUIET_NO_FULL
    done = len(rt) if completions is None else max(completions, len(rt))
    if cur is None:
        return ClassMeasure(present=False, rt_samples=rt, completions=done, failed=failed)
    if prev is None or dt <= 0:
        return ClassMeasure(rt_samples=rt, completions=done, failed=failed)
    d_use = _delta(cur.usage_us, prev.usage_us)
    d_cpu = _delta(cur.cpu_some_us, prev.cpu_some_us)
    d_mem = _delta(cur.mem_some_us, prev.mem_some_us)
    d_io = _delta(cur.io_some_us, prev.io_some_us)
    wall_us = dt * 1e6
    busy = d_use + d_cpu + d_mem + d_io
    velocity = 100.0 * d_use / busy if busy > IDLE_US_PER_S * dt and d_use > 0 else None
    if busy > IDLE_US_PER_S * dt and d_use == 0:
        velocity = 0.0
    return ClassMeasure(
        usage=d_use / wall_us,
        cpu_stall=min(1.0, d_cpu / wall_us),
        cpu_full=None if cur.cpu_full_us is None or prev.cpu_full_us is None
        else min(1.0, _delta(cur.cpu_full_us, prev.cpu_full_us) / wall_us),
        mem_stall=min(1.0, d_mem / wall_us),
        io_stall=min(1.0, d_io / wall_us),
        velocity=velocity,
        rt_samples=rt,
        completions=done,
        failed=failed,
    )


def system_pressure(prev: PressureLine | None, cur: PressureLine, dt: float) -> SystemPressure:
    if prev is None or dt <= 0:
        return SystemPressure(some=cur.some_avg[0] / 100, full=None if cur.full_avg is None else cur.full_avg[0] / 100,
                              avg=cur.some_avg)
    full = None
    if cur.full_total_us is not None and prev.full_total_us is not None:
        full = min(1.0, _delta(cur.full_total_us, prev.full_total_us) / (dt * 1e6))
    return SystemPressure(
        some=min(1.0, _delta(cur.some_total_us, prev.some_total_us) / (dt * 1e6)),
        full=full,
        avg=cur.some_avg,
    )


def derive(prev: RawSample | None, cur: RawSample) -> Observation:
    """Rates over ``cur.t - prev.t``; the first sample yields idle measures."""
    dt = cur.t - prev.t if prev is not None else 0.0
    if prev is not None and dt > 0 and not cur.transactions and not cur.completions and not cur.failed:
        # nothing reported this interval (the usual case): only the counters can make a class busy
        before = prev.classes.get
        classes = {}
        for name, counters in cur.classes.items():
            old = before(name)
            if counters is None:
                classes[name] = MISSING
            elif old is counters or old == counters:
                classes[name] = QUIET if counters.cpu_full_us is not None else QUIET_NO_FULL
            else:
                classes[name] = class_measure(old, counters, dt)
    else:
        classes = {
            name: class_measure(prev.classes.get(name) if prev else None, counters, dt,
                                tuple(cur.transactions.get(name, ())), cur.completions.get(name),
                                cur.failed.get(name, 0))
            for name, counters in cur.classes.items()
        }
    system = {
        res: system_pressure(prev.system.get(res) if prev else None, line, dt)
        for res, line in cur.system.items()
    }
    return Observation(dt=dt, classes=classes, system=system, errors=cur.errors)
