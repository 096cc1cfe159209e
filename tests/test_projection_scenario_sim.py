"""Issue 11's load steps on the SIMULATED host: a CI guard for control under
changing load (ticks of a ManualClock; no sleeps, no wall-clock assertions).

The same scenarios as ``bench/projection_quality.py`` on the real kernel, on
one simulated CPU: interactive (importance 1, p95 ≤ 100 ms, 5 ms requests)
steps its demand — 20 % → 55 % → 20 % (40 ticks a phase), and 25 % → 50 % (a
sudden doubling, 60 ticks a phase) — beside batch (importance 4, four cores' worth of demand).
Goal attainment is judged, as on the kernel, per 5-tick window from the
response times the simulated host reports; batch CPU against the best static
weights per phase, found by a static sweep of the same simulation.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace

import pytest

from wlmtui.backends.sim import SimHost
from wlmtui.commands import Pause, Pin
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import parse_policy

from loop_util import EPOCH

WINDOW = 5
SETTLE = 10
GOAL_S = 0.100
#: name: (seconds a phase, load per phase); 20 judged windows or more, so that the one
#: window holding an upward step may miss
SCENARIOS = {"steps": (40, (0.20, 0.55, 0.20)), "doubling": (60, (0.25, 0.50))}
SWEEP = ((200, 800), (300, 700), (400, 600), (500, 500), (600, 400), (700, 300), (800, 200), (900, 100))


def policy_for(phase: int, loads: tuple[float, ...], seed: int):
    demand = ", ".join(f"[{k * phase}, {load}]" for k, load in enumerate(loads))
    text = textwrap.dedent(f"""
        interval: 1s
        simulation: {{cpus: 1, seed: {seed}}}
        service_classes:
          - name: interactive
            cgroup: pq/interactive
            goal: {{type: response_time, target: 100ms, percentile: 95}}
            importance: 1
            min_weight: 10
            max_weight: 1000
            simulate: {{demand: [{demand}], service_ms: 5}}
          - name: batch
            cgroup: pq/batch
            goal: {{type: velocity, target: 20}}
            importance: 4
            min_weight: 10
            max_weight: 1000
            simulate: {{demand: 4}}
    """)
    return replace(parse_policy(text), sim_seed=seed)


def p95(values) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def run(phase: int, loads, seed: int, static: tuple[int, int] | None = None):
    """Per-tick response times and batch usage, under control or static weights."""
    policy = policy_for(phase, loads, seed)
    clock = ManualClock()
    wall = lambda: EPOCH + clock()  # noqa: E731
    loop = ControlLoop(policy, SimHost(policy, wall=wall), clock=clock, wall=wall)
    loop.prime()
    if static is not None:
        loop.send(Pause(True))
        loop.send(Pin("interactive", static[0]))
        loop.send(Pin("batch", static[1]))
    rts, batch = [], []
    for _ in range(phase * len(loads)):
        clock.advance(1.0)
        snap = loop.step()
        rts.append(snap.decision.get("interactive").measure.rt_samples)
        batch.append(snap.decision.get("batch").measure.usage)
    return rts, batch


def judged_windows(phase: int, rts) -> list[tuple[int, bool]]:
    """(phase, met) for each 5-tick window from SETTLE on."""
    out = []
    for start in range(SETTLE, len(rts) - WINDOW + 1, WINDOW):
        p = p95([v for tick in rts[start:start + WINDOW] for v in tick])
        out.append((start // phase, p is None or p <= GOAL_S))
    return out


def batch_per_phase(phase: int, batch, phases: int) -> list[float]:
    return [sum(batch[max(SETTLE, k * phase):(k + 1) * phase]) for k in range(phases)]


def best_static(phase: int, loads, seed: int) -> list[float]:
    """Per phase, the most batch CPU any static ratio gives while meeting the goal in every window."""
    best = [0.0] * len(loads)
    for ratio in SWEEP:
        rts, batch = run(phase, loads, seed, static=ratio)
        win = judged_windows(phase, rts)
        per = batch_per_phase(phase, batch, len(loads))
        for k in range(len(loads)):
            if all(met for ph, met in win if ph == k):
                best[k] = max(best[k], per[k])
    return best


@pytest.mark.parametrize("seed", (1, 2, 3))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_goal_met_in_95_percent_of_windows_through_load_steps(scenario, seed):
    phase, loads = SCENARIOS[scenario]
    rts, batch = run(phase, loads, seed)
    win = judged_windows(phase, rts)
    met = sum(m for _, m in win) / len(win)
    assert met >= 0.95, (scenario, seed, win)
    # and batch keeps at least 90 % of what the best static weights per phase give it
    best = best_static(phase, loads, seed)
    assert all(b > 0 for b in best), best  # every phase has a static ratio that meets the goal
    got = sum(batch_per_phase(phase, batch, len(loads)))
    assert got >= 0.90 * sum(best), (got, best)


def test_static_equal_weights_miss_the_step():
    """The scenario is hard: 100:100 gives interactive half the CPU, and the 55 % phase needs more."""
    phase, loads = SCENARIOS["steps"]
    rts, _ = run(phase, loads, 1, static=(100, 100))
    win = judged_windows(phase, rts)
    assert not any(m for ph, m in win if ph == 1)
