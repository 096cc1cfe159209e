"""The control scenario on the SIMULATED host: an interactive class and busy
batch loops on one CPU; the loop must move weight to interactive."""

from __future__ import annotations

import textwrap
import time

from wlmtui.backends.sim import SimHost, step_value, water_fill
from wlmtui.commands import Pause, Pin, UpdateClass
from wlmtui.policy import parse_policy
from dataclasses import replace

from loop_util import sim_loop, ticks

SCENARIO = textwrap.dedent("""
    interval: 1s
    simulation: {cpus: 1, seed: 3}
    service_classes:
      - name: interactive
        cgroup: t/interactive
        goal: {type: response_time, target: 100ms, percentile: 95}
        importance: 1
        min_weight: 10
        max_weight: 1000
        simulate: {demand: 0.6, service_ms: 10}
      - name: batch
        cgroup: t/batch
        goal: {type: velocity, target: 20}
        importance: 4
        min_weight: 20
        max_weight: 1000
        simulate: {demand: 3}
""")


def test_water_fill_is_weighted_max_min_fair():
    alloc = water_fill({"a": 0.2, "b": 5, "c": 5}, {"a": 100, "b": 100, "c": 300}, 2.0)
    assert alloc["a"] == 0.2
    assert abs(alloc["b"] - 0.45) < 1e-9 and abs(alloc["c"] - 1.35) < 1e-9


def test_step_curves_repeat_with_period():
    steps = ((0.0, 1.0), (10.0, 2.0))
    assert step_value(steps, 5) == 1.0 and step_value(steps, 15) == 2.0
    assert step_value(steps, 65, period=60) == 1.0


def test_interactive_gains_weight_and_cpu_share_batch_stays_above_min():
    loop, clock = sim_loop(parse_policy(SCENARIO))
    first = ticks(loop, clock, 1)[0]
    before = first.decision.get("interactive")
    assert before.status == "missing"  # equal weights: 0.5 core for a 0.6-core demand
    snaps = ticks(loop, clock, 20)
    batch_weights = [s.decision.get("batch").weight for s in snaps]
    last = snaps[-1].decision.get("interactive")
    assert before.old_weight == 100 and last.weight > 200
    assert last.measure.usage > before.measure.usage + 0.05
    assert min(batch_weights) >= 20
    assert sum(s.decision.get("interactive").status != "missing" for s in snaps[-10:]) >= 8
    assert any("donor to interactive" in s.decision.get("batch").reason for s in snaps)


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        loop, clock = sim_loop(parse_policy(SCENARIO))
        runs.append([(s.decision.get("interactive").pi, s.decision.get("batch").weight) for s in ticks(loop, clock, 15)])
    assert runs[0] == runs[1]


def test_sim_host_is_fast_enough_for_ten_thousand_ticks():
    host = SimHost(parse_policy(SCENARIO))
    host.attach({"interactive": "t/interactive", "batch": "t/batch"})
    started = time.process_time()
    for i in range(2000):
        host.sample(i * 0.001)
    # a sanity bound only (10x the target); real figures are in bench/
    assert time.process_time() - started < 2.0


def test_pause_observes_only_and_resume_continues():
    loop, clock = sim_loop(parse_policy(SCENARIO))
    loop.send(Pause(True))
    snaps = ticks(loop, clock, 5)
    assert all(s.decision.get("interactive").weight == 100 for s in snaps)
    assert "paused (would be" in snaps[-1].decision.get("interactive").reason
    assert snaps[0].events[0].text == "control paused: observing only"
    loop.send(Pause(False))
    assert ticks(loop, clock, 3)[-1].decision.get("interactive").weight > 100


def test_pin_holds_weight_and_release_resumes_without_jump():
    loop, clock = sim_loop(parse_policy(SCENARIO))
    loop.send(Pin("interactive", 300))
    snaps = ticks(loop, clock, 4)
    assert all(s.decision.get("interactive").weight == 300 for s in snaps)
    assert snaps[-1].decision.get("interactive").terms.held == "pinned"
    loop.send(Pin("interactive", None))
    after = ticks(loop, clock, 1)[0].decision.get("interactive")
    assert after.old_weight == 300 and 150 <= after.weight <= 600  # one clamped step at most


def test_gain_edit_changes_next_tick_controller_output():
    loop, clock = sim_loop(parse_policy(SCENARIO))
    ticks(loop, clock, 3)
    cls = loop.policy.get("batch")
    loop.send(UpdateClass(replace(cls, gains=replace(cls.gains, ki=0.0, kp=0.0))))
    snap = ticks(loop, clock, 1)[0]
    assert snap.dirty and snap.decision.get("batch").terms.step == 0.0
    assert snap.events[0].kind == "edit"


def test_vanished_cgroup_is_shown_missing_and_others_carry_on():
    loop, clock = sim_loop(parse_policy(SCENARIO))
    ticks(loop, clock, 2)
    loop.backend.remove_cgroup("batch")
    snap = ticks(loop, clock, 1)[0]
    batch = snap.decision.get("batch")
    assert batch.status == "absent" and "batch: cgroup missing" in snap.errors
    assert snap.decision.get("interactive").status in ("missing", "meeting", "beating")
    ticks(loop, clock, 3)  # keeps running
