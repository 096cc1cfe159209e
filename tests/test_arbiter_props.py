"""The six arbitration invariants of DESIGN.md, each as a property test."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlmtui.arbiter import PROJECTION_TARGET, RELAX_RATE, Candidate, arbitrate, busy_shares, donors_for

EPS = 1e-6


@st.composite
def candidates(draw):
    n = draw(st.integers(2, 7))
    out = []
    for i in range(n):
        lo = draw(st.integers(1, 500))
        hi = draw(st.integers(lo, 10000))
        weight = draw(st.floats(lo, hi))
        base = draw(st.integers(lo, hi))
        disc = draw(st.booleans()) if i > 0 else False
        pi = 0.81 if disc else draw(st.one_of(st.none(), st.floats(0.01, 100)))
        proposed = draw(st.floats(lo, hi))
        out.append(Candidate(
            name=f"c{i}", importance=draw(st.integers(1, 5)), pi=pi, weight=weight, proposed=proposed,
            min_weight=lo, max_weight=hi, base_weight=base, deadband=0.05,
            max_step=draw(st.sampled_from([1.5, 2.0, 4.0])), discretionary=disc,
            floor_share=draw(st.one_of(st.just(0.0), st.floats(0.05, 0.95))),
            need_share=draw(st.one_of(st.none(), st.floats(0.01, 1.0))),
            basis=draw(st.sampled_from(["plot", "seen", "bound"])),
        ))
    return out


def run(classes):
    return arbitrate(classes), {c.name: c for c in classes}


@settings(max_examples=400)
@given(candidates())
def test_1_weights_stay_within_bounds(classes):
    changes, by = run(classes)
    for name, ch in changes.items():
        assert by[name].min_weight - EPS <= ch.new <= by[name].max_weight + EPS


@settings(max_examples=400)
@given(candidates())
def test_2_importance_first(classes):
    """While a class of importance i misses, no class of importance > i gains."""
    changes, by = run(classes)
    missing = [c.importance for c in classes if c.missing]
    if not missing:
        return
    top = min(missing)
    for c in classes:
        if c.importance > top:
            assert changes[c.name].new <= c.weight + EPS, (c, changes[c.name])


@settings(max_examples=400)
@given(candidates())
def test_3_only_legitimate_donors_lose_weight(classes):
    """A class loses weight only as a donor of a receiver (discretionary, less
    important, or beating its goal), never below min_weight nor below what it
    needs to keep beating its goal when it donates voluntarily — or as a
    receiver whose own controller eases. Gains equal donations."""
    changes, by = run(classes)
    missing = [c for c in classes if c.missing]
    top = min((r.importance for r in missing), default=99)
    # the missing classes of the top level, and the classes short of their margin at it or above
    receivers = [c for c in classes if (c.missing and c.importance == top) or (c.short and c.importance <= top)]
    if not receivers:
        return
    gained = 0.0
    donated = 0.0
    for c in classes:
        ch = changes[c.name]
        delta = ch.new - c.weight
        if delta > EPS:
            if ch.role == "relax":
                assert not missing
                continue
            assert c in receivers and ch.role == "receiver"
            gained += delta
        elif delta < -EPS:
            if ch.role == "ease":
                assert c.missing
                continue
            if ch.role == "relax":
                assert not missing
                continue
            assert ch.role == "donor"
            serving = [r for r in receivers if r.name != c.name]
            assert any(c in donors_for(r, classes) for r in serving)
            assert ch.new >= c.min_weight - EPS
            assert ch.new >= c.weight / c.max_step - EPS
            if not c.discretionary and not any(c.importance > r.importance for r in serving):
                assert c.beating and any(r.missing for r in serving)  # peers give to a missing class only
            donated -= delta
    if math.isclose(gained, donated, rel_tol=1e-9, abs_tol=1e-6):
        return
    # gains beyond donations: only when every other busy class is a donor
    assert gained > donated
    for r in receivers:
        if changes[r.name].new - r.weight > EPS:
            donors = {d.name for d in donors_for(r, classes)}
            assert all(c.pi is None or c.name in donors for c in classes if c.name != r.name)


@settings(max_examples=400)
@given(candidates())
def test_a_class_short_of_its_margin_takes_only_from_classes_that_must_give(classes):
    """A class within its goal but above the projection's target gains only
    from discretionary or less important classes, and only at or above the
    most important missing level."""
    changes, _ = run(classes)
    top = min((c.importance for c in classes if c.missing), default=99)
    takers = [c for c in classes if not c.missing and changes[c.name].new > c.weight + EPS
              and changes[c.name].role == "receiver"]
    for t in takers:
        assert t.short and t.importance <= top
    if takers and not any(c.missing for c in classes):
        for c in classes:
            if changes[c.name].new < c.weight - EPS:
                assert c.discretionary or any(c.importance > t.importance for t in takers), (c, changes)


@settings(max_examples=400)
@given(candidates())
def test_4_equal_importance_donates_only_when_beating(classes):
    changes, _ = run(classes)
    takers = [c for c in classes if changes[c.name].role == "receiver" and changes[c.name].new > c.weight + EPS]
    for c in classes:
        if changes[c.name].role != "donor" or c.discretionary:
            continue
        if not any(t.importance < c.importance for t in takers if t is not c):
            # it gave to a class of its own importance: only because it beats its own goal
            assert c.beating, (c, changes)


@settings(max_examples=400)
@given(candidates())
def test_5_beating_classes_give_only_to_a_taker_and_all_relax_when_met(classes):
    changes, _ = run(classes)
    receivers = [c for c in classes if c.missing or changes[c.name].role == "receiver"]
    took = sum(max(0.0, changes[c.name].new - c.weight) for c in classes)
    if receivers:
        for c in classes:
            if c.beating and changes[c.name].new < c.weight - EPS:
                assert took > 0
    else:
        for c in classes:
            ch = changes[c.name]
            base = min(max(c.base_weight, c.min_weight), c.max_weight)
            # moves toward base, never past it, at a bounded rate
            assert abs(ch.new - base) <= abs(c.weight - base) + EPS
            assert abs(math.log(ch.new / c.weight)) <= RELAX_RATE + EPS


def _shares(classes, weights):
    return busy_shares(weights, classes)


def _below_floor_only_when_it_must_give(classes, changes):
    """Every busy class keeps its floor share (or what it had, if it was under
    it) unless a more important receiver took from it — a donor that must give —
    or its own controller eased its weight (a missing class whose PI falls)."""
    before = _shares(classes, {c.name: c.weight for c in classes})
    after = _shares(classes, {c.name: changes[c.name].new for c in classes})
    receivers = [c for c in classes if changes[c.name].role == "receiver"]
    for c in classes:
        if c.floor_share > 0 and c.pi is not None and not c.discretionary:
            if after[c.name] < min(c.floor_share, before[c.name]) - 1e-6 and changes[c.name].role != "ease":
                # (it may hold its weight while a receiver takes share, not weight, from it)
                assert any(r.importance < c.importance for r in receivers), (c, changes)


@settings(max_examples=400)
@given(candidates())
def test_relaxing_keeps_each_class_its_floor_share(classes):
    """With every goal met, no busy class's share of the busy weight falls
    below its floor share (or below what it has, if it is under it already),
    except one giving to a more important class short of its margin."""
    if any(c.missing for c in classes):
        return
    _below_floor_only_when_it_must_give(classes, run(classes)[0])


@settings(max_examples=400)
@given(candidates())
def test_voluntary_donors_keep_their_floor_share(classes):
    """A donor at least as important as every receiver it gives to keeps the
    share its plot projects PI 1 − margin at (or what it had, if less)."""
    _below_floor_only_when_it_must_give(classes, run(classes)[0])


@settings(max_examples=200)
@given(candidates())
def test_6_every_change_has_a_reason(classes):
    changes, _ = run(classes)
    for c in classes:
        ch = changes[c.name]
        assert ch.reason
        if abs(ch.new - c.weight) > EPS:
            assert ch.role in ("receiver", "donor", "relax", "ease")
            assert ch.describe().startswith(f"{c.name} ")


def test_relaxing_up_waits_while_a_more_important_class_is_at_its_floor():
    """Batch below its base rises only as far as interactive keeps its floor share."""
    inter = Candidate("interactive", 1, 0.79, 300, 300, 10, 1000, 100, floor_share=0.9375)  # 300 / 320
    batch = Candidate("batch", 4, 0.5, 20, 20, 10, 1000, 100)
    ch = arbitrate([inter, batch])
    assert ch["batch"].new == 20 and ch["interactive"].new == 300
    assert "holds: interactive keeps CPU share 94%" in ch["batch"].reason
    roomy = arbitrate([inter._replace(pi=0.5, floor_share=0.5), batch])
    assert roomy["batch"].new > 20 and roomy["interactive"].new < 300


def test_a_receiver_with_a_plot_asks_for_its_projected_share_in_one_step():
    inter = Candidate("interactive", 1, 2.0, 100, 150, 10, 1000, 100, need_share=0.8, basis="plot")
    batch = Candidate("batch", 4, 0.5, 100, 100, 10, 1000, 100, max_step=10.0)
    ch = arbitrate([inter, batch])
    assert ch["interactive"].new == pytest.approx(160) and ch["batch"].new == pytest.approx(40)
    assert f"projected PI {PROJECTION_TARGET:.2f} at 80% (plot)" in ch["interactive"].reason
    # without a projection it explores by its controller's proposal
    ch = arbitrate([inter._replace(need_share=None, basis=""), batch])
    assert ch["interactive"].new == pytest.approx(150) and "exploring by its controller" in ch["interactive"].reason


def test_wlmd_failure_mode_is_impossible():
    """Interactive (imp 1) and batch (imp 4) both miss: batch donates, so the
    two never end at equal weights as the original wlmd's did."""
    inter = Candidate("interactive", 1, 3.0, 100, 200, 10, 1000, 100)
    batch = Candidate("batch", 4, 3.0, 100, 200, 10, 1000, 100)
    weights = [inter, batch]
    for _ in range(10):
        ch = arbitrate(weights)
        weights = [Candidate(c.name, c.importance, c.pi, ch[c.name].new, ch[c.name].new * 2,
                             c.min_weight, c.max_weight, c.base_weight) for c in weights]
    assert weights[0].weight > 150 and weights[1].weight == 10
    fresh = arbitrate([inter, Candidate("batch", 4, 3.0, 50, 100, 10, 1000, 100)])
    assert fresh["batch"].reason == "donor to interactive (imp 1, PI 3.00)"
    assert fresh["batch"].describe() == "batch 50→25: donor to interactive (imp 1, PI 3.00)"


