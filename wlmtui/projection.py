"""Each class's plot: its performance index against the CPU share it held.

z/OS WLM decides with plots, not formulas: before it takes from a donor or
gives to a receiver it reads off each class's own curve what the PI will be
after the move. This module keeps that curve per service class, learned from
the class's own ticks, and answers one question: *at what CPU share is this
class projected to reach a given PI?*

* **Points.** A tick adds a point (share, ln PI) only when the share stayed
  within ``SETTLED_SPREAD`` over the ticks the PI was measured over (a
  response-time PI covers a window of seconds), at the window's mean share.
* **Bins.** Shares fall into geometric bins (``BIN_RATIO`` apart). A bin
  keeps an exponential average of ln PI (a worse point counts
  ``POINT_ALPHA_WORSE``, a better one ``POINT_ALPHA_BETTER``: misses are
  believed at once, recoveries slowly)
  and a confidence weight that fades with ``HALF_LIFE_S``: a changed load is
  relearned, an old curve is forgotten.
* **Load levels.** Where the class reports transactions, points are kept per
  load level (half-octave bins of its completion rate), since the share a
  queue needs grows with its arrival rate.
* **Fit.** Per level, a weighted isotonic regression: PI never rises with
  more share. Between fitted bins the projection interpolates in (ln share,
  ln PI).
* **Projection** (:meth:`ClassPlot.share_for`): the share at which the fit
  crosses the target PI, when the level's own points bracket it (basis
  ``plot``). Otherwise a safe upper bound from other levels whose own points
  bracket it (basis ``bound``): a level with a higher rate needs at least as
  much share, and a level with rate ``r0 < r`` needing ``s0`` means ``s0 · r / r0`` is enough
  (the share a queue needs is at most proportional to its rate). If the
  class met the target at every share it was seen at, the smallest such
  share is enough (``plot``, an upper bound); if it missed at all of them,
  there is no projection and the arbiter explores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

#: neighbouring share bins differ by this factor
BIN_RATIO = 1.06
#: smallest share a bin covers
MIN_SHARE = 0.002
#: a bin's confidence halves in this many seconds
HALF_LIFE_S = 600.0
#: weight of a new point in its bin's average: a worse PI is believed at once,
#: a better one slowly (a plot that errs, errs on the side of the goal)
POINT_ALPHA_WORSE = 0.6
POINT_ALPHA_BETTER = 0.3
#: a bin counts in the fit from this confidence on
MIN_CONFIDENCE = 0.6
#: the share must stay within this factor over the PI's window to make a point
SETTLED_SPREAD = 1.12
#: load levels are half-octaves of the completion rate
LEVELS_PER_OCTAVE = 2
#: a rate must leave its level by this much (in levels) before the level changes
LEVEL_HYSTERESIS = 1.0


class Projection(NamedTuple):
    """The share at which a class is projected to reach ``target_pi``."""

    share: float | None  # None: no projection (missed at every share seen)
    #: "plot": the class's own points bracket the target; "seen": it met the
    #: target at every share it was seen at (the smallest is enough, maybe
    #: more than it needs); "bound": from another load level; "none"
    basis: str
    target_pi: float
    level: int | None = None  # the load level the answer came from
    pi_there: float | None = None  # "seen": the fitted PI at ``share`` (how far from the knee it is)

    @property
    def known(self) -> bool:
        return self.share is not None


NO_PROJECTION = Projection(None, "none", 1.0)


def bin_of(share: float) -> int:
    return max(0, int(math.floor(math.log(max(share, MIN_SHARE) / MIN_SHARE) / math.log(BIN_RATIO))))


def bin_centre(b: int) -> float:
    return MIN_SHARE * BIN_RATIO ** (b + 0.5)


@dataclass(slots=True)
class _Bin:
    ln_pi: float
    confidence: float
    share_sum: float  # confidence-weighted shares, for the bin's mean share
    at: float  # time of the last update (for fading)

    def faded(self, now: float) -> float:
        return self.confidence * 0.5 ** (max(0.0, now - self.at) / HALF_LIFE_S)

    def share(self) -> float:
        return self.share_sum / self.confidence if self.confidence > 0 else 0.0


@dataclass(slots=True)
class _Level:
    bins: dict[int, _Bin] = field(default_factory=dict)
    rate_sum: float = 0.0
    rate_n: float = 0.0

    @property
    def rate(self) -> float | None:
        return self.rate_sum / self.rate_n if self.rate_n else None


class FitPoint(NamedTuple):
    share: float
    pi: float  # the fitted (monotone) PI
    raw_pi: float  # the bin's own average
    confidence: float


@dataclass(slots=True)
class ClassPlot:
    """One class's learned PI-versus-share curve, per load level."""

    levels: dict[int | None, _Level] = field(default_factory=dict)
    _recent: list[float] = field(default_factory=list)  # shares of the last ticks, newest last
    _level: int | None = None  # the level in use (kept until the rate leaves it by LEVEL_HYSTERESIS)

    def clear(self) -> None:
        self.levels.clear()
        self._recent.clear()
        self._level = None

    def level(self, rate: float | None) -> int | None:
        """The load level of ``rate``, with hysteresis: a rate that jitters
        about a level boundary does not split the points between two levels."""
        if rate is None or rate <= 0:
            return None
        pos = LEVELS_PER_OCTAVE * math.log2(rate)
        if self._level is None or abs(pos - self._level) > LEVEL_HYSTERESIS:
            self._level = round(pos)
        return self._level

    def observe(self, now: float, share: float | None, pi: float | None, rate: float | None,
                window_ticks: int = 1) -> bool:
        """Note this tick's share (held over the interval just measured) and
        PI; returns whether a point was added."""
        if share is None or share <= 0 or pi is None:
            self._recent.clear()
            return False
        self._recent.append(share)
        del self._recent[:-max(1, window_ticks)]
        if len(self._recent) < window_ticks or max(self._recent) > min(self._recent) * SETTLED_SPREAD:
            return False
        mean = sum(self._recent) / len(self._recent)
        level = self.levels.setdefault(self.level(rate), _Level())
        if rate:
            level.rate_sum += rate
            level.rate_n += 1
        b = bin_of(mean)
        ln_pi = math.log(pi)
        old = level.bins.get(b)
        if old is None:
            level.bins[b] = _Bin(ln_pi, 1.0, mean, now)
        else:
            conf = old.faded(now)
            mean_share = old.share()
            old.ln_pi += (POINT_ALPHA_WORSE if ln_pi > old.ln_pi else POINT_ALPHA_BETTER) * (ln_pi - old.ln_pi)
            old.confidence = conf + 1.0
            old.share_sum = mean_share * conf + mean
            old.at = now
        return True

    # -- the fit ------------------------------------------------------------
    def fit(self, rate: float | None, now: float) -> list[FitPoint]:
        """The monotone fit of the level ``rate`` falls in, by share."""
        level = self.levels.get(self.level(rate))
        return _fit(level, now) if level is not None else []

    def share_for(self, target_pi: float, rate: float | None, now: float) -> Projection:
        """The share at which the class is projected to reach ``target_pi``."""
        key = self.level(rate)
        own = self.levels.get(key)
        answers: list[tuple[float, str]] = []
        if own is not None:
            pts = _fit(own, now)
            share, bracketed = _solve(pts, target_pi)
            if share is not None:
                if bracketed:
                    return Projection(share, "plot", target_pi, key)
                answers.append((share, "seen", pts[0].pi))
        if key is not None and rate:
            for k, level in self.levels.items():
                if k is None or k == key or level.rate is None:
                    continue
                s, bracketed = _solve(_fit(level, now), target_pi)
                if s is not None and bracketed:  # a level's real need (not only a share it was seen to meet at)
                    answers.append((s if level.rate >= rate else s * rate / level.rate, "bound", None))
        if answers:
            share, basis, there = min(answers, key=lambda a: a[0])
            return Projection(min(1.0, share), basis, target_pi, key, there)
        return Projection(None, "none", target_pi, key)

    def pi_at(self, share: float, rate: float | None, now: float) -> float | None:
        """The projected PI at ``share`` on the class's own level (None: no fit)."""
        pts = self.fit(rate, now)
        if not pts:
            return None
        if share <= pts[0].share:
            return pts[0].pi
        if share >= pts[-1].share:
            return pts[-1].pi
        for a, b in zip(pts, pts[1:]):
            if a.share <= share <= b.share:
                f = math.log(share / a.share) / math.log(b.share / a.share)
                return math.exp(math.log(a.pi) + f * (math.log(b.pi) - math.log(a.pi)))
        return pts[-1].pi


