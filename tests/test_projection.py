"""Each class's plot (wlmtui.projection) and the arbiter's use of it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlmtui.arbiter import Candidate, arbitrate, busy_shares
from wlmtui.projection import EXPLORE, EXPLORE_MAX, EXPLORE_SCALE, HALF_LIFE_S, MARGIN, ClassPlot, Projection, floor_share


def knee(share: float, load: float = 0.3) -> float:
    """A queueing-shaped curve: flat well above the load, steep near it."""
    room = max(share - load, 1e-3)
    return min(50.0, 0.02 / room + 0.1)


def learned(curve, shares, rate=None, now=0.0, repeat=3) -> ClassPlot:
    plot = ClassPlot()
    t = now
    for s in shares:
        for _ in range(repeat):
            plot.observe(t, s, curve(s), rate)
            t += 1.0
    return plot


def test_the_fit_never_rises_with_more_share():
    # noisy points: the raw averages are not monotone, the fit is
    noisy = {0.35: 1.4, 0.4: 0.6, 0.45: 0.8, 0.5: 0.3, 0.6: 0.35}
    plot = learned(lambda s: noisy[s], list(noisy))
    fit = plot.fit(None, 20.0)
    assert [round(p.share, 2) for p in fit] == sorted(noisy)
    assert all(a.pi >= b.pi for a, b in zip(fit, fit[1:]))
    assert any(abs(p.pi - p.raw_pi) > 1e-9 for p in fit)  # a violator was pooled


def test_share_for_reads_the_crossing_off_the_plot():
    shares = [0.32, 0.35, 0.4, 0.5, 0.6, 0.8]
    plot = learned(knee, shares)
    proj = plot.share_for(1 - MARGIN, None, 20.0)
    assert proj.basis == "plot"
    # the true curve reaches PI 0.85 at 0.3 + 0.02 / 0.75 ≈ 0.327; the fit interpolates between bins
    assert 0.32 <= proj.share <= 0.35
    assert plot.pi_at(proj.share, None, 20.0) == pytest.approx(1 - MARGIN, rel=0.01)


def test_only_met_shares_seen_is_an_upper_bound_and_only_misses_is_none():
    met = learned(knee, [0.6, 0.8])
    proj = met.share_for(1 - MARGIN, None, 10.0)
    assert proj.basis == "seen" and proj.share == pytest.approx(0.6, rel=0.05)
    missed = learned(knee, [0.31, 0.315])
    assert missed.share_for(1 - MARGIN, None, 10.0) == Projection(None, "none", 1 - MARGIN, None)


def test_a_point_needs_a_share_that_stood_still_over_the_window():
    plot = ClassPlot()
    assert not plot.observe(0.0, 0.5, 0.8, None, window_ticks=3)  # one tick of three
    assert not plot.observe(1.0, 0.5, 0.8, None, window_ticks=3)
    assert plot.observe(2.0, 0.52, 0.8, None, window_ticks=3)
    assert not plot.observe(3.0, 0.8, 0.5, None, window_ticks=3)  # the share jumped: the window mixes two
    assert not plot.observe(4.0, None, None, None, window_ticks=3)  # idle resets the window


def test_old_points_fade_and_the_curve_is_relearned():
    plot = learned(knee, [0.35, 0.5])
    assert plot.fit(None, 6.0)
    assert not plot.fit(None, 6.0 + 3 * HALF_LIFE_S)  # below the confidence a bin needs to count
    # a heavier load at the same share: a few new points take the bin over
    plot = learned(knee, [0.35, 0.5])
    for t in range(6, 12):
        plot.observe(float(t), 0.5, knee(0.5, load=0.49), None)
    assert plot.pi_at(0.5, None, 12.0) > 1.0


def test_load_levels_and_safe_bounds_between_them():
    plot = ClassPlot()
    t = 0.0
    for s in (0.21, 0.22, 0.3, 0.5):  # at 40 requests/s: needs about 0.23
        for _ in range(3):
            plot.observe(t, s, knee(s, 0.2), 40.0)
            t += 1
    at40 = plot.share_for(1 - MARGIN, 40.0, t)
    assert at40.basis == "plot"
    # a doubled rate has no points of its own: a bound scaled by the rate (needed share ≤ proportional)
    at80 = plot.share_for(1 - MARGIN, 80.0, t)
    assert at80.basis == "bound" and at80.share == pytest.approx(min(1.0, 2 * at40.share), rel=0.01)
    # a lower rate is bounded by what the higher one needs, unscaled
    at20 = plot.share_for(1 - MARGIN, 20.0, t)
    assert at20.basis == "bound" and at20.share == pytest.approx(at40.share, rel=0.01)


def test_floor_share_holds_near_the_line_and_explores_only_when_steady():
    seen = Projection(0.5, "seen", 1 - MARGIN)
    assert floor_share(0.5, 0.9, seen, explore=True) == 0.5  # PI 0.9 ≥ 0.85: keeps what it has
    assert floor_share(0.5, 0.4, seen, explore=False) == 0.5
    # far below the target (PI 0.4 against 0.8) it steps further than EXPLORE, up to EXPLORE_MAX
    far = floor_share(0.5, 0.4, seen, explore=True)
    assert far == pytest.approx(0.5 * math.exp(-min(EXPLORE_MAX, EXPLORE_SCALE * math.log(0.8 / 0.4))))
    assert 0.5 * math.exp(-EXPLORE_MAX) <= far < 0.5 * math.exp(-EXPLORE)
    assert floor_share(0.5, 0.7, seen, explore=True) == pytest.approx(0.5 * math.exp(-EXPLORE))  # nearer: one small step
    assert floor_share(0.7, 0.4, seen, explore=True) == 0.5  # down to what it has seen, not beyond
    assert floor_share(0.7, 0.4, Projection(0.33, "plot", 1 - MARGIN), explore=False) == 0.33
    assert floor_share(0.7, 0.4, Projection(None, "none", 1 - MARGIN), explore=False) == 0.7
    assert floor_share(0.7, None, seen, explore=True) == 0.0  # idle


@st.composite
def plotted_classes(draw):
    """Classes whose floor and need come from a real learned plot of a knee curve."""
    n = draw(st.integers(2, 5))
    out, plots = [], {}
    for i in range(n):
        load = draw(st.floats(0.05, 0.6))
        seen = sorted(set(draw(st.lists(st.floats(0.05, 0.95), min_size=1, max_size=6))))
        plot = learned(lambda s, load=load: knee(s, load), seen)
        share_now = draw(st.floats(0.05, 0.95))
        weight = draw(st.floats(20, 900))
        pi = knee(share_now, load)
        proj = plot.share_for(1 - MARGIN, None, 30.0)
        floor = floor_share(share_now, pi, proj, draw(st.booleans()))
        c = Candidate(f"c{i}", draw(st.integers(1, 5)), pi, weight, weight * draw(st.floats(0.5, 2.0)),
                      10, 1000, 100, floor_share=floor, need_share=proj.share,
                      basis=proj.basis if proj.known else "")
        out.append(c)
        plots[c.name] = plot
    return out, plots


@settings(max_examples=300, deadline=None)
@given(plotted_classes())
def test_projected_moves_never_push_a_voluntary_donor_past_1_minus_margin(data):
    """Acceptance (issue 11): a donor that gives voluntarily, or a class that
    relaxes, is left at a share where its own plot projects PI ≤ 1 − margin —
    or at no less than it had, when it was above that already."""
    classes, plots = data
    changes = arbitrate(classes)
    before = busy_shares({c.name: c.weight for c in classes}, classes)
    after = busy_shares({c.name: changes[c.name].new for c in classes}, classes)
    receivers = [c for c in classes if changes[c.name].role == "receiver"]
    for c in classes:
        ch = changes[c.name]
        lost = after[c.name] < before[c.name] - 1e-9
        # it gave, and no receiver was more important (one that is may take what it must give)
        voluntary = ch.role == "donor" and not any(r.importance < c.importance for r in receivers)
        if not lost or not (voluntary or ch.role == "relax"):
            continue
        projected = plots[c.name].pi_at(after[c.name], None, 30.0)
        projected_before = plots[c.name].pi_at(before[c.name], None, 30.0)
        if c.basis in ("plot", "bound") and projected is not None:
            assert projected <= max(1 - MARGIN, projected_before) * 1.001 + 1e-9, (c, ch, after[c.name])
        assert after[c.name] >= min(c.floor_share, before[c.name]) - 1e-6, (classes, changes)
        assert math.isfinite(after[c.name])
