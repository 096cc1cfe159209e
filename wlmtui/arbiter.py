"""Importance arbitration, in the manner of z/OS WLM: the controllers propose,
the arbiter decides, reading each class's plot before it moves weight.

Receivers are the classes missing their goal (PI > 1 + deadband), served by
importance, then by PI. Only receivers of the most important missing level
gain weight, and every unit of weight they gain is taken from donors, in
this order:

1. discretionary classes;
2. classes less important than the receiver (importance 5 before 4 …);
3. classes of any importance that beat their own goal (PI < 1 − deadband),
   and only down to their ``floor_share``: the CPU share at which their own
   plot projects PI ``1 − margin`` (``wlmtui.projection.floor_share``).

**One idea: the projection.** The engine hands every class's projection to
the arbiter as two shares of the busy classes' total weight: ``need_share``,
where its plot says it reaches PI ``1 − margin``, and ``floor_share``, the
least it may be left with by a voluntary donation or by relaxation. A
receiver with a projection asks for exactly its ``need_share`` — in one step
where donors can give it; a receiver without one (it missed at every share
it was seen at) explores by its PI controller's proposal. No donor goes
below ``min_weight`` or loses more than a factor ``max_step`` in one tick.
When every goal is met, weights relax toward ``base_weight`` by at most
``RELAX_RATE`` (in log space) per tick, scaled back so that no busy class
falls below its floor share.

**Short of the margin.** A class within its goal but above the target
(PI > ``1 − margin`` + deadband, one noisy window from a miss) is a
receiver too, served after the missing classes of its importance and only
at the most important missing level or above (invariant 2), and only by the
classes that must give — discretionary and less important ones, and of
those only the ones not missing their own goal (never by a peer:
invariant 4). It asks for its projected share where its plot says it
needs more, holds where its plot says it has enough, and without a
projection steps up in proportion to PI / target. Measured on the real
kernel (BENCHMARKS.md §6), this is what keeps a class that relaxed onto an
optimistic plot, or that starts near its knee, from missing a window first.

Weight is conserved between donors and receivers, with one exception: when
the donors are at their floor and every other busy class is a donor that
must give (less important or discretionary, not one donating voluntarily),
the receiver may still raise its own weight (to its projected need, or its
controller's proposal, up to ``max_weight``) — that takes CPU *share* from
the donors alone, which is what invariants 2–4 allow. Every change has a
reason, with the projection behind it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from wlmtui.projection import MARGIN

#: ln-weight per tick by which weights drift back to base when all goals are met
RELAX_RATE = 0.1
#: the PI a projection aims at
PROJECTION_TARGET = 1.0 - MARGIN


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
    #: the least share (of the busy classes' weight) it may be left with by a
    #: voluntary donation or relaxation; 0 = no limit
    floor_share: float = 0.0
    #: the share its plot projects reaches PI 1 − margin; None: no projection
    need_share: float | None = None
    #: where ``need_share`` comes from ("plot", "seen", "bound"; "" none)
    basis: str = ""
    #: missing by its window, but its latest interval already met the goal:
    #: the window still drains the slow seconds, so it holds instead of asking for more
    recovering: bool = False

    @property
    def missing(self) -> bool:
        return not self.discretionary and self.pi is not None and self.pi > 1.0 + self.deadband

    @property
    def beating(self) -> bool:
        return self.pi is not None and self.pi < 1.0 - self.deadband

    @property
    def short(self) -> bool:
        """Within its goal, but above the PI the projection steers to (by
        more than the deadband): one noisy window from a miss."""
        return (not self.discretionary and self.pi is not None and not self.missing
                and self.pi > PROJECTION_TARGET + self.deadband)


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
    """Donor candidates for one receiver, in the order they are asked. A
    class short of its margin (not missing) is served by the classes that
    must give only — discretionary and less important ones that are not
    missing their own goal — never by a peer."""
    # only busy classes give: an idle class's weight buys nobody CPU now, so
    # taking it would only cost the receiver's busy peers their share
    others = [c for c in classes if c.name != receiver.name and c.pi is not None]
    first = [c for c in others if c.discretionary]
    second = sorted(
        (c for c in others if not c.discretionary and c.importance > receiver.importance),
        key=lambda c: (-c.importance, c.pi if c.pi is not None else 0.0),
    )
    if not receiver.missing:  # a margin is not worth another class's goal
        return [c for c in first + second if not c.missing]
    taken = {c.name for c in first + second}
    third = sorted(
        (c for c in others if c.beating and not c.short and c.name not in taken),
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


def _weight_for_share(share: float, others: float) -> float:
    """The weight that holds ``share`` of the total beside ``others``' weight."""
    share = min(share, 0.999)
    return share * others / (1.0 - share)