def _fit(level: _Level, now: float) -> list[FitPoint]:
    """Weighted pool-adjacent-violators: ln PI non-increasing in share."""
    raw = []
    for b in sorted(level.bins):
        bn = level.bins[b]
        conf = bn.faded(now)
        if conf >= MIN_CONFIDENCE:
            raw.append((bn.share(), bn.ln_pi, conf))
    blocks: list[list[float]] = []  # [weighted sum of ln pi, weight, first index, last index]
    for i, (_, y, w) in enumerate(raw):
        blocks.append([y * w, w, i, i])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            top = blocks.pop()
            blocks[-1][0] += top[0]
            blocks[-1][1] += top[1]
            blocks[-1][3] = top[3]
    out = []
    for total, weight, first, last in blocks:
        y = total / weight
        for i in range(first, last + 1):
            s, raw_y, conf = raw[i]
            out.append(FitPoint(s, math.exp(y), math.exp(raw_y), conf))
    return out


def _solve(pts: list[FitPoint], target_pi: float) -> tuple[float | None, bool]:
    """The smallest share at which the fit reaches ``target_pi``, and whether
    points on both sides bracket it (else it is the smallest share seen that
    reaches it, an upper bound)."""
    if not pts:
        return None, False
    if pts[0].pi <= target_pi:
        return pts[0].share, False
    for a, b in zip(pts, pts[1:]):
        if a.pi > target_pi >= b.pi:
            if b.pi == a.pi or b.share == a.share:
                return b.share, True
            f = (math.log(target_pi) - math.log(a.pi)) / (math.log(b.pi) - math.log(a.pi))
            return a.share * (b.share / a.share) ** f, True
    return None, False


