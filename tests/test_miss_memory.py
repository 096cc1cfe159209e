"""The engine remembers the CPU share at which a class began to miss its goal,
and relaxation toward base does not walk the class back below it (plus a
margin) while that memory lasts.

Both classes have velocity goals here, so each tick's PI is chosen exactly
by the velocity the test reports (PI = target / velocity)."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from wlmtui.arbiter import MISS_MARGIN
from wlmtui.engine import MISS_MEMORY_HALF_LIFE_S, Engine
from wlmtui.observation import ClassMeasure, Observation
from wlmtui.policy import parse_policy

POLICY = textwrap.dedent("""
    interval: 1s
    backend: sim
    service_classes:
      - name: web
        cgroup: t/web
        goal: {type: velocity, target: 50}
        importance: 1
        min_weight: 10
        base_weight: 100
        max_weight: 1000
      - name: batch
        cgroup: t/batch
        goal: {type: velocity, target: 20}
        importance: 4
        min_weight: 10
        base_weight: 100
        max_weight: 1000
""")


def obs(web_pi: float, batch_pi: float = 0.5) -> Observation:
    return Observation(dt=1.0, classes={
        "web": ClassMeasure(usage=0.5, velocity=50 / web_pi),
        "batch": ClassMeasure(usage=0.5, velocity=20 / batch_pi),
    })


def share(d) -> float:
    web, batch = d.get("web").weight, d.get("batch").weight
    return web / (web + batch)


@pytest.fixture
def engine() -> Engine:
    return Engine(parse_policy(POLICY))


def test_the_share_where_a_miss_begins_is_remembered_not_the_later_ticks(engine):
    first = engine.tick(obs(0.7), now=0.0)
    assert first.get("web").guard_share == 0.0  # never missed
    onset = engine.tick(obs(1.3), now=1.0)  # misses at 100:100, share 0.5
    assert onset.get("web").role == "receiver" and onset.get("web").weight > 100
    later = engine.tick(obs(1.3), now=2.0)  # still missing, at a higher share
    assert later.get("web").guard_share == pytest.approx(0.5 * (1 + MISS_MARGIN), rel=0.01)
    assert later.get("batch").guard_share == 0.0


def test_relaxation_stops_at_the_guard_share(engine):
    engine.tick(obs(1.3), now=0.0)
    for t in range(1, 4):
        d = engine.tick(obs(1.3), now=float(t))
    assert share(d) > 0.8
    guard = 0.5 * (1 + MISS_MARGIN)
    shares, reasons = [], []
    for t in range(4, 80):  # every goal met, web beating modestly: weights relax
        d = engine.tick(obs(0.8), now=float(t))
        shares.append(share(d))
        reasons.append(d.get("batch").reason)
    faded = guard * 0.5 ** (80 / MISS_MEMORY_HALF_LIFE_S)
    assert min(shares) >= faded - 0.01  # never below the (slowly fading) guard
    assert shares[-1] < 0.7  # but it did relax down to it
    assert any("web keeps CPU share" in r for r in reasons)

    fresh = Engine(parse_policy(POLICY), weights={"web": d.get("web").weight, "batch": d.get("batch").weight})
    for t in range(80):  # the same ticks without the memory: back to base 100:100
        f = fresh.tick(obs(0.8), now=float(t))
    assert share(f) == pytest.approx(0.5, abs=0.01)


def test_the_memory_fades_with_its_half_life(engine):
    engine.tick(obs(1.3), now=0.0)
    now = engine.tick(obs(1.3), now=1.0).get("web").guard_share
    later = engine.tick(obs(0.8), now=1.0 + MISS_MEMORY_HALF_LIFE_S).get("web").guard_share
    assert later == pytest.approx(now / 2, rel=0.01)


def test_a_class_far_beating_its_goal_near_its_guard_forgets_the_miss(engine):
    engine.tick(obs(1.3), now=0.0)  # miss at share 0.5: guard 0.625
    engine.pin("web", 130)  # 130:100 = share 0.565, near the guard
    engine.pin("web", None)
    kept = engine.tick(obs(0.8), now=1.0)
    assert kept.get("web").guard_share > 0.6  # beating modestly: the memory holds
    gone = engine.tick(obs(0.4), now=2.0)  # the load that made it miss is gone
    assert gone.get("web").guard_share == 0.0
    assert gone.get("web").role == "relax" and gone.get("web").weight < 130


def test_a_new_goal_forgets_the_old_goals_miss(engine):
    engine.tick(obs(1.3), now=0.0)
    assert engine.tick(obs(0.8), now=1.0).get("web").guard_share > 0
    policy = engine.policy
    web = policy.get("web")
    engine.set_policy(replace(policy, classes=tuple(
        replace(c, goal=replace(c.goal, value=40.0)) if c is web else c for c in policy.classes)))
    assert engine.tick(obs(0.8), now=2.0).get("web").guard_share == 0.0


def test_a_more_important_donor_keeps_its_guard_share(engine):
    """Batch (imp 4) misses while web beats: web donates, but not below its guard."""
    for t in range(4):
        d = engine.tick(obs(1.3), now=float(t))  # web's guard: 0.625; web climbs well above it
    before = share(d)
    assert before > 0.8
    shares = []
    for t in range(4, 40):
        d = engine.tick(obs(0.7, batch_pi=3.0), now=float(t))
        shares.append(share(d))
    assert shares[0] < before  # web did give
    assert min(shares) >= 0.5 * (1 + MISS_MARGIN) * 0.5 ** (40 / MISS_MEMORY_HALF_LIFE_S) - 0.01
    assert d.get("batch").reason == "missing (PI 3.00), no donor can give"
