"""The decision core: observation in, decision out — pure and clock-injected.

``Engine.tick(observation, now)`` computes each class's performance index,
runs its PI controller from the weight in force, and lets the arbiter turn
the proposals into new weights with reasons. Same inputs, same outputs: the
engine reads no clock and does no I/O. Operator edits arrive as method calls
made by the loop thread between ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from wlmtui import controller
from wlmtui.arbiter import MISS_MARGIN, Candidate, arbitrate, busy_shares
from wlmtui.goals import Performance, ResponseWindow, performance
from wlmtui.observation import ClassMeasure, Observation
from wlmtui.policy import Policy, ServiceClass


#: seconds over which the memory of a class's last miss fades by half
MISS_MEMORY_HALF_LIFE_S = 900.0
#: a class near its guard share that beats its goal this well (PI at or below
#: this) forgets its last miss: the load that made it miss is gone
MISS_STALE_PI = 0.5


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
    #: CPU share the class keeps while weights relax (learned from its last miss; 0 = none)
    guard_share: float = 0.0

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
    missing: bool = False  # judged missing at the last tick
    miss_share: float = 0.0  # its CPU share when it last began to miss (0: never)
    miss_at: float = 0.0

    def guard_share(self, now: float) -> float:
        """The share to keep while relaxing: the last miss's, plus the margin, fading."""
        if self.miss_share <= 0.0:
            return 0.0
        fade = 0.5 ** (max(0.0, now - self.miss_at) / MISS_MEMORY_HALF_LIFE_S)
        guard = min(0.95, self.miss_share * (1.0 + MISS_MARGIN)) * fade
        return guard if guard >= 0.01 else 0.0


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


class Engine:
    """Controllers plus arbiter, holding only what the next tick needs."""

    def __init__(self, policy: Policy, weights: Mapping[str, int | None] | None = None):
        self.policy = policy
        self.paused = False
        self._state: dict[str, _ClassState] = {}
        self._sync(weights or {})

    # -- commands (called by the loop thread between ticks) -----------------
    def set_policy(self, policy: Policy) -> None:
        """Adopt a new or edited policy; surviving classes keep their state."""
        self.policy = policy
        self._sync({})

    def pin(self, name: str, weight: int | None) -> None:
        """Pin a class's weight (``None`` releases it; control resumes from there)."""
        cls = self.policy.get(name)
        st = self._state.get(name)
        if cls is None or st is None:
            raise KeyError(name)
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
                    st.missing, st.miss_share = False, 0.0  # a new goal: what it missed no longer applies
            st.goal_text = cls.goal.describe()
            self._state[cls.name] = st

    # -- the tick -----------------------------------------------------------
    def tick(self, obs: Observation, now: float, token_pi: Mapping[str, float | None] | None = None) -> Decision:
        token_pi = token_pi or {}
        perfs: dict[str, Performance] = {}
        terms: dict[str, controller.Terms] = {}
        candidates: list[Candidate] = []
        guards: dict[str, float] = {}
        for cls in self.policy.classes:
            st = self._state[cls.name]
            m = obs.classes.get(cls.name)
            rt_values = None
            if cls.goal.type == "response_time":
                if m is not None:
                    st.rt.add(now, m.rt_samples)
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
            if st.pinned is None:
                guards[cls.name] = st.guard_share(now)
                candidates.append(Candidate(
                    name=cls.name, importance=cls.importance, pi=perf.pi, weight=st.weight, proposed=t.proposed,
                    min_weight=cls.min_weight, max_weight=cls.max_weight, base_weight=cls.base_weight,
                    deadband=cls.deadband, max_step=cls.max_step, discretionary=cls.is_discretionary,
                    guard_share=guards[cls.name],
                ))
        if any(guards.values()):
            candidates = self._forget_stale_misses(candidates, guards)
        changes = arbitrate(candidates)
        self._remember_misses(candidates, now)
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
            out.append(ClassDecision(
                name=cls.name, importance=cls.importance, goal=st.goal_text, goal_type=cls.goal.type,
                status=status_of(perf, cls.deadband), perf=perf, terms=terms[cls.name], old_weight=old,
                weight=round(st.weight) if cls.has_cgroup else None, reason=reason, role=role,
                pinned=st.pinned is not None, measure=obs.classes.get(cls.name),
                guard_share=guards.get(cls.name, 0.0),
            ))
        return Decision(classes=tuple(out), paused=self.paused)

    def _forget_stale_misses(self, candidates: list[Candidate], guards: dict[str, float]) -> list[Candidate]:
        """A class close to its guard share that beats its goal by far
        (PI ≤ ``MISS_STALE_PI``) forgets its last miss, so weights can relax on."""
        shares = busy_shares({c.name: c.weight for c in candidates}, candidates)
        out = []
        for c in candidates:
            if (c.guard_share and c.pi is not None and c.pi <= MISS_STALE_PI
                    and shares.get(c.name, 1.0) <= c.guard_share * 1.1):
                self._state[c.name].miss_share = guards[c.name] = 0.0
                c = c._replace(guard_share=0.0)
            out.append(c)
        return out

    def _remember_misses(self, candidates: list[Candidate], now: float) -> None:
        """Note the CPU share at which a class *begins* to miss its goal (not
        the later ticks of the same episode: its window still holds the slow
        seconds while the weight has already risen)."""
        shares: dict[str, float] | None = None
        for c in candidates:
            st = self._state[c.name]
            if c.missing and not st.missing:
                if shares is None:
                    shares = busy_shares({d.name: d.weight for d in candidates}, candidates)
                if c.name in shares:
                    st.miss_share, st.miss_at = shares[c.name], now
            st.missing = c.missing
