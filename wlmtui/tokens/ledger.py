"""The token ledger: the one object the control loop calls once per tick.

``TokenLedger.tick(now)`` tails every counter file, charges the new tokens
to their classes' windows, applies the signal and pool rules of
:mod:`wlmtui.tokens.budget`, writes each class's signal file, persists
offsets and consumption in one atomic write, and returns a frozen
:class:`TokenStatus` per token class. It never raises for bad input or I/O
trouble: problems land in ``TokenStatus.last_error`` and :class:`FileStatus`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

from wlmtui.policy import Policy, ServiceClass
from wlmtui.tokens import state as store
from wlmtui.tokens.budget import (
    Allowance,
    BudgetState,
    Demand,
    absorb,
    allowances,
    classify,
    exhaustion_in,
    model_weight,
    new_state,
    performance_index,
    roll,
)
from wlmtui.tokens.parse import Usage
from wlmtui.tokens.signal_file import build_document, write_signal
from wlmtui.tokens.tailer import CounterTailer, PollResult


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """Everything the console and JSON output show about one token class."""

    name: str
    signal: str
    consumed: float  # model-weighted tokens counted in this window
    tokens: int  # raw tokens counted in this window
    budget: float  # the class's own budget per window
    allowance: float  # its effective budget now: own budget, or the pool's allowance
    remaining: float  # allowance − consumed (negative when overspent)
    rate_per_s: float  # burn rate: weighted tokens per second (EWMA over ~5 min)
    rate_per_min: float  # the same per minute (the signal file's consumption_rate)
    projected: float  # consumed + rate × window_remaining
    pi: float  # projected / allowance ahead (1.0 = exactly on budget)
    window: str
    window_start: float
    window_end: float
    window_remaining: float  # seconds
    exhaustion_in: float | None  # seconds until the allowance runs out, if within this window
    retry_after_s: float | None  # red/black-by-ceiling: seconds to the reset
    importance: int
    pool: str | None = None
    stopped: bool = False
    stop_reason: str | None = None
    late_tokens: int = 0  # tokens read with a ts before the window they arrived in (since start)
    malformed: int = 0  # malformed lines in this class's counter file (running total)
    unknown: int = 0  # lines for classes not in the policy in that file (running total)
    counter_file: str | None = None
    signal_file: str | None = None
    last_error: str | None = None
    updated_at: float = 0.0

    def to_json(self) -> dict:
        """JSON-safe mapping of every field (non-finite numbers become None)."""
        out = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class FileStatus:
    """One counter file as last polled."""

    path: str
    classes: tuple[str, ...]
    missing: bool = True
    offset: int = 0
    lines: int = 0
    malformed: int = 0
    unknown: int = 0
    unknown_classes: tuple[tuple[str, int], ...] = ()
    events: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class _ClassRuntime:
    """Loop-private, mutable per-class bookkeeping (never leaves the ledger)."""

    cls: ServiceClass
    state: BudgetState | None  # None until the first tick decides the window
    late_tokens: int = 0
    errors: list[str] = field(default_factory=list)


def _token_classes(policy: Policy) -> list[ServiceClass]:
    return [c for c in policy.classes if c.is_token and c.goal.value and c.goal.window]


class TokenLedger:
    """Token budgets for every ``token`` class of a policy (see module docs).

    ``state_dir`` defaults to the policy's; ``clock`` is used only when
    :meth:`tick` is called without ``now``. ``durable=False`` skips fsync
    (tests, tmpfs). ``write_signals=False`` computes without touching signal
    files (dry runs).
    """

    def __init__(
        self,
        policy: Policy,
        state_dir: str | None = None,
        clock: Callable[[], float] = time.time,
        *,
        durable: bool = True,
        write_signals: bool = True,
    ):
        self.policy = policy
        self.state_dir = state_dir or policy.state_dir
        self.clock = clock
        self.durable = durable
        self.write_signals = write_signals
        self._tailers: dict[str, CounterTailer] = {}
        self._runtime: dict[str, _ClassRuntime] = {}
        self._files: dict[str, FileStatus] = {}
        self._last: dict[str, TokenStatus] = {}
        self._pending_error: str | None = None
        persisted, self._pending_error = store.load_state(self.state_dir)
        self._persisted_classes: dict = persisted["classes"]
        self._persisted_tailers: dict = persisted["tailers"]
        self._apply_policy(policy)

    # ------------------------------------------------------------ configuration

    def _apply_policy(self, policy: Policy) -> None:
        self.policy = policy
        classes = _token_classes(policy)
        wanted_files = sorted({c.counter_file for c in classes if c.counter_file})
        for path in list(self._tailers):
            if path not in wanted_files:
                self._tailers.pop(path).close()
                self._files.pop(path, None)
        for path in wanted_files:
            if path not in self._tailers:
                tailer = CounterTailer(path)
                saved = self._persisted_tailers.get(path)
                if isinstance(saved, dict):
                    tailer.import_state(saved)
                self._tailers[path] = tailer
        runtime: dict[str, _ClassRuntime] = {}
        for cls in classes:
            current = self._runtime.get(cls.name)
            if current is not None:
                runtime[cls.name] = _ClassRuntime(cls, current.state, current.late_tokens)
                continue
            saved = self._persisted_classes.get(cls.name)
            restored = BudgetState.from_dict(saved) if isinstance(saved, dict) else None
            runtime[cls.name] = _ClassRuntime(cls, restored)
        self._runtime = runtime
        # what was persisted is now owned by the live objects
        self._persisted_classes = {}
        self._persisted_tailers = {}

    def reconfigure(self, policy: Policy) -> None:
        """Adopt an edited or reloaded policy at the next tick.

        Consumption, rates and signal memory carry over by class name (a new
        budget applies to what was already spent); a class's window kind or
        zone changing to a longer window keeps its consumption, to a shorter
        one restarts it. New counter files are read from their beginning.
        """
        self._apply_policy(policy)

    # ------------------------------------------------------------ the tick

    def tick(self, now: float | None = None, injected: Iterable[Usage] = ()) -> dict[str, TokenStatus]:
        """One pass (see module docs). ``injected`` adds usage that did not
        come from a counter file (the simulated host)."""
        now = self.clock() if now is None else float(now)
        for rt in self._runtime.values():
            rt.errors = []
        if self._pending_error:
            for rt in self._runtime.values():
                rt.errors.append(self._pending_error)
            self._pending_error = None
        # 1. windows (a class restored from disk may have crossed several)
        for rt in self._runtime.values():
            window, tz = rt.cls.goal.window, rt.cls.window_tz
            try:
                if rt.state is None:
                    rt.state = new_state(window, tz, now)
                else:
                    rt.state, _ = roll(rt.state, window, tz, now)
            except Exception as exc:  # an unknown zone slipped past validation
                rt.errors.append(f"window: {exc}")
                if rt.state is None:
                    rt.state = new_state(window, None, now)
        # 2. read every counter file; dispatch records by their class
        cutoffs = {name: rt.state.window_start for name, rt in self._runtime.items()}
        weighted = dict.fromkeys(self._runtime, 0.0)
        raw = dict.fromkeys(self._runtime, 0)
        for path, tailer in self._tailers.items():
            try:
                result = tailer.poll(cutoffs)
            except Exception as exc:  # a bug must not stop the loop: report it
                result = PollResult(path=path, error=f"internal error while tailing: {exc!r}")
            self._charge(result.counted, weighted, raw)
            for u in result.late:
                if u.cls in self._runtime:
                    self._runtime[u.cls].late_tokens += u.tokens
            self._files[path] = self._file_status(path, tailer, result)
            if result.error:
                for rt in self._runtime.values():
                    if rt.cls.counter_file == path:
                        rt.errors.append(f"counter file: {result.error}")
        self._charge(injected, weighted, raw)
        # 3. budgets
        for name, rt in self._runtime.items():
            rt.state = absorb(rt.state, weighted[name], raw[name], now)
        # 4. pools and signals
        try:
            stops = store.stopped_classes(self.state_dir)
        except Exception as exc:  # pragma: no cover - listdir errors are already swallowed
            stops = {}
            for rt in self._runtime.values():
                rt.errors.append(f"stop flags: {exc}")
        granted = self._allowances(now)
        statuses: dict[str, TokenStatus] = {}
        for name, rt in self._runtime.items():
            statuses[name] = self._decide(rt, granted[name], stops.get(name), now)
        # 5. signal files, then state (one write: offsets + consumption together)
        if self.write_signals:
            for name, status in statuses.items():
                if status.signal_file:
                    try:
                        write_signal(status.signal_file, self._document(status, now), durable=self.durable)
                    except Exception as exc:  # OSError mostly; never let it stop the loop
                        rt = self._runtime[name]
                        rt.errors.append(f"signal file: {getattr(exc, 'strerror', None) or exc}")
        save_error = self.persist(now)
        final: dict[str, TokenStatus] = {}
        for name, status in statuses.items():
            errors = self._runtime[name].errors + ([save_error] if save_error else [])
            final[name] = replace(status, last_error="; ".join(errors) if errors else None)
        self._last = final
        return final

    def _charge(self, usage: Iterable[Usage], weighted: dict, raw: dict) -> None:
        for u in usage:
            rt = self._runtime.get(u.cls)
            if rt is None:
                continue
            weighted[u.cls] += u.tokens * model_weight(u.model, rt.cls.model_weights)
            raw[u.cls] += u.tokens

    def _allowances(self, now: float) -> dict[str, Allowance]:
        granted: dict[str, Allowance] = {}
        pools: dict[str, list[_ClassRuntime]] = {}
        for name, rt in self._runtime.items():
            budget = float(rt.cls.goal.value)
            granted[name] = Allowance(budget, budget)
            if rt.cls.pool:
                pools.setdefault(rt.cls.pool, []).append(rt)
        for pool, members in pools.items():
            lead = members[0].cls
            shared = []
            for rt in members:
                if (rt.cls.goal.window, rt.cls.window_tz or "UTC") != (lead.goal.window, lead.window_tz or "UTC"):
                    rt.errors.append(
                        f"pool {pool!r}: window {rt.cls.goal.window}/{rt.cls.window_tz or 'UTC'} differs from "
                        f"{lead.name!r}'s; budgeted alone"
                    )
                else:
                    shared.append(rt)
            demands = [
                Demand(rt.cls.name, float(rt.cls.goal.value), rt.state.consumed, rt.state.projected(now), rt.cls.importance)
                for rt in shared
            ]
            granted.update(allowances(demands))
        return granted

    def _decide(self, rt: _ClassRuntime, allow: Allowance, flag: store.StopFlag | None, now: float) -> TokenStatus:
        st, cls = rt.state, rt.cls
        budget = float(cls.goal.value)
        projected = st.projected(now)
        signal = classify(
            st.consumed, projected, allow, budget,
            hard_ceiling=cls.hard_ceiling, previous=st.signal, stopped=flag is not None,
        )
        rt.state = replace(st, signal=signal)
        left = st.remaining_time(now)
        retry = left if signal == "red" or (signal == "black" and flag is None) else None
        file_status = self._files.get(cls.counter_file) if cls.counter_file else None
        return TokenStatus(
            name=cls.name,
            signal=signal,
            consumed=st.consumed,
            tokens=st.tokens,
            budget=budget,
            allowance=allow.now,
            remaining=allow.now - st.consumed,
            rate_per_s=st.rate,
            rate_per_min=st.rate * 60.0,
            projected=projected,
            pi=performance_index(projected, allow.ahead),
            window=cls.goal.window,
            window_start=st.window_start,
            window_end=st.window_end,
            window_remaining=left,
            exhaustion_in=exhaustion_in(allow.now - st.consumed, st.rate, left),
            retry_after_s=retry,
            importance=cls.importance,
            pool=cls.pool,
            stopped=flag is not None,
            stop_reason=None if flag is None else (flag.reason or "operator stop"),
            late_tokens=rt.late_tokens,
            malformed=file_status.malformed if file_status else 0,
            unknown=file_status.unknown if file_status else 0,
            counter_file=cls.counter_file,
            signal_file=cls.signal_file,
            updated_at=now,
        )

    @staticmethod
    def _document(status: TokenStatus, now: float) -> dict:
        return build_document(
            cls=status.name,
            signal=status.signal,
            consumed=status.consumed,
            budget_total=status.allowance,
            window_end=status.window_end,
            rate_per_s=status.rate_per_s,
            exhaustion_s=status.exhaustion_in,
            retry_after_s=status.retry_after_s,
            now=now,
        )

    def _file_status(self, path: str, tailer: CounterTailer, result: PollResult) -> FileStatus:
        return FileStatus(
            path=path,
            classes=tuple(sorted(n for n, rt in self._runtime.items() if rt.cls.counter_file == path)),
            missing=result.missing,
            offset=tailer.offset,
            lines=tailer.total_lines,
            malformed=tailer.total_malformed,
            unknown=tailer.total_unknown,
            unknown_classes=result.unknown_classes or (self._files[path].unknown_classes if path in self._files else ()),
            events=result.events,
            error=result.error,
        )

    # ------------------------------------------------------------ persistence & access

    def persist(self, now: float | None = None) -> str | None:
        """Write offsets and consumption in one atomic file; the error, if any."""
        moment = self.clock() if now is None else now
        classes = {}
        for name, rt in self._runtime.items():
            if rt.state is None:
                continue
            entry = rt.state.to_dict()
            entry["window"] = rt.cls.goal.window
            entry["tz"] = rt.cls.window_tz
            classes[name] = entry
        tailers = {path: t.export_state() for path, t in self._tailers.items()}
        try:
            store.save_state(self.state_dir, tailers, classes, moment, durable=self.durable)
        except OSError as exc:
            return f"state not saved: {exc.strerror or exc} ({store.state_path(self.state_dir)})"
        return None

    def stop(self, cls: str, reason: str | None = None) -> str:
        """Emergency stop (honoured at the next tick); same as ``wlmtui tokens stop``."""
        return store.stop(self.state_dir, cls, reason, now=self.clock())

    def resume(self, cls: str) -> bool:
        return store.resume(self.state_dir, cls)

    def set_stop(self, name: str, stop: bool) -> None:
        """Set or clear the emergency stop (the loop's command path); errors are
        reported in the next tick's ``last_error``."""
        try:
            if stop:
                self.stop(name)
            else:
                self.resume(name)
        except OSError as exc:
            self._pending_error = f"emergency stop not {'set' if stop else 'cleared'}: {exc.strerror or exc}"

    @property
    def statuses(self) -> Mapping[str, TokenStatus]:
        """The statuses of the last tick."""
        return dict(self._last)

    @property
    def files(self) -> tuple[FileStatus, ...]:
        return tuple(self._files[p] for p in sorted(self._files))

    def close(self) -> None:
        """Persist and release file descriptors (call on shutdown)."""
        if self._runtime:
            self.persist()
        for tailer in self._tailers.values():
            tailer.close()
