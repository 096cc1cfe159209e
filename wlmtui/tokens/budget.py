"""Budget arithmetic and signal rules (pure: every function takes ``now``).

Per class, a :class:`BudgetState` carries the current window, the
model-weighted tokens consumed in it, and an exponentially weighted burn
rate. ``projected = consumed + rate × window_remaining``.

Burn rate
    Each tick adds the tokens counted since the previous tick, ``Δ``, over
    the elapsed ``dt``: ``rate += α·(Δ/dt − rate)`` with
    ``α = 1 − exp(−dt/τ)`` (``τ`` = :data:`RATE_TAU`, 5 minutes), so the
    rate follows the last few minutes whatever the tick interval. The very
    first tick of a class (nothing persisted) seeds the rate with the
    window's average so far, over at least ``τ``. The rate survives window
    resets: it describes the agents, not the window.

Signals (exactly; ``B`` is the class's own budget)
    * **black** — an operator stop, or ``consumed ≥ allowance + (hard_ceiling − 1)·B``
      (unpooled: ``consumed ≥ hard_ceiling·B``).
    * **red** — ``consumed ≥ allowance`` (unpooled: the budget is spent);
      stays red until the window resets. ``retry_after_s`` = seconds to reset.
    * **yellow** — ``projected > allowance_ahead`` or ``remaining < 10 %·B``.
    * from yellow (or red/black once they clear) back to **green** only when
      ``projected < allowance_ahead − 10 %·B`` (unpooled: < 90 % of budget)
      and ``remaining ≥ 10 %·B``; otherwise it stays yellow. No flapping.
    * **green** otherwise.

Pools — the rule
    Classes naming the same ``pool`` share the sum of their budgets,
    ``P = Σ B_j``. Each member sees the pool through an *allowance*: the pool
    minus what the other members hold. A member **more important** than the
    class (lower importance number) holds *at least its whole own budget*,
    whether or not it has spent it yet — that is its reserve; every other
    member (equal or less important) holds only what it has already spent::

        allowance(c)       = P − Σ_{imp_j < imp_c} max(B_j, C_j)  − Σ_{j≠c, imp_j ≥ imp_c} C_j
        allowance_ahead(c) = P − Σ_{imp_j < imp_c} max(B_j, J_j)  − Σ_{j≠c, imp_j ≥ imp_c} C_j

    (``C`` consumed, ``J`` projected.) The unpooled rules above then apply
    with these allowances. Consequences, each covered by a test:

    * a lone class has ``allowance = B``: the plain rules;
    * importance 1 may spend everything the others leave unspent, and no
      less important member can eat into importance 1's unspent budget;
    * the least important member gets at most its own budget, less whatever
      the more important members overspend or are projected to overspend —
      so when the pool gets tight it turns yellow, then red, first;
    * members of equal importance share each other's unspent budget first
      come, first served;
    * for members ``i`` more important than ``j``: ``i`` red implies ``j``
      red, and ``i`` yellow from its projection implies ``j`` yellow (the
      10 % low-water mark stays relative to each class's own budget);
    * red depends on consumption only, so it never clears inside a window.

    A pool only makes sense within one window: members whose window or
    ``window_tz`` differ from the pool's first member are budgeted alone
    (and the ledger reports it).

Performance index: ``pi = projected / allowance_ahead`` (1.0 = on budget),
capped at :data:`PI_CAP`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from wlmtui.tokens.windows import window_bounds

SIGNALS = ("green", "yellow", "red", "black")
RATE_TAU = 300.0  # seconds; time constant of the burn-rate EWMA
LOW_FRACTION = 0.10  # yellow when less than this share of the budget is left
CLEAR_MARGIN = 0.10  # back to green only when projected < allowance_ahead − this·B
PI_CAP = 100.0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """One class's budget bookkeeping (weighted tokens)."""

    window_start: float
    window_end: float
    consumed: float = 0.0  # model-weighted tokens counted in this window
    tokens: int = 0  # raw tokens counted in this window
    rate: float = 0.0  # EWMA of weighted tokens per second
    last_tick: float | None = None
    signal: str = "green"  # the signal last decided (hysteresis memory)
    pending: float = 0.0  # tokens seen at ticks with dt <= 0, folded in at the next tick

    def remaining_time(self, now: float) -> float:
        return max(0.0, self.window_end - now)

    def projected(self, now: float) -> float:
        return self.consumed + self.rate * self.remaining_time(now)

    def to_dict(self) -> dict:
        return {
            "window_start": self.window_start, "window_end": self.window_end,
            "consumed": self.consumed, "tokens": self.tokens, "rate": self.rate,
            "last_tick": self.last_tick, "signal": self.signal, "pending": self.pending,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "BudgetState | None":
        """``None`` when ``data`` is not a usable persisted state."""
        try:
            state = cls(
                window_start=float(data["window_start"]),
                window_end=float(data["window_end"]),
                consumed=float(data.get("consumed", 0.0)),
                tokens=int(data.get("tokens", 0)),
                rate=float(data.get("rate", 0.0)),
                last_tick=None if data.get("last_tick") is None else float(data["last_tick"]),
                signal=str(data.get("signal", "green")),
                pending=float(data.get("pending", 0.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        numbers = (state.window_start, state.window_end, state.consumed, state.rate, state.pending)
        if not all(math.isfinite(x) for x in numbers) or state.window_end <= state.window_start:
            return None
        if state.consumed < 0 or state.rate < 0 or state.signal not in SIGNALS:
            return None
        return state


def new_state(window: str, tz: str | None, now: float) -> BudgetState:
    start, end = window_bounds(window, now, tz)
    return BudgetState(window_start=start, window_end=end)


def roll(state: BudgetState, window: str, tz: str | None, now: float) -> tuple[BudgetState, bool]:
    """Move ``state`` to the window containing ``now``; ``True`` when it reset.

    * a later window: consumption restarts at 0 (rate and signal memory stay);
    * a window that contains the old start (same window, or a policy edit to
      a longer window such as day → month): consumption is kept;
    * an earlier window (the clock went back): nothing changes.
    """
    start, end = window_bounds(window, now, tz)
    if start == state.window_start and end == state.window_end:
        return state, False
    if start > state.window_start:
        return replace(state, window_start=start, window_end=end, consumed=0.0, tokens=0), True
    if start <= state.window_start < end:
        return replace(state, window_start=start, window_end=end), False
    return state, False


def absorb(state: BudgetState, weighted: float, raw: int, now: float, tau: float = RATE_TAU) -> BudgetState:
    """Add one tick's counted tokens and update the burn rate."""
    consumed = state.consumed + weighted
    tokens = state.tokens + raw
    if state.last_tick is None:
        elapsed = max(now - state.window_start, tau)
        return replace(state, consumed=consumed, tokens=tokens, rate=consumed / elapsed, last_tick=now, pending=0.0)
    dt = now - state.last_tick
    if dt <= 0:
        return replace(state, consumed=consumed, tokens=tokens, pending=state.pending + weighted)
    alpha = 1.0 - math.exp(-dt / tau)
    rate = state.rate + alpha * ((weighted + state.pending) / dt - state.rate)
    return replace(state, consumed=consumed, tokens=tokens, rate=max(0.0, rate), last_tick=now, pending=0.0)


def model_weight(model: str | None, weights: Iterable[tuple[str, float]]) -> float:
    """The class's weight for ``model``; unknown or missing models weigh 1."""
    if model is None:
        return 1.0
    for name, weight in weights:
        if name == model:
            return weight
    return 1.0


# ------------------------------------------------------------------ pools


@dataclass(frozen=True, slots=True)
class Demand:
    """One pool member's numbers at this tick."""

    name: str
    budget: float
    consumed: float
    projected: float
    importance: int


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a class may have consumed: by now, and by the window's end."""

    now: float
    ahead: float


def allowances(members: Sequence[Demand]) -> dict[str, Allowance]:
    """The pool rule (see module docs). A single member gets its own budget."""
    total = sum(m.budget for m in members)
    out: dict[str, Allowance] = {}
    for me in members:
        held_now = held_ahead = 0.0
        for other in members:
            if other is me:
                continue
            if other.importance < me.importance:
                held_now += max(other.budget, other.consumed)
                held_ahead += max(other.budget, other.projected)
            else:
                held_now += other.consumed
                held_ahead += other.consumed
        out[me.name] = Allowance(now=total - held_now, ahead=total - held_ahead)
    return out


# ------------------------------------------------------------------ signals


def classify(
    consumed: float,
    projected: float,
    allowance: Allowance,
    budget: float,
    *,
    hard_ceiling: float = 1.2,
    previous: str | None = "green",
    stopped: bool = False,
) -> str:
    """The signal for one class (module docs give the rules)."""
    if stopped:
        return "black"
    if consumed >= allowance.now + (hard_ceiling - 1.0) * budget:
        return "black"
    if consumed >= allowance.now:
        return "red"
    remaining = allowance.now - consumed
    if projected > allowance.ahead or remaining < LOW_FRACTION * budget:
        return "yellow"
    if previous not in (None, "green") and projected >= allowance.ahead - CLEAR_MARGIN * budget:
        return "yellow"
    return "green"


def performance_index(projected: float, allowance_ahead: float) -> float:
    if allowance_ahead <= 0:
        return PI_CAP  # nothing left to spend: as far off goal as we report
    return min(PI_CAP, max(0.0, projected) / allowance_ahead)


def exhaustion_in(remaining: float, rate_per_s: float, window_left: float) -> float | None:
    """Seconds until the allowance runs out at the current rate, if before the reset.

    ``0.0`` when it already has; ``None`` when it will not within this window.
    """
    if remaining <= 0:
        return 0.0
    if rate_per_s <= 0:
        return None
    eta = remaining / rate_per_s
    return eta if eta < window_left else None