#: a class is steered to this projected PI: 1 − margin (p95 at 80 % of the goal)
MARGIN = 0.2
#: how far (ln share) a class beating its goal may go below the least share
#: its plot has seen, per settled window: exploration where the plot is blind
EXPLORE = math.log(1.07)
#: ... and only while its PI there is this factor below the target: close to
#: the knee a small step can cost a large PI
EXPLORE_HEADROOM = 1.3
#: far below the target it may step further: ln share by this fraction of
#: ln(target / PI), up to ``EXPLORE_MAX`` (a queue's PI ~ 1 / (share − load)
#: falls faster than share rises, so this stays short of the target)
EXPLORE_SCALE = 0.3
EXPLORE_MAX = math.log(1.2)


def floor_share(share: float, pi: float | None, proj: Projection, explore: bool,
                margin: float = MARGIN) -> float:
    """The least CPU share a class may be left with when it gives share away
    voluntarily or weights relax: where its projected PI reaches ``1 − margin``.

    Near the line (PI ≥ 1 − margin) it keeps what it has. Where the plot
    does not know the curve below the current share (``seen``: met at every
    share seen; ``bound``: only another load level's safe bound; ``none``: no
    point yet), it may go one exploration step further (``EXPLORE``, more
    where its PI is far below the target: ``EXPLORE_SCALE``) — unless its PI at the
    least share seen is within ``EXPLORE_HEADROOM`` of the target (the knee is
    near) — and only when ``explore`` (its share has stood still for the
    whole window its PI was measured over, so the next point will tell)."""
    if pi is None:
        return 0.0
    if pi >= 1.0 - margin:
        return max(share, proj.share or 0.0)
    if proj.basis == "plot":
        return proj.share
    # "seen" and "bound" are upper bounds (enough, maybe more than needed): explore below them
    known = proj.share if proj.share is not None else share
    near_knee = proj.pi_there is not None and proj.pi_there > (1.0 - margin) / EXPLORE_HEADROOM
    if explore and not near_knee and share <= known * SETTLED_SPREAD:
        step = max(EXPLORE, min(EXPLORE_MAX, EXPLORE_SCALE * math.log((1.0 - margin) / pi)))
        return min(share, known) * math.exp(-step)
    return min(share, known)
