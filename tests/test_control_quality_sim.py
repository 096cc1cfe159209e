"""The control-quality scenario of bench/control_quality.py on the SIMULATED
host: a CI guard for the control behaviour (ticks of a ManualClock, no sleeps,
no wall-clock assertions).

One CPU; batch wants four cores (four busy loops); interactive wants 10 % of
the CPU when quiet and 60 % in a peak, in 5 ms requests, with the goal
p95 ≤ 100 ms. Phases: quiet 20 ticks, peak 40 ticks, quiet 20 ticks.

Each scenario runs twice on the same seed: under control, and with control
paused and both weights pinned at 100 ("static equal"). Goal attainment is
judged from the response times the simulated host reports for each tick, not
from wlmtui's own PI. Two sensing variants:

* ``transactions``: the host reports response times, so wlmtui's PI is
  ``rt-measured``;
* ``psi-proxy``: the reports are withheld, as on a real host today (no ARM
  reporting yet), so wlmtui judges the goal by ``cpu_stall / psi_threshold``.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, replace

import pytest

from wlmtui.backends.sim import SimHost, step_value
from wlmtui.commands import Pause, Pin
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import parse_policy

from loop_util import EPOCH

QUIET, PEAK = 20, 40
TOTAL = QUIET + PEAK + QUIET
GOAL_S = 0.100
SETTLE_TICKS = 5

SCENARIO = textwrap.dedent(f"""
    interval: 1s
    simulation: {{cpus: 1, seed: 1}}
    service_classes:
      - name: interactive
        cgroup: cq/interactive
        goal: {{type: response_time, target: 100ms, percentile: 95}}
        importance: 1
        min_weight: 10
        base_weight: 100
        max_weight: 1000
        simulate: {{demand: [[0, 0.1], [{QUIET}, 0.6], [{QUIET + PEAK}, 0.1]], service_ms: 5}}
      - name: batch
        cgroup: cq/batch
        goal: {{type: velocity, target: 20}}
        importance: 4
        min_weight: 10
        base_weight: 100
        max_weight: 1000
        simulate: {{demand: 4}}