def test_a_class_short_of_its_margin_asks_its_projected_share_from_a_less_important_class():
    """PI 0.9 is within the goal but one noisy window from a miss: interactive
    takes its projected share from batch — and never from a peer."""
    inter = Candidate("interactive", 1, 0.9, 100, 100, 10, 1000, 100, need_share=0.6, basis="plot")
    batch = Candidate("batch", 4, 0.5, 100, 100, 10, 1000, 100)
    ch = arbitrate([inter, batch])
    assert ch["interactive"].new == pytest.approx(120) and ch["batch"].new == pytest.approx(80)
    assert ch["interactive"].reason.startswith(
        f"short of its margin (PI 0.90 > {PROJECTION_TARGET:.2f}), projected PI {PROJECTION_TARGET:.2f} at 60%")
    assert ch["batch"].role == "donor"
    peer = batch._replace(name="web", importance=1, pi=0.3)
    held = arbitrate([inter, peer])
    assert held["interactive"].new == 100 and held["web"].new == 100
    # its plot says the share it holds is enough: one noisy window, it holds
    enough = arbitrate([inter._replace(need_share=0.45), batch])
    assert enough["interactive"].new == 100


def test_a_voluntary_donor_gives_down_to_its_floor_share_of_the_conserved_total():
    """Interactive beats its goal at 1000:100 and may keep 85 %: batch, missing
    and asking for twice its weight, gets what lies above 85 % of the total
    (weight moved between them leaves the total at 1100) — not nothing
    because it asked for more than that, and not down to 85 % of what is left."""
    inter = Candidate("interactive", 1, 0.45, 1000, 1000, 10, 1000, 100, floor_share=0.85)
    batch = Candidate("batch", 4, 9.0, 100, 200, 10, 1000, 100)
    ch = arbitrate([inter, batch])
    assert ch["interactive"].new == pytest.approx(0.85 * 1100)
    assert ch["batch"].new == pytest.approx(1100 - 0.85 * 1100)
    assert "keeps ≥ 85%" in ch["interactive"].reason