def _floor(d: Candidate, receiver: Candidate, classes: list[Candidate], new: dict[str, float],
           gained: float) -> float:
    """The lowest weight this donor may reach this tick. Weight given to a
    receiver is conserved, so the busy classes' total is what ``new`` holds
    plus what the receiver has ``gained`` so far (not yet in ``new``): a
    voluntary donor keeps ``floor_share`` of that total."""
    floor = max(float(d.min_weight), d.weight / d.max_step)
    if _voluntary(d, receiver) and d.pi is not None and d.floor_share > 0:
        # keep the share at which its plot projects PI 1 − margin
        total = sum(new[c.name] for c in classes if c.pi is not None) + gained
        floor = max(floor, min(d.weight, d.floor_share * total))
    return floor


def _floored_fraction(classes: list[Candidate], new: dict[str, float]) -> tuple[float, Candidate | None]:
    """The largest fraction (in log space) of the relaxation moves in ``new``
    that leaves every busy class at or above its floor share (or, if it is
    below already, at no less than it has); with the class that limits it."""
    floored = [c for c in classes if c.floor_share > 0 and c.pi is not None and not c.discretionary]
    if not floored:
        return 1.0, None
    busy = [c for c in classes if c.pi is not None]
    total = sum(c.weight for c in busy)
    if total <= 0:
        return 1.0, None
    shift = {c.name: math.log(new[c.name] / c.weight) for c in busy}
    need = {c.name: min(c.floor_share, c.weight / total) - 1e-9 for c in floored}

    def violator(frac: float) -> Candidate | None:
        w = {c.name: c.weight * math.exp(frac * shift[c.name]) for c in busy}
        t = sum(w.values())
        return next((c for c in floored if w[c.name] / t < need[c.name]), None)

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


def _projected(c: Candidate) -> str:
    return f"projected PI {PROJECTION_TARGET:.2f} at {c.need_share:.0%} ({c.basis})"


def _relax(classes: list[Candidate], relax_rate: float, new: dict[str, float],
           why: dict[str, tuple[str, str]]) -> None:
    """Every goal is met: drift toward base, never below a class's floor share."""
    for c in classes:
        target = min(max(c.base_weight, c.min_weight), c.max_weight)
        if abs(c.weight - target) >= 0.5:
            shift = max(-relax_rate, min(relax_rate, math.log(target / c.weight)))
            new[c.name] = float(target) if abs(shift) < relax_rate else c.weight * math.exp(shift)
            why[c.name] = (f"all goals met: relax toward base {target}", "relax")
    frac, limit = _floored_fraction(classes, new)
    if limit is None:
        return
    note = f"{limit.name} keeps CPU share {limit.floor_share:.0%} (its plot: PI {PROJECTION_TARGET:.2f} there)"
    for c in classes:
        if c.name in why and why[c.name][1] == "relax":
            if frac <= 1e-3:
                new[c.name] = c.weight
                why[c.name] = (f"all goals met, holds: {note}", "hold")
            else:
                new[c.name] = c.weight * (new[c.name] / c.weight) ** frac
                why[c.name] = (f"{why[c.name][0]}, slowed: {note}", "relax")