""")


class ProxyOnlySimHost(SimHost):
    """The simulated host, minus transaction reports (as a real host today).

    The simulation still draws the response times — the test judges the
    goal by them — but wlmtui does not see them."""

    def __init__(self, policy, **kw):
        super().__init__(policy, **kw)
        self.withheld: list[tuple[float, ...]] = []

    def sample(self, now):
        raw = super().sample(now)
        self.withheld.append(tuple(raw.transactions.get("interactive", ())))
        return replace(raw, transactions={})


@dataclass
class Run:
    p95: list[float | None]  # per tick, from the host's response times
    batch_usage: list[float]  # cores, per tick
    interactive_weight: list[int]
    batch_weight: list[int]
    sources: list[str]
    reasons: list[str]
    in_peak: list[bool]  # the interactive demand the host applied in this tick was the peak's

    def peak(self, xs):
        return [x for x, p in zip(xs, self.in_peak) if p]

    def quiet(self, xs):
        return [x for x, p in zip(xs, self.in_peak) if not p]

    def second_quiet(self, xs):
        last_peak = max(k for k, p in enumerate(self.in_peak) if p)
        return xs[last_peak + 1:]

    def met(self) -> list[bool]:
        return [p is not None and p <= GOAL_S for p in self.peak(self.p95)]


def p95(values) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def run(seed: int, *, controlled: bool, proxy: bool) -> Run:
    policy = replace(parse_policy(SCENARIO), sim_seed=seed)
    clock = ManualClock()
    wall = lambda: EPOCH + clock()  # noqa: E731
    host = (ProxyOnlySimHost if proxy else SimHost)(policy, wall=wall)
    loop = ControlLoop(policy, host, clock=clock, wall=wall)
    loop.prime()
    if not controlled:
        loop.send(Pause(True))
        loop.send(Pin("interactive", 100))
        loop.send(Pin("batch", 100))
    demand = policy.get("interactive").simulate.demand
    out = Run([], [], [], [], [], [], [])
    for _ in range(TOTAL):
        clock.advance(loop.interval)
        # the simulated host applies the demand at the end of each interval
        out.in_peak.append(step_value(demand, clock()) >= 0.5)
        snap = loop.step()
        i, b = snap.decision.get("interactive"), snap.decision.get("batch")
        seen = host.withheld[-1] if proxy else i.measure.rt_samples
        out.p95.append(p95(seen))
        out.batch_usage.append(b.measure.usage)
        out.interactive_weight.append(i.weight)
        out.batch_weight.append(b.weight)
        out.sources.append(i.perf.source)
        out.reasons.append(b.reason)
    return out


SEEDS = (1, 2, 3)


@pytest.fixture(scope="module", params=["transactions", "psi-proxy"])
def variant(request):
    proxy = request.param == "psi-proxy"
    return {seed: (run(seed, controlled=True, proxy=proxy), run(seed, controlled=False, proxy=proxy))
            for seed in SEEDS} | {"proxy": proxy}


@pytest.mark.parametrize("seed", SEEDS)
def test_static_equal_weights_miss_the_peak(variant, seed):
    """The scenario is hard: 100:100 gives interactive 0.5 of a 0.6 demand."""
    _, static = variant[seed]
    assert set(static.interactive_weight) == {100} and set(static.batch_weight) == {100}
    assert sum(static.in_peak) == PEAK
    met = static.met()
    assert sum(met) / len(met) < 0.10
    first_quiet = static.p95[:static.in_peak.index(True)]
    assert all(p is not None and p <= GOAL_S for p in first_quiet)  # the quiet load alone is easy


@pytest.mark.parametrize("seed", SEEDS)
def test_wlmtui_meets_the_goal_in_the_peak_after_settling(variant, seed):
    controlled, _ = variant[seed]
    after = controlled.met()[SETTLE_TICKS:]
    assert sum(after) / len(after) >= 0.90, [round(p * 1000) for p in controlled.peak(controlled.p95)]
    # by moving weight from batch (importance 4) to interactive (importance 1)
    shares = [i / (i + b) for i, b in zip(controlled.interactive_weight, controlled.batch_weight)]
    assert max(controlled.peak(shares)) >= 0.7  # more than its 0.6 demand: the queue drains
    assert min(controlled.peak(controlled.batch_weight)) < 100
    assert any("donor to interactive" in r for r in controlled.reasons)
    assert min(controlled.batch_weight) >= 10  # never below min_weight


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_keeps_its_quiet_phase_cpu(variant, seed):
    controlled, static = variant[seed]
    got, baseline = sum(controlled.quiet(controlled.batch_usage)), sum(static.quiet(static.batch_usage))
    assert got >= 0.95 * baseline, (got, baseline)
    # and over the whole run batch loses no more than what interactive's peak needs
    assert sum(controlled.batch_usage) >= 0.95 * sum(static.batch_usage)


def test_pi_source_matches_what_the_host_reports(variant):
    controlled, _ = variant[SEEDS[0]]
    expected = "psi-proxy" if variant["proxy"] else "rt-measured"
    assert set(controlled.sources[1:]) == {expected}


@pytest.mark.parametrize("seed", SEEDS)
def test_weights_relax_toward_base_after_the_peak_only_with_measured_times(variant, seed):
    """Measured response times let wlmtui see the goal is met when quiet, so
    weights relax toward base (5 % a tick) and batch reclaims weight. The PSI
    proxy cannot see that (documented, not desired): it counts the simulated
    host's contention stall (4 % of a busy CPU) against the 3 % threshold, so
    interactive never looks met and the weights stay saturated even when
    quiet. Batch still gets the idle CPU: weights only matter under contention."""
    controlled, _ = variant[seed]
    quiet_b = controlled.second_quiet(controlled.batch_weight)
    quiet_i = controlled.second_quiet(controlled.interactive_weight)
    reasons = controlled.second_quiet(controlled.reasons)
    if variant["proxy"]:
        assert quiet_i[-1] == 1000 and quiet_b[-1] == 10
    else:
        # steadily back toward base: batch up, interactive down, never the other way
        assert quiet_b == sorted(quiet_b) and quiet_i == sorted(quiet_i, reverse=True)
        # (the projection lets weights come most of the way back during the peak already)
        assert quiet_i[-1] < quiet_i[0] or quiet_i[-1] == 100
        assert quiet_b[-1] == 100 and quiet_i[-1] <= 110
        # once the 3-s response-time window has left the peak, it is relaxation only (or a hold
        # where interactive reaches the share its plot projects PI 0.8 at)
        window = 3
        assert all("all goals met" in r or w == 100 for r, w in zip(reasons[window:], quiet_b[window:]))


def figures() -> list[list[str]]:
    """The scenario's figures per sensing variant and seed (for BENCHMARKS.md)."""
    rows = []
    for proxy in (False, True):
        for seed in SEEDS:
            ctl, static = run(seed, controlled=True, proxy=proxy), run(seed, controlled=False, proxy=proxy)
            rows.append([
                "psi-proxy" if proxy else "transactions", str(seed),
                f"{sum(static.met()) / PEAK:.0%}", f"{sum(ctl.met()) / PEAK:.0%}",
                f"{sum(ctl.met()[SETTLE_TICKS:]) / (PEAK - SETTLE_TICKS):.0%}",
                f"{max(ctl.peak(ctl.interactive_weight))}:{min(ctl.peak(ctl.batch_weight))}",
                f"{sum(ctl.quiet(ctl.batch_usage)) / sum(static.quiet(static.batch_usage)):.0%}",
                f"{ctl.interactive_weight[-1]}:{ctl.batch_weight[-1]}",
            ])
    return rows


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.report import table

    print(table(["wlmtui sees", "seed", "static 100:100: peak ticks p95 ≤ 100 ms",
                 "wlmtui: peak ticks met", f"after {SETTLE_TICKS} ticks (≥ 90 %)",
                 "weights in peak (max i : min b)", "batch CPU quiet vs static (≥ 95 %)",
                 "weights at the end"], figures()))
