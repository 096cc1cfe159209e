"""Helpers to drive a ControlLoop on the simulated host with a manual clock."""

from __future__ import annotations

from wlmtui.backends.sim import SimHost
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import Policy

EPOCH = 1_790_000_000.0


def sim_loop(policy: Policy, **kw) -> tuple[ControlLoop, ManualClock]:
    clock = ManualClock()
    wall = lambda: EPOCH + clock()  # noqa: E731
    loop = ControlLoop(policy, SimHost(policy, wall=wall), clock=clock, wall=wall, **kw)
    loop.prime()
    return loop, clock


def ticks(loop: ControlLoop, clock: ManualClock, n: int) -> list:
    out = []
    for _ in range(n):
        clock.advance(loop.interval)
        out.append(loop.step())
    return out
