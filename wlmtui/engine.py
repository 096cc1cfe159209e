"""The decision core: observation in, decision out — pure and clock-injected.

``Engine.tick(observation, now)`` computes each class's performance index,
runs its PI controller from the weight in force, and lets the arbiter turn
the proposals into new weights with reasons. Same inputs, same outputs: the
engine reads no clock and does no I/O. Operator edits arrive as method calls
made by the loop thread between ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from wlmtui import controller
from wlmtui.arbiter import Candidate, arbitrate, busy_shares
from wlmtui.goals import MIN_SAMPLES, Performance, ResponseWindow, percentile, performance
from wlmtui.observation import ClassMeasure, Observation
from wlmtui.policy import Policy, ServiceClass
from wlmtui.projection import MARGIN, NO_PROJECTION, ClassPlot, FitPoint, Projection, floor_share
from wlmtui.sensors import QUIET_MEASURES

#: how steady a share must have been over the PI's window for a class to explore below it
EXPLORE_SPREAD = 1.02


class ClassDecision(NamedTuple):
    name: str
    importance: int
    goal: str
    goal_type: str
    status: str  # missing / meeting / beating / idle / absent / token
    perf: Performance
    terms: controller.Terms
    old_weight: int | None
    weight: int | None
    reason: str
    role: str
    pinned: bool = False
    measure: ClassMeasure | None = None
    #: its share of the busy classes' weight over the interval just measured (None: idle)
    share: float | None = None
    #: where its plot projects PI 1 − margin (the share a receiver asks for)
    projection: Projection = NO_PROJECTION
    #: the least share it may be left with by a voluntary donation or relaxation
    floor_share: float = 0.0
    #: its plot at its current load level: fitted points, by share
    plot: tuple[FitPoint, ...] = ()
    #: completions per second the plot's load level is chosen by (None: not by load)
    load_rate: float | None = None

    @property
    def pi(self) -> float | None:
        return self.perf.pi

    @property
    def changed(self) -> bool:
        return self.weight is not None and self.old_weight is not None and self.weight != self.old_weight


@dataclass(frozen=True, slots=True)
class Decision:
    classes: tuple[ClassDecision, ...]
    paused: bool = False

    def get(self, name: str) -> ClassDecision | None:
        return next((c for c in self.classes if c.name == name), None)

    def changes(self) -> list[str]:
        return [f"{c.name} {c.old_weight}→{c.weight}: {c.reason}" for c in self.classes if c.changed]


@dataclass(slots=True)
class _ClassState:
    weight: float
    ctl: controller.ControllerState = field(default_factory=controller.ControllerState)
    rt: ResponseWindow = field(default_factory=ResponseWindow)
    pinned: int | None = None
    goal_text: str = ""
    plot: ClassPlot = field(default_factory=ClassPlot)
    shares: list[float] = field(default_factory=list)  # its share over the last ticks, newest last


def status_of(perf: Performance, deadband: float) -> str:
    if perf.source == "missing":
        return "absent"
    if perf.pi is None:
        return "idle"
    if perf.pi > 1 + deadband:
        return "missing"
    if perf.pi < 1 - deadband:
        return "beating"
    return "meeting"


def _clamp_weight(cls: ServiceClass, w: float) -> float:
    return min(float(cls.max_weight), max(float(cls.min_weight), w))


def recovered(cls: ServiceClass, m: ClassMeasure | None) -> bool:
    """Whether a class its response-time window judges missing met its goal
    over the latest interval alone (enough completions, its percentile or
    mean within the goal): the share it holds now is enough, and the window
    lags by the slow seconds it still holds."""
    if m is None or len(m.rt_samples) < MIN_SAMPLES:
        return False
    values = list(m.rt_samples)
    latest = percentile(values, cls.goal.percentile) if cls.goal.percentile else sum(values) / len(values)
    return latest <= cls.goal.value


_TERMS = ClassDecision._fields.index("terms")


def _with_terms(row: ClassDecision, terms: controller.Terms) -> ClassDecision:
    """``row._replace(terms=terms)``, without _replace's per-call overhead."""
    return tuple.__new__(ClassDecision, (*row[:_TERMS], terms, *row[_TERMS + 1:]))


