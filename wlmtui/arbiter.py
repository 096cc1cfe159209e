"""Importance arbitration, in the manner of z/OS WLM: the controllers propose,
the arbiter decides.

Receivers are the classes missing their goal (PI > 1 + deadband), served by
importance, then by PI. Only receivers of the most important missing level
gain weight, and every unit of weight they gain is taken from donors, in
this order:

1. discretionary classes;
2. classes less important than the receiver (importance 5 before 4 …);
3. classes of any importance that beat their own goal (PI < 1 − deadband),
   and only down to the weight at which they are predicted to still meet it
   (PI scales as 1/weight: the donor keeps at least ``weight × PI``).

No donor goes below ``min_weight`` or loses more than a factor ``max_step``
in one tick. When every goal is met, a class above its base relaxes only as
far as it is predicted to keep beating its goal (``weight × PI / (1 −
deadband)``), so it does not slide back into missing; a class below its
base rises only while every class at least as important beats its goal.

A class remembers the CPU share (its weight over the busy classes' total) at
which it last began to miss its goal, and while weights relax it keeps at
least ``MISS_MARGIN`` more than that (``guard_share``): relaxation slows or
stops rather than walk a class back to where it missed. The engine fades
that memory with a half-life, so a class whose load has fallen gives the CPU
back in the end. A more important class that donates voluntarily (rule 3)
keeps its guard share too.

Weight is conserved between donors and receivers, with one
exception: when the donors are at their floor and every other busy class is
a donor that must give (less important or discretionary, not one donating
voluntarily), the receiver may still raise its own weight (up to its
controller's proposal and ``max_weight``) — that takes CPU *share* from the
donors alone, which is what invariants 2–4 allow. When every goal is met, weights relax toward ``base_weight`` by
at most ``RELAX_RATE`` (in log space) per tick. Every change has a reason.
"""

from __future__ import annotations

import math
from typing import NamedTuple

#: ln-weight per tick by which weights drift back to base when all goals are met
RELAX_RATE = 0.05
#: how much more CPU share than at its last miss a class keeps while weights relax
MISS_MARGIN = 0.3


class Candidate(NamedTuple):
    name: str
    importance: int
    pi: float | None  # None: idle — neither missing nor beating
    weight: float  # in force now
    proposed: float  # what the class's controller asks for
    min_weight: int
    max_weight: int
    base_weight: int
    deadband: float = 0.05
    max_step: float = 2.0
    discretionary: bool = False
    #: CPU share (of the busy classes' weight) this class keeps while weights
    #: relax or it donates voluntarily; 0 = none (see ``MISS_MARGIN``)
    guard_share: float = 0.0

    @property
    def missing(self) -> bool:
        return not self.discretionary and self.pi is not None and self.pi > 1.0 + self.deadband

    @property
    def beating(self) -> bool:
        return self.pi is not None and self.pi < 1.0 - self.deadband


class Change(NamedTuple):
    name: str
    old: float
    new: float
    reason: str
    role: str  # "receiver", "donor", "relax", "hold", "waits", "ease"

    def describe(self) -> str:
        return f"{self.name} {self.old:.0f}→{self.new:.0f}: {self.reason}"


def _pi(c: Candidate) -> str:
    return "idle" if c.pi is None else f"PI {c.pi:.2f}"


def donors_for(receiver: Candidate, classes: list[Candidate]) -> list[Candidate]:
    """Donor candidates for one receiver, in the order they are asked."""
    others = [c for c in classes if c.name != receiver.name]
    first = [c for c in others if c.discretionary]
    second = sorted(
        (c for c in others if not c.discretionary and c.importance > receiver.importance),
        key=lambda c: (-c.importance, c.pi if c.pi is not None else 0.0),
    )
    taken = {c.name for c in first + second}
    third = sorted(
        (c for c in others if c.beating and c.name not in taken),
        key=lambda c: (-c.importance, c.pi),
    )
    return first + second + third


def busy_shares(weights: dict[str, float], classes: list[Candidate]) -> dict[str, float]:
    """Each busy class's share of the busy classes' total weight."""
    busy = [c.name for c in classes if c.pi is not None]
    total = sum(weights[n] for n in busy)
    return {n: weights[n] / total for n in busy} if total > 0 else {}


def _voluntary(d: Candidate, receiver: Candidate) -> bool:
    """A donor at least as important as the receiver gives only what it can spare."""
    return not d.discretionary and d.importance <= receiver.importance


def _floor(d: Candidate, receiver: Candidate, classes: list[Candidate], new: dict[str, float],
           pending: float) -> float:
    """The lowest weight this donor may reach this tick; ``pending`` is what
    the receiver has still to gain."""
    floor = max(float(d.min_weight), d.weight / d.max_step)
    if _voluntary(d, receiver) and d.pi is not None:
        floor = max(floor, d.weight * d.pi)  # keep beating (predicted PI ≤ 1)
        if 0.0 < d.guard_share < 1.0:
            others = sum(new[c.name] for c in classes if c.pi is not None and c is not d) + pending
            floor = max(floor, min(d.weight, d.guard_share * others / (1.0 - d.guard_share)))
    return floor


