"""The engine's idle skip gives exactly what the full computation gives.

Two engines run in lockstep on the same observations — one with
``skip_unchanged`` (the default), one without — over random sequences of
quiet stretches (counters unmoved), busy ticks, response times, missing
cgroups, jittered intervals, pins, pauses and policy edits. Every decision
must be equal, field by field, and the skip must actually have been taken.
"""

from __future__ import annotations

import random
from dataclasses import replace

from wlmtui.engine import Engine
from wlmtui.observation import CgroupCounters, Observation
from wlmtui.policy import parse_policy
from wlmtui.sensors import QUIET, QUIET_NO_FULL, MISSING, class_measure

POLICY = """
interval: 50ms
service_classes:
  - {name: web, cgroup: web, importance: 1, goal: {type: response_time, target: 100ms, percentile: 95}}
  - {name: api, cgroup: api, importance: 2, goal: {type: velocity, target: 40}}
  - {name: etl, cgroup: etl, importance: 3, goal: {type: velocity, target: 20}}
  - {name: feed, cgroup: feed, importance: 3, goal: {type: throughput, target: 5/s}}
  - {name: scav, cgroup: scav, goal: {type: discretionary}, min_weight: 10}
  - {name: idle, cgroup: idle, goal: {type: discretionary}}
"""


def _counters(rng: random.Random, prev: CgroupCounters | None, busy: bool, full: bool) -> CgroupCounters:
    if prev is None:
        return CgroupCounters(1000, 10, 5 if full else None, 0, 0, 0, 0)
    if not busy:
        return CgroupCounters(*(getattr(prev, f) for f in prev.__slots__))  # equal, not the same object
    step = lambda lo, hi: rng.randint(lo, hi)  # noqa: E731
    return CgroupCounters(prev.usage_us + step(0, 60000), prev.cpu_some_us + step(0, 30000),
                          None if prev.cpu_full_us is None else prev.cpu_full_us + step(0, 20000),
                          prev.mem_some_us + step(0, 2000), prev.mem_full_us, prev.io_some_us + step(0, 2000),
                          prev.io_full_us)


def _run(seed: int, ticks: int = 400) -> tuple[int, int]:
    rng = random.Random(seed)
    policy = parse_policy(POLICY)
    names = policy.names()
    fast, slow = Engine(policy), Engine(policy, skip_unchanged=False)
    full = rng.random() < 0.5
    prev: dict[str, CgroupCounters | None] = {n: None for n in names}
    now = 0.0
    quiet, left = False, 0
    compared = 0
    for _tick in range(ticks):
        dt = 0.05 * rng.uniform(0.8, 1.2)
        now += dt
        if left <= 0:  # alternate long quiet stretches with short busy ones
            quiet = not quiet
            left = rng.randint(20, 80) if quiet else rng.randint(1, 8)
        left -= 1
        classes = {}
        for n in names:
            busy = not quiet and rng.random() < 0.6
            gone = rng.random() < 0.003
            cur = None if gone else _counters(rng, prev[n], busy, full)
            rt = tuple(rng.uniform(0.01, 0.3) for _ in range(rng.randint(0, 8))) if busy and n == "web" else ()
            done = rng.randint(1, 10) if busy and n == "feed" else None
            classes[n] = class_measure(prev[n], cur, dt, rt, done)
            prev[n] = cur
        obs = Observation(dt=dt, classes=classes)
        # operator actions, sometimes
        r = rng.random()
        if r < 0.01:
            weight = rng.choice([50, 200, None])
            for e in (fast, slow):
                e.pin("etl", weight)
        elif r < 0.02:
            flag = not fast.paused
            fast.paused = slow.paused = flag
        elif r < 0.025:
            edited = policy.with_class(replace(policy.get("api"), importance=rng.choice([1, 2, 4])))
            policy = edited
            fast.set_policy(edited)
            slow.set_policy(edited)
        a, b = fast.tick(obs, now), slow.tick(obs, now)
        assert a == b, f"seed {seed}, tick {_tick}: skip gave a different decision"
        compared += 1
    return fast.skipped, compared


def test_skip_equals_full_computation():
    skipped = 0
    for seed in range(25):
        s, n = _run(seed)
        assert n == 400
        skipped += s
    assert skipped > 25 * 40  # quiet stretches were actually skipped (the rest: windows, relaxing)


def test_quiet_measures_are_shared_and_equal_to_the_computed_ones():
    a = CgroupCounters(5, 6, 7, 8, 9, 10, 11)
    b = CgroupCounters(5, 6, 7, 8, 9, 10, 11)
    assert class_measure(a, b, 0.05) is QUIET
    nf = CgroupCounters(5, 6, None, 8, 9, 10, 11)
    assert class_measure(nf, CgroupCounters(5, 6, None, 8, 9, 10, 11), 0.05) is QUIET_NO_FULL
    assert class_measure(a, None, 0.05) is MISSING
    # the shared objects hold what the general path computes for zero deltas
    moved = CgroupCounters(5, 6, 7, 8, 9, 10, 12)  # io full moved: not used by rates, general path
    general = class_measure(a, moved, 0.05)
    assert general is not QUIET and general == QUIET
    # anything reported is not quiet
    assert class_measure(a, b, 0.05, (0.1,)) is not QUIET
    assert class_measure(a, b, 0.05, (), 3).completions == 3
    assert class_measure(None, a, 0.0) is not QUIET  # first sample: no interval yet


def test_pin_and_unquiet_end_the_skip():
    policy = parse_policy(POLICY)
    e = Engine(policy)
    quiet = {n: QUIET for n in policy.names()}
    for t in range(1, 5):
        e.tick(Observation(dt=0.05, classes=quiet), t * 0.05)
    assert e.skipped >= 2
    before = e.skipped
    e.pin("api", 300)
    d = e.tick(Observation(dt=0.05, classes=quiet), 0.3)
    assert e.skipped == before and d.get("api").weight == 300 and d.get("api").pinned


def test_derive_fast_path_equals_class_measure_per_class():
    from wlmtui.observation import RawSample
    from wlmtui.sensors import derive

    rng = random.Random(7)
    names = [f"c{i}" for i in range(30)]
    prev = RawSample(t=1.0, classes={n: CgroupCounters(100, 5, 3, 0, 0, 0, 0) for n in names})
    for _ in range(50):
        classes = {}
        for n in names:
            old = prev.classes[n]
            r = rng.random()
            classes[n] = (None if r < 0.1 else old if r < 0.4 else
                          CgroupCounters(*(getattr(old, f) for f in old.__slots__)) if old is not None and r < 0.6
                          else _counters(rng, old, True, rng.random() < 0.5))
        cur = RawSample(t=prev.t + rng.uniform(0.04, 0.06), classes=classes)
        obs = derive(prev, cur)
        dt = cur.t - prev.t
        assert obs.classes == {n: class_measure(prev.classes.get(n), c, dt, (), None, 0) for n, c in classes.items()}
        prev = cur