class _Quiet(NamedTuple):
    """A tick whose decision is its own fixed point, and what it was made of."""

    policy: Policy
    paused: bool
    measures: tuple  # (name, ClassMeasure | None) in policy order: quiet singletons
    token_pi: dict
    rt_classes: tuple[str, ...]  # classes whose response-time window still takes a tick
    integrating: tuple[int, ...]  # rows whose controller runs on a constant PI (terms depend on dt)
    decision: "Decision"


class Engine:
    """Controllers plus arbiter, holding only what the next tick needs.

    **Idle skip** (``skip_unchanged``, on by default): when every class was
    quiet on the last tick — counters unmoved and nothing reported (the
    shared measures of :data:`wlmtui.sensors.QUIET_MEASURES`), no PI from a
    response-time window — and that tick changed nothing (no weight,
    controller state or share history moved), a tick with the same quiet
    measures again gives the same decision rows: only the response-time
    windows take their (empty) tick, and the controllers of classes with a
    constant PI (discretionary, token) step again, since their terms depend
    on the interval's length. Those classes are not missing their goal, so
    their proposal does not reach the arbiter's result. That is exactly what
    the full computation gives (``tests/test_engine_skip.py`` checks it
    against ``skip_unchanged=False``); a pin, a policy change or pause, a
    class that moves or a token PI that changes ends the skip.
    """

    def __init__(self, policy: Policy, weights: Mapping[str, int | None] | None = None, *,
                 skip_unchanged: bool = True):
        self.policy = policy
        self.paused = False
        self.skip_unchanged = skip_unchanged
        #: ticks answered by the idle skip (for benches and tests)
        self.skipped = 0
        self._quiet: _Quiet | None = None
        self._state: dict[str, _ClassState] = {}
        self._sync(weights or {})

    # -- commands (called by the loop thread between ticks) -----------------
    def set_policy(self, policy: Policy) -> None:
        """Adopt a new or edited policy; surviving classes keep their state."""
        self.policy = policy
        self._quiet = None
        self._sync({})

    def pin(self, name: str, weight: int | None) -> None:
        """Pin a class's weight (``None`` releases it; control resumes from there)."""
        cls = self.policy.get(name)
        st = self._state.get(name)
        if cls is None or st is None:
            raise KeyError(name)
        self._quiet = None
        if weight is None:
            st.pinned = None
        else:
            st.pinned = int(_clamp_weight(cls, weight))
            st.weight = float(st.pinned)

    def pinned(self, name: str) -> int | None:
        st = self._state.get(name)
        return st.pinned if st else None

    def weight(self, name: str) -> int | None:
        st = self._state.get(name)
        return round(st.weight) if st else None

    def _sync(self, weights: Mapping[str, int | None]) -> None:
        old = self._state
        self._state = {}
        for cls in self.policy.classes:
            st = old.get(cls.name)
            if st is None:
                start = weights.get(cls.name) or cls.base_weight
                st = _ClassState(weight=_clamp_weight(cls, float(start)))
            else:
                st.weight = _clamp_weight(cls, st.weight)
                if st.pinned is not None:
                    st.pinned = int(_clamp_weight(cls, st.pinned))
                if st.goal_text != cls.goal.describe():
                    st.plot.clear()  # a new goal: the PI it learned no longer applies
            st.goal_text = cls.goal.describe()
            self._state[cls.name] = st

    # -- the tick -----------------------------------------------------------
    def tick(self, obs: Observation, now: float, token_pi: Mapping[str, float | None] | None = None) -> Decision:
        token_pi = token_pi or {}
        if self.skip_unchanged:
            same = self._same_as_quiet(obs, now, token_pi)
            if same is not None:
                self.skipped += 1
                return same
            before = {name: (st.weight, st.ctl, len(st.shares)) for name, st in self._state.items()}
            decision = self._tick(obs, now, token_pi)
            self._quiet = self._quiet_tick(obs, token_pi, decision, before)
            return decision
        return self._tick(obs, now, token_pi)

    def _same_as_quiet(self, obs: Observation, now: float, token_pi: Mapping[str, float | None]) -> Decision | None:
        q = self._quiet
        if q is None or q.policy is not self.policy or q.paused != self.paused or obs.dt <= 0:
            return None
        get = obs.classes.get
        for name, m in q.measures:
            if get(name) is not m:
                return None
        if token_pi != q.token_pi:
            return None
        for name in q.rt_classes:  # what the full tick does to an idle window: one empty tick
            self._state[name].rt.add(now, (), 0)
        if not q.integrating:
            return q.decision
        rows = list(q.decision.classes)
        classes = self.policy.classes
        for i in q.integrating:
            cls, row = classes[i], rows[i]
            st = self._state[cls.name]
            st.ctl, t = controller.step(
                st.ctl, row.perf.pi, st.weight, gains=cls.gains, deadband=cls.deadband, max_step=cls.max_step,
                dt=obs.dt, w_min=cls.min_weight, w_max=cls.max_weight,
            )
            if st.pinned is not None:
                t = controller.Terms(t.error, t.p, t.i, t.step, float(st.pinned), t.windup, "pinned")
            rows[i] = _with_terms(row, t)
        return Decision(classes=tuple(rows), paused=q.decision.paused)

    def _quiet_tick(self, obs: Observation, token_pi: Mapping[str, float | None], decision: Decision,
                    before: dict) -> _Quiet | None:
        """The tick just computed, if the next one with the same quiet inputs
        must give the same decision; else ``None``."""
        if obs.dt <= 0:
            return None
        measures = []
        integrating = []
        for i, (cls, c) in enumerate(zip(self.policy.classes, decision.classes)):
            m = obs.classes.get(cls.name)
            if m is not None and not any(m is q for q in QUIET_MEASURES):
                return None
            if c.perf.source == "rt-measured":
                return None
            st = self._state[cls.name]
            if before.get(cls.name) != (st.weight, st.ctl, len(st.shares)):
                return None
            if c.perf.pi is not None and cls.has_cgroup and not cls.is_token and c.perf.source != "missing":
                if c.status == "missing":
                    return None  # a receiver's proposal (which depends on dt) is what the arbiter gives it
                integrating.append(i)
            measures.append((cls.name, m))
        rt = tuple(c.name for c in self.policy.classes
                   if c.goal.type == "response_time" and obs.classes.get(c.name) is not None)
        return _Quiet(self.policy, self.paused, tuple(measures), dict(token_pi), rt, tuple(integrating), decision)

    def _tick(self, obs: Observation, now: float, token_pi: Mapping[str, float | None]) -> Decision:
        perfs: dict[str, Performance] = {}
        terms: dict[str, controller.Terms] = {}
        candidates: list[Candidate] = []
        rates: dict[str, float | None] = {}
        windows: dict[str, int] = {}
        for cls in self.policy.classes:
            st = self._state[cls.name]
            m = obs.classes.get(cls.name)
            rt_values = None
            if cls.goal.type == "response_time":
                if m is not None:
                    st.rt.add(now, m.rt_samples, m.completions)
                rt_values = st.rt.values()
            perf = performance(cls, m, rt_values, obs.dt, token_pi.get(cls.name))
            perfs[cls.name] = perf
            if cls.is_token or not cls.has_cgroup:
                terms[cls.name] = controller.Terms(held="no cgroup" if not cls.has_cgroup else "token class")
                continue
            if perf.source == "missing":
                st.ctl = controller.ControllerState()
                terms[cls.name] = controller.Terms(proposed=st.weight, held="cgroup missing")
                continue
            st.ctl, t = controller.step(
                st.ctl, perf.pi, st.weight, gains=cls.gains, deadband=cls.deadband, max_step=cls.max_step,
                dt=obs.dt, w_min=cls.min_weight, w_max=cls.max_weight,
            )
            if st.pinned is not None:
                t = controller.Terms(t.error, t.p, t.i, t.step, float(st.pinned), t.windup, "pinned")
            terms[cls.name] = t
            if perf.source == "rt-measured":  # the plot's load level: completions per second
                rates[cls.name] = st.rt.rate(obs.dt)
                windows[cls.name] = max(1, st.rt.ticks())
            recovering = False
            if perf.source == "rt-measured" and perf.pi is not None and perf.pi > 1.0 + cls.deadband:
                recovering = recovered(cls, m)
            if st.pinned is None:
                candidates.append(Candidate(
                    name=cls.name, importance=cls.importance, pi=perf.pi, weight=st.weight, proposed=t.proposed,
                    min_weight=cls.min_weight, max_weight=cls.max_weight, base_weight=cls.base_weight,
                    deadband=cls.deadband, max_step=cls.max_step, discretionary=cls.is_discretionary,
                    recovering=recovering,
                ))
        shares = busy_shares({c.name: c.weight for c in candidates}, candidates)
        learned: dict[str, tuple[float | None, Projection, float, tuple[FitPoint, ...]]] = {}
        for i, c in enumerate(candidates):
            if c.discretionary:
                continue
            candidates[i], learned[c.name] = self._project(c, shares.get(c.name), rates.get(c.name),
                                                           windows.get(c.name, 1), now)
        changes = arbitrate(candidates)
        out: list[ClassDecision] = []
        for cls in self.policy.classes:
            st = self._state[cls.name]
            perf = perfs[cls.name]
            old = round(st.weight) if cls.has_cgroup else None
            reason, role = "", "hold"
            ch = changes.get(cls.name)
            if st.pinned is not None:
                reason, role = f"pinned at {st.pinned} by operator", "pinned"
            elif ch is not None:
                reason, role = ch.reason, ch.role
                if self.paused:
                    reason, role = f"paused (would be {ch.new:.0f}: {ch.reason})", "paused"
                else:
                    st.weight = ch.new
            elif cls.has_cgroup:
                reason = terms[cls.name].held or "holds"
            else:
                reason = "token budget only (no cgroup)"
            share, proj, floor, plot = learned.get(cls.name, (shares.get(cls.name), NO_PROJECTION, 0.0, ()))
            out.append(ClassDecision(
                name=cls.name, importance=cls.importance, goal=st.goal_text, goal_type=cls.goal.type,
                status=status_of(perf, cls.deadband), perf=perf, terms=terms[cls.name], old_weight=old,
                weight=round(st.weight) if cls.has_cgroup else None, reason=reason, role=role,
                pinned=st.pinned is not None, measure=obs.classes.get(cls.name),
                share=share, projection=proj, floor_share=floor, plot=plot, load_rate=rates.get(cls.name),
            ))
        return Decision(classes=tuple(out), paused=self.paused)

    def _project(self, c: Candidate, share: float | None, rate: float | None, window: int, now: float):
        """Feed the class's plot with the interval just measured, and read off
        it where the class reaches PI 1 − margin."""
        st = self._state[c.name]
        if c.recovering:  # its window still holds the slow seconds of a share it no longer has
            st.plot.observe(now, None, None, rate)
        else:  # settled over the window and the tick before it (requests that finish in the
            st.plot.observe(now, share, c.pi, rate, window + 1)  # window arrived up to a tick earlier)
        if share is None or c.pi is None:
            st.shares.clear()
            return c, (share, NO_PROJECTION, 0.0, ())
        st.shares.append(share)
        del st.shares[:-window]
        steady = len(st.shares) >= window and max(st.shares) <= min(st.shares) * EXPLORE_SPREAD
        proj = st.plot.share_for(1.0 - MARGIN, rate, now)
        floor = floor_share(share, c.pi, proj, steady)
        c = c._replace(floor_share=floor, need_share=proj.share, basis=proj.basis if proj.known else "")
        return c, (share, proj, floor, tuple(st.plot.fit(rate, now)))
