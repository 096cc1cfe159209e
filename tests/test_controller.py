"""The PI controller: deadband, step clamp, anti-windup, bumpless changes."""

from __future__ import annotations

import math

import pytest

from wlmtui.controller import ControllerState, error_of, step
from wlmtui.policy import Gains

KW = dict(deadband=0.05, max_step=2.0, dt=1.0, w_min=10, w_max=1000)


def test_deadband_gives_zero_error():
    assert error_of(1.04, 0.05) == 0.0
    assert error_of(0.96, 0.05) == 0.0
    assert error_of(1.5, 0.05) == pytest.approx(math.log(1.5))


def test_missing_goal_raises_weight_and_beating_lowers_it():
    st, up = step(ControllerState(), 2.0, 100, gains=Gains(0.5, 0.5), **KW)
    assert up.proposed > 100 and up.i == pytest.approx(0.5 * math.log(2.0))
    st, down = step(ControllerState(), 0.5, 100, gains=Gains(0.5, 0.5), **KW)
    assert down.proposed < 100


def test_velocity_form_p_term_uses_error_change():
    st, first = step(ControllerState(), 2.0, 100, gains=Gains(1.0, 0.0), **KW)
    assert first.p == 0.0  # no previous error: bumpless start
    st, second = step(st, 4.0, 100, gains=Gains(1.0, 0.0), **KW)
    assert second.p == pytest.approx(math.log(4.0) - math.log(2.0))


def test_step_is_clamped_to_max_step():
    _, t = step(ControllerState(), 100.0, 100, gains=Gains(5, 5), **KW)
    assert t.proposed == pytest.approx(200.0)
    _, t = step(ControllerState(), 0.01, 100, gains=Gains(5, 5), **KW)
    assert t.proposed == pytest.approx(50.0)


def test_anti_windup_drops_integral_at_the_bound():
    _, t = step(ControllerState(0.5), 2.0, 1000, gains=Gains(0.5, 0.5), **KW)
    assert t.windup and t.i == 0.0 and t.proposed == 1000
    _, t = step(ControllerState(-0.5), 0.5, 10, gains=Gains(0.5, 0.5), **KW)
    assert t.windup and t.i == 0.0 and t.proposed == 10
    # at the upper bound an error pulling back down still integrates
    _, t = step(ControllerState(0.0), 0.5, 1000, gains=Gains(0.5, 0.5), **KW)
    assert not t.windup and t.proposed < 1000


def test_gain_change_is_bumpless():
    """A new Kp/Ki changes only future steps: the same state, error and weight
    with new gains gives the step the new gains compute, with no jump from
    stored history (the velocity form stores no integral)."""
    st, _ = step(ControllerState(), 1.5, 100, gains=Gains(0.5, 0.5), **KW)
    _, same_error = step(st, 1.5, 100, gains=Gains(5.0, 0.1), **KW)
    assert same_error.p == 0.0
    assert same_error.step == pytest.approx(0.1 * math.log(1.5))


def test_idle_holds_and_resets_history():
    st, t = step(ControllerState(0.7), None, 300, gains=Gains(0.5, 0.5), **KW)
    assert t.proposed == 300 and t.held == "idle" and st.prev_error is None
