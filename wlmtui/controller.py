"""The PI controller: one per service class, velocity form on log-weight.

    e_k     = ln(PI)            (0 inside the deadband 1 ± deadband)
    Δln(w)  = Kp·(e_k − e_{k−1}) + Ki·e_k·dt

A step is clamped to ±ln(max_step). Integration is conditional: while the
weight sits at a bound and the error pushes further, the integral term is
dropped (anti-windup). The velocity form stores no integral, so new gains
change only future steps (bumpless), and a pinned class resumes from its
pinned weight without a jump.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from wlmtui.policy import Gains


class ControllerState(NamedTuple):
    prev_error: float | None = None  # None: no valid error yet (start, idle)


class Terms(NamedTuple):
    """What the controller computed this tick, for display and JSON."""

    error: float = 0.0
    p: float = 0.0
    i: float = 0.0
    step: float = 0.0  # applied Δln(w) after clamping
    proposed: float = 0.0  # weight the controller asks for (before arbitration)
    windup: bool = False  # integral suppressed at a bound
    held: str = ""  # why the controller did not act ("idle", "pinned", ...)


def error_of(pi: float, deadband: float) -> float:
    if 1.0 - deadband <= pi <= 1.0 + deadband:
        return 0.0
    return math.log(pi)


def step(state: ControllerState, pi: float | None, weight: float, *, gains: Gains, deadband: float,
         max_step: float, dt: float, w_min: float, w_max: float) -> tuple[ControllerState, Terms]:
    """One controller update from the weight currently in force."""
    if pi is None:
        return ControllerState(None), Terms(proposed=weight, held="idle")
    e = error_of(pi, deadband)
    p = gains.kp * (e - state.prev_error) if state.prev_error is not None else 0.0
    i = gains.ki * e * dt
    windup = (weight >= w_max and e > 0) or (weight <= w_min and e < 0)
    if windup:
        i = 0.0
    limit = math.log(max_step)
    raw = p + i
    applied = max(-limit, min(limit, raw))
    proposed = min(w_max, max(w_min, weight * math.exp(applied)))
    return ControllerState(e), Terms(error=e, p=p, i=i, step=applied, proposed=proposed, windup=windup)
