"""Building deterministic consoles for tests: simulated host, manual clock,
fixed wall time, host name, kernel and loop time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from wlmtui.backends.sim import SimHost
from wlmtui.cli import demo_policy
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import Policy, load_policy
from wlmtui.snapshot import Snapshot
from wlmtui.ui.app import WlmApp

EPOCH = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC

COMMENTED_POLICY = """\
# Production policy - owned by the SRE team.
# Every comment here must survive a save from the console.

interval: 1s        # one tick a second
backend: sim

simulation:
  cpus: 2
  seed: 3           # same seed, same run

defaults:
  gains: {kp: 0.5, ki: 0.5}   # default gains
  deadband: 5%

service_classes:
  # --- the web tier ---
  - name: web                 # customer facing
    cgroup: wlm/web
    goal:
      type: response_time     # p95 of requests
      target: 300ms
      percentile: 95
    importance: 1             # protect first
    min_weight: 20
    max_weight: 2000
    gains:
      kp: 0.6                 # tuned after the May incident
      ki: 0.7
    simulate:
      demand: [[0, 0.3], [4, 1.5]]
      period: 60
      service_ms: 20

  # --- batch ---
  - name: batch
    cgroup: wlm/batch
    goal: {type: velocity, target: 25}   # flow-style goal
    importance: 4
    simulate:
      demand: 2

  - name: agents              # LLM agents share this budget
    type: token
    budget: 10000/hour        # per calendar hour
    importance: 2
    signal_file: agents.signal.json
    counter_file: agents.counters.jsonl
# end of policy
"""


class FixedLoop(ControlLoop):
    """A loop whose published tick time is fixed (screenshots must not vary)."""

    def step(self) -> Snapshot:
        return replace(super().step(), loop_ms=0.25)


def sim_loop(policy: Policy, tokens=None) -> FixedLoop:
    clock = ManualClock()
    wall = lambda: EPOCH + clock()  # noqa: E731
    loop = FixedLoop(policy, SimHost(policy, wall=wall), tokens=tokens, clock=clock, wall=wall)
    loop.host, loop.kernel = "demo-host", "6.8.0-test"
    return loop


def demo_app(tmp: Path, ledger: bool = True, **kw) -> WlmApp:
    """The demo policy on the simulated host, with the real token ledger (state in ``tmp``)."""
    policy = demo_policy(str(tmp))
    tokens = None
    if ledger:
        from wlmtui.tokens.ledger import TokenLedger

        tokens = TokenLedger(policy, durable=False)
    return WlmApp(sim_loop(policy, tokens=tokens), autostart=False, **kw)


def file_app(path: Path, tokens=None, **kw) -> WlmApp:
    return WlmApp(sim_loop(load_policy(path), tokens=tokens), autostart=False, **kw)


def write_policy(tmp: Path, text: str = COMMENTED_POLICY, name: str = "policy.yaml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class FakeStatus:
    """What the token subsystem publishes, as far as the console knows."""

    signal: str = "green"
    consumed: int = 0
    budget: int = 10000
    remaining: int = 10000
    rate: float = 0.0  # tokens per minute
    projected: float = 0.0
    window_end: float = EPOCH + 3600
    pi: float | None = None


class FakeTokens:
    """A TokenSource for the loop: fixed statuses, honours emergency stops."""

    def __init__(self, statuses: dict[str, FakeStatus]):
        self.statuses = dict(statuses)
        self.stopped: set[str] = set()

    def tick(self, now: float) -> dict:
        return {n: (replace(s, signal="black") if n in self.stopped else s) for n, s in self.statuses.items()}

    def reconfigure(self, policy) -> None:
        pass

    def set_stop(self, name: str, stop: bool) -> None:
        (self.stopped.add if stop else self.stopped.discard)(name)