def _guarded_fraction(classes: list[Candidate], new: dict[str, float]) -> tuple[float, Candidate | None]:
    """The largest fraction (in log space) of the relaxation moves in ``new``
    that leaves every guarded class at or above its guard share (or, if it is
    below already, at no less than it has); with the class that limits it."""
    guarded = [c for c in classes if c.guard_share > 0 and c.pi is not None and not c.discretionary]
    if not guarded:
        return 1.0, None
    busy = [c for c in classes if c.pi is not None]
    total = sum(c.weight for c in busy)
    if total <= 0:
        return 1.0, None
    shift = {c.name: math.log(new[c.name] / c.weight) for c in busy}
    need = {c.name: min(c.guard_share, c.weight / total) - 1e-9 for c in guarded}

    def violator(frac: float) -> Candidate | None:
        w = {c.name: c.weight * math.exp(frac * shift[c.name]) for c in busy}
        t = sum(w.values())
        return next((c for c in guarded if w[c.name] / t < need[c.name]), None)

    limit = violator(1.0)
    if limit is None:
        return 1.0, None
    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        if violator(mid) is None:
            lo = mid
        else:
            hi = mid
    return lo, limit


def _someone_on_the_line(c: Candidate, classes: list[Candidate]) -> bool:
    """Whether a busy class at least as important as ``c`` meets its goal
    without beating it: raising ``c`` toward its base would take CPU share
    from it and push it into missing."""
    return any(
        d is not c and not d.discretionary and d.pi is not None and d.importance <= c.importance
        and d.pi >= 1.0 - d.deadband
        for d in classes
    )


def arbitrate(classes: list[Candidate], relax_rate: float = RELAX_RATE) -> dict[str, Change]:
    """New weights for every candidate, each with the reason for it."""
    new = {c.name: c.weight for c in classes}
    why: dict[str, tuple[str, str]] = {}
    receivers = sorted((c for c in classes if c.missing), key=lambda c: (c.importance, -(c.pi or 0.0)))
    if not receivers:
        for c in classes:
            target = min(max(c.base_weight, c.min_weight), c.max_weight)
            if target > c.weight and _someone_on_the_line(c, classes):
                why[c.name] = ("below base, waits: a class at least as important is only just meeting its goal",
                               "hold")
                continue
            if abs(c.weight - target) >= 0.5:
                shift = max(-relax_rate, min(relax_rate, math.log(target / c.weight)))
                relaxed = float(target) if abs(shift) < relax_rate else c.weight * math.exp(shift)
                if relaxed < c.weight and c.pi is not None and not c.discretionary:
                    # come down only as far as the class is predicted to keep beating its goal
                    relaxed = max(relaxed, min(c.weight, c.weight * c.pi / (1.0 - c.deadband)))
                if abs(relaxed - c.weight) > 1e-9:
                    new[c.name] = relaxed
                    why[c.name] = (f"all goals met: relax toward base {target}", "relax")
        frac, limit = _guarded_fraction(classes, new)
        if limit is not None:
            note = f"{limit.name} keeps CPU share {limit.guard_share:.2f} (missed its goal below it)"
            for c in classes:
                if c.name in why and why[c.name][1] == "relax":
                    if frac <= 1e-3:
                        new[c.name] = c.weight
                        why[c.name] = (f"all goals met, holds: {note}", "hold")
                    else:
                        new[c.name] = c.weight * (new[c.name] / c.weight) ** frac
                        why[c.name] = (f"{why[c.name][0]}, slowed: {note}", "relax")
    else:
        top = receivers[0].importance
        for r in receivers:
            if r.importance > top:
                if r.name not in why:
                    why[r.name] = (f"missing ({_pi(r)}) but waits for importance {top}", "waits")
                continue
            want = min(float(r.max_weight), r.proposed)
            if want <= new[r.name]:
                if want < new[r.name]:
                    new[r.name] = max(float(r.min_weight), want)
                    why[r.name] = (f"missing ({_pi(r)}), controller eases as PI falls", "ease")
                elif r.weight >= r.max_weight:
                    why[r.name] = (f"missing ({_pi(r)}) at max_weight {r.max_weight}", "hold")
                continue
            need = want - new[r.name]
            gained = 0.0
            givers: list[str] = []
            donor_list = donors_for(r, classes)
            for d in donor_list:
                if need - gained <= 1e-9:
                    break
                give = min(new[d.name] - _floor(d, r, classes, new, need - gained), need - gained)
                if give <= 1e-9:
                    continue
                new[d.name] -= give
                gained += give
                givers.append(d.name)
                if d.name not in why or why[d.name][1] != "donor":
                    why[d.name] = (f"donor to {r.name} (imp {r.importance}, {_pi(r)})", "donor")
            donors = {d.name for d in donor_list}
            bystanders = [c.name for c in classes if c.name != r.name and c.name not in donors and c.pi is not None]
            voluntary = any(_voluntary(d, r) for d in donor_list if d.pi is not None)
            if need - gained > 1e-9 and not bystanders and not voluntary:
                # Donors are at their floor, but everyone who would lose CPU
                # share to a higher weight is a donor that must give (less
                # important or discretionary): take share, not weight.
                gained = need
                givers = givers or sorted(donors)
            if gained > 0:
                new[r.name] += gained
                why[r.name] = (f"receiver ({_pi(r)}): takes from {', '.join(givers)}", "receiver")
            else:
                why[r.name] = (f"missing ({_pi(r)}), no donor can give", "hold")
    changes: dict[str, Change] = {}
    for c in classes:
        w = min(float(c.max_weight), max(float(c.min_weight), new[c.name]))
        reason, role = why.get(c.name, ("", "hold"))
        if not reason:
            if c.missing:
                reason = f"missing ({_pi(c)})"
            elif c.pi is None:
                reason = "idle: holds"
            elif c.beating:
                reason = f"beats goal ({_pi(c)}): holds"
            else:
                reason = f"meets goal ({_pi(c)}): holds"
        changes[c.name] = Change(c.name, c.weight, w, reason, role)
    return changes
