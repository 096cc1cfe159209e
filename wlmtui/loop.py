"""The control loop: sense → decide → act → publish, once per interval.

One thread runs it (a Textual thread worker in the console, the main thread
headless) and it is the only writer of engine state. Commands queued by the
console or by signal handlers are applied at the start of the next tick.
"""

from __future__ import annotations

import platform
import queue
import threading
import time
from dataclasses import replace
from typing import Callable, Protocol

from wlmtui import commands as cmd
from wlmtui.backends.base import ActuatorError, Backend
from wlmtui.classify.commands import MoveProcess, apply_move
from wlmtui.engine import Engine
from wlmtui.observation import RawSample
from wlmtui.policy import Policy, PolicyError, load_policy
from wlmtui.sensors import derive
from wlmtui.snapshot import Event, Snapshot


class TokenSource(Protocol):
    """What the loop needs from the token subsystem."""

    def tick(self, now: float) -> dict: ...
    def reconfigure(self, policy: Policy) -> None: ...
    def set_stop(self, name: str, stop: bool) -> None: ...


class ManualClock:
    """A clock that moves only when told to (tests, ``--once`` on the simulated host)."""

    def __init__(self, start: float = 0.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def cgroup_map(policy: Policy) -> dict[str, str]:
    return {c.name: c.cgroup for c in policy.classes if c.cgroup is not None}


class ControlLoop:
    def __init__(self, policy: Policy, backend: Backend, *, tokens: TokenSource | None = None,
                 classifier=None, arm=None, dry_run: bool = False, create: bool = True,
                 interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.policy = policy
        self.backend = backend
        self.tokens = tokens
        self.classifier = classifier  # wlmtui.classify.Classifier, or None
        self.arm = arm  # wlmtui.arm.receiver.ArmReceiver (transaction reports), or None
        self.arm_totals = {"malformed": 0, "unknown_class": 0, "unattributed": 0}
        self.dry_run = dry_run
        self.create = create
        self.interval_override = interval
        self.clock = clock
        self.wall = wall
        self.commands: queue.Queue[cmd.Command] = queue.Queue()
        self.tick_count = 0
        self.dirty = False
        self._pending: list[Event] = []
        self._prev: RawSample | None = None
        self._written: dict[str, int] = {}
        #: the per-class errors of the last tick, when it wrote nothing (see _act)
        self._settled: list[str] | None = None
        self.host = platform.node()
        self.kernel = platform.release()
        for warning in backend.attach(cgroup_map(policy), create=create and not dry_run):
            self._event("error", warning)
        weights = {name: backend.read_weight(name) for name in cgroup_map(policy)}
        self.engine = Engine(policy, weights)
        self._written = {n: w for n, w in weights.items() if w is not None}
        self.last: Snapshot | None = None

    @property
    def interval(self) -> float:
        return self.interval_override or self.policy.interval

    def _event(self, kind: str, text: str) -> None:
        self._pending.append(Event(self.wall(), kind, text))

    def send(self, command: cmd.Command) -> None:
        """Thread-safe: queue a command for the start of the next tick."""
        self.commands.put(command)

    # -- commands -------------------------------------------------------------
    def _adopt(self, policy: Policy) -> None:
        for warning in self.backend.attach(cgroup_map(policy), create=self.create and not self.dry_run):
            self._event("error", warning)
        if hasattr(self.backend, "set_policy"):
            self.backend.set_policy(policy)
        self.policy = policy
        self.engine.set_policy(policy)
        if self.tokens is not None:
            self.tokens.reconfigure(policy)
        if self.classifier is not None:
            self.classifier.reconfigure(policy)  # the next tick reclassifies every process
        if self.arm is not None:
            from wlmtui.arm.attribute import CgroupAttributor

            self.arm.set_classes([c.name for c in policy.classes])
            self.arm.attribute = CgroupAttributor.from_policy(policy)

    def _apply(self, c: cmd.Command) -> None:
        if isinstance(c, cmd.UpdateClass):
            if self.policy.get(c.cls.name) is None:
                self._event("error", f"edit refused: no class named {c.cls.name!r}")
                return
            self._adopt(self.policy.with_class(c.cls))
            self.dirty = True
            self._event("edit", f"{c.cls.name}: settings changed (kp {c.cls.gains.kp:g}, ki {c.cls.gains.ki:g}, "
                                f"importance {c.cls.importance}, weights {c.cls.min_weight}..{c.cls.max_weight})")
        elif isinstance(c, cmd.Pin):
            try:
                self.engine.pin(c.name, c.weight)
            except KeyError:
                self._event("error", f"pin refused: no class named {c.name!r}")
                return
            what = f"pinned at {self.engine.pinned(c.name)}" if c.weight is not None else "released to the controller"
            self._event("edit", f"{c.name}: {what}")
        elif isinstance(c, cmd.Pause):
            self.engine.paused = c.paused
            self._event("edit", "control paused: observing only" if c.paused else "control resumed")
        elif isinstance(c, cmd.Reload):
            self.reload()
        elif isinstance(c, cmd.ReplacePolicy):
            self._adopt(c.policy)
            self.dirty = not c.saved
            self._event("edit", f"policy saved to {c.policy.source}" if c.saved else "policy replaced")
        elif isinstance(c, MoveProcess):
            if self.classifier is None:
                self._event("error", "move refused: no process classifier on this host")
            else:
                self._event(*apply_move(self.classifier, c))
        elif isinstance(c, cmd.EmergencyStop):
            if self.tokens is None or self.policy.get(c.name) is None or not self.policy.get(c.name).is_token:
                self._event("error", f"emergency stop refused: {c.name!r} is not a token class")
                return
            self.tokens.set_stop(c.name, c.stop)
            self._event("token", f"{c.name}: emergency stop (black)" if c.stop else f"{c.name}: emergency stop released")

    def reload(self) -> bool:
        """Re-read the policy file; a bad file is reported and the old policy stays."""
        source = self.policy.source
        if source is None:
            self._event("error", "reload: this policy has no file to reload from")
            return False
        try:
            policy = load_policy(source)
        except PolicyError as exc:
            self._event("error", f"reload refused, old policy stays in force: {len(exc.problems)} problem(s)")
            for p in exc.problems:
                self._event("error", str(p))
            return False
        self._adopt(policy)
        self.dirty = False
        self._event("reload", f"policy reloaded from {source}: {policy.summary()}")
        return True

    # -- the tick -------------------------------------------------------------
    def prime(self) -> None:
        """Take the first sample, so the first tick has a full interval of deltas."""
        self._prev = self.backend.sample(self.clock())

    def step(self) -> Snapshot:
        started = time.perf_counter()
        while True:
            try:
                self._apply(self.commands.get_nowait())
            except queue.Empty:
                break
        classify = None
        if self.classifier is not None:  # place processes first: this sample counts them in their class
            classify = self.classifier.tick(self.wall())
            for kind, text in classify.event_lines():
                self._event(kind, text)
        sample = self.backend.sample(self.clock())
        if self.arm is not None:
            sample = self._with_transactions(sample)
        obs = derive(self._prev, sample)
        self._prev = sample
        wall_now = self.wall()
        token_status: dict = {}
        if self.tokens is not None:
            token_status = self.tokens.tick(wall_now)
        token_pi = {name: getattr(s, "pi", None) for name, s in token_status.items()}
        skipped = self.engine.skipped
        decision = self.engine.tick(obs, sample.t, token_pi)
        errors = list(sample.errors)
        if self.engine.skipped != skipped and self._settled is not None:
            errors += self._settled  # same rows as last tick, which wrote nothing: nothing to write
        else:
            self._settled = self._act(decision, errors)
        self.tick_count += 1
        events, self._pending = tuple(self._pending), []
        snap = Snapshot(
            tick=self.tick_count, wall=wall_now, dt=obs.dt, loop_ms=(time.perf_counter() - started) * 1000.0,
            interval=self.interval, policy=self.policy, decision=decision, backend_kind=self.backend.kind,
            backend_label=self.backend.label, host=self.host, kernel=self.kernel, system=obs.system,
            tokens=token_status, events=events, errors=tuple(errors), paused=self.engine.paused,
            dry_run=self.dry_run, dirty=self.dirty, classify=classify,
        )
        self.last = snap
        return snap

    def _act(self, decision, errors: list[str]) -> list[str] | None:
        """Write the weights that changed; returns the per-class errors when
        nothing was (or failed to be) written — then a tick that repeats
        these rows has nothing to do — else ``None``."""
        missing: list[str] = []
        settled = True
        for c, cls in zip(decision.classes, self.policy.classes):  # the engine keeps policy order
            if c.measure is not None and not c.measure.present:
                missing.append(f"{c.name}: cgroup missing")
                errors.append(missing[-1])
            if c.weight is None or c.status == "absent" or self._written.get(c.name) == c.weight:
                continue
            settled = False
            if c.changed and c.role != "relax":
                self._event("decision", f"{c.name} {c.old_weight}→{c.weight}: {c.reason}")
            elif c.changed and c.weight == cls.base_weight:
                self._event("decision", f"{c.name} back at its base weight {c.weight}")
            if self.dry_run:
                self._written[c.name] = c.weight
                continue
            try:
                self.backend.set_weight(c.name, c.weight)
                self._written[c.name] = c.weight
            except ActuatorError as exc:
                self._event("error", str(exc))
                errors.append(str(exc))
        return missing if settled else None

    def _with_transactions(self, sample: RawSample) -> RawSample:
        """Add the response times applications reported (ARM) to the sample."""
        batch = self.arm.drain(self.wall())
        if batch.error:
            self._event("error", f"transaction reports: {batch.error}")
        for key in self.arm_totals:
            self.arm_totals[key] += getattr(batch, key)
        if not batch.per_class:
            return sample
        times = {n: tuple(v) for n, v in sample.transactions.items()}
        failed = dict(sample.failed)
        for name, done in batch.per_class.items():
            good = tuple(c.seconds for c in done if c.status in ("good", "unknown"))
            times[name] = times.get(name, ()) + good
            failed[name] = failed.get(name, 0) + len(done) - len(good)
        return replace(sample, transactions=times, failed=failed, completions={})

    def run(self, stop: threading.Event, publish: Callable[[Snapshot], None],
            sleep: Callable[[float], bool] | None = None) -> None:
        """Tick every interval until ``stop`` is set; a tick in progress finishes."""
        wait = sleep or stop.wait
        if self._prev is None:
            self.prime()
        deadline = self.clock() + self.interval
        while not stop.is_set():
            if wait(max(0.0, deadline - self.clock())):
                break
            publish(self.step())
            deadline += self.interval
            now = self.clock()
            if deadline < now:  # fell behind (suspend, overload): skip, don't burst
                deadline = now + self.interval

    def close(self) -> None:
        """Release descriptors; the token ledger persists its state first."""
        if self.tokens is not None and hasattr(self.tokens, "close"):
            self.tokens.close()
        if self.classifier is not None:
            self.classifier.close()
        if self.arm is not None:
            self.arm.close()
        self.backend.close()


def with_interval(policy: Policy, interval: float | None) -> Policy:
    return replace(policy, interval=interval) if interval else policy