def arbitrate(classes: list[Candidate], relax_rate: float = RELAX_RATE) -> dict[str, Change]:
    """New weights for every candidate, each with the reason for it."""
    new = {c.name: c.weight for c in classes}
    why: dict[str, tuple[str, str]] = {}
    missing = [c for c in classes if c.missing]
    top = min((c.importance for c in missing), default=None)
    # the classes missing their goal, and those short of their margin at the
    # most important missing level or above (served after the missing ones)
    receivers = sorted((c for c in classes if c.missing or (c.short and (top is None or c.importance <= top))),
                       key=lambda c: (c.importance, not c.missing, -(c.pi or 0.0)))
    moved = False
    for r in receivers:
        if r.missing and r.importance > top:
            if r.name not in why:
                why[r.name] = (f"missing ({_pi(r)}) but waits for importance {top}", "waits")
            continue
        if r.recovering:
            why[r.name] = (f"missing ({_pi(r)}) but recovering: its last interval met the goal", "hold")
            continue
        others = sum(new[c.name] for c in classes if c.pi is not None and c is not r)
        share = new[r.name] / (new[r.name] + others) if others else 1.0
        planned = r.need_share is not None and r.need_share > share * 1.02
        if planned:  # its plot says how much it needs: ask for that share of today's total, in one step
            want = min(float(r.max_weight), max(new[r.name], min(r.need_share, 0.999) * (new[r.name] + others)))
        elif not r.missing:
            if r.need_share is not None or not others:
                continue  # its plot says the share it holds is enough: one noisy window
            # no projection yet: a step in proportion to how far it is above the target
            want = min(float(r.max_weight), max(new[r.name], _weight_for_share(
                min(0.999, share * r.pi / PROJECTION_TARGET), others)))
        else:
            want = min(float(r.max_weight), r.proposed)
        if want <= new[r.name]:
            if want < new[r.name]:
                new[r.name] = max(float(r.min_weight), want)
                why[r.name] = (f"missing ({_pi(r)}), controller eases as PI falls", "ease")
            elif r.missing and r.weight >= r.max_weight:
                why[r.name] = (f"missing ({_pi(r)}) at max_weight {r.max_weight}", "hold")
            continue
        need = want - new[r.name]
        gained = 0.0
        givers: list[str] = []
        donor_list = donors_for(r, classes)
        for d in donor_list:
            if need - gained <= 1e-9:
                break
            give = min(new[d.name] - _floor(d, r, classes, new, gained), need - gained)
            if give <= 1e-9:
                continue
            new[d.name] -= give
            gained += give
            givers.append(d.name)
            if d.name not in why or why[d.name][1] != "donor":
                keeps = (f"; keeps ≥ {d.floor_share:.0%} (its plot: PI {PROJECTION_TARGET:.2f} there)"
                         if _voluntary(d, r) and d.floor_share > 0 else "")
                why[d.name] = (f"donor to {r.name} (imp {r.importance}, {_pi(r)}){keeps}", "donor")
        donors = {d.name for d in donor_list}
        bystanders = [c.name for c in classes if c.name != r.name and c.name not in donors and c.pi is not None]
        voluntary = any(_voluntary(d, r) for d in donor_list if d.pi is not None)
        if need - gained > 1e-9 and not bystanders and not voluntary:
            # Donors are at their floor, but everyone who would lose CPU
            # share to a higher weight is a donor that must give (less
            # important or discretionary): take share, not weight.
            if planned:  # the weight that holds the needed share beside what the donors keep
                others = sum(new[c.name] for c in classes if c.pi is not None and c is not r)
                gained = max(gained, min(float(r.max_weight), _weight_for_share(r.need_share, others))
                             - new[r.name])
            else:
                gained = need
            givers = givers or sorted(donors)
        if gained > 0:
            new[r.name] += gained
            moved = True
            how = _projected(r) if planned else "exploring by its controller" if r.missing else "exploring up"
            role = "receiver" if r.missing else f"short of its margin ({_pi(r)} > {PROJECTION_TARGET:.2f})"
            what = f"receiver ({_pi(r)}, {how})" if r.missing else f"{role}, {how}"
            why[r.name] = (f"{what}: takes from {', '.join(givers)}", "receiver")
        elif r.missing and why.get(r.name, ("", ""))[1] != "donor":  # (it may have given to a class short of its margin)
            why[r.name] = (f"missing ({_pi(r)}), no donor can give", "hold")
    if not missing and not moved:
        _relax(classes, relax_rate, new, why)
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
