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


# -- a process classifier's report, faked (the simulated host has none) ----------------
def fake_process(pid: int, exe: str, cmdline: str, cls: str | None, cpu: float | None, *, want: str | None = "",
                 rule: str | None = None, where: str | None = None, sticky: bool = False, state: str = "in place",
                 start: int | None = None):
    from wlmtui.classify import ProcessInfo

    return ProcessInfo(pid=pid, start=start if start is not None else 10_000 + pid, exe=exe, cmdline=cmdline,
                       cls=cls, want=cls if want == "" else want, rule=rule, where=where, sticky=sticky,
                       state=state, cpu=cpu)


DEMO_PROCESSES = (
    ("interactive", [
        (1201, "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx", 0.02, "interactive#1 exe=nginx", "demo.yaml:14"),
        (1202, "/usr/sbin/nginx", "nginx: worker process", 0.61, "interactive#1 exe=nginx", "demo.yaml:14"),
        (1203, "/usr/sbin/nginx", "nginx: worker process", 0.47, "interactive#1 exe=nginx", "demo.yaml:14"),
        (1310, "/usr/sbin/php-fpm8.2", "php-fpm: pool www", 0.33, "interactive#2 exe=php-fpm*", "demo.yaml:15"),
    ]),
    ("batch", [
        (2040, "/usr/bin/python3.11", "python3 /opt/etl/nightly.py --since yesterday", 1.34, "batch#1 cmdline=*etl*", "demo.yaml:22"),
        (2051, "/usr/bin/sort", "sort -S 2G /var/tmp/etl/part-0007", 0.41, "batch#1 cmdline=*etl*", "demo.yaml:22"),
    ]),
    ("reports", [
        (3300, "/usr/lib/jvm/java-17/bin/java", "java -Xmx2g -jar /opt/reports/reports.jar", 0.88,
         "reports#1 exe=java", "demo.yaml:30"),
    ]),
)


def fake_classify(snap: Snapshot, extra: tuple = ()):
    """A ClassifyReport for the demo policy: a few processes per class, one
    placed by hand (sticky) and one the rules would move."""
    from wlmtui.classify import ClassCount, ClassifyReport

    procs = []
    for cls, rows in DEMO_PROCESSES:
        for pid, exe, cmd, cpu, rule, where in rows:
            procs.append(fake_process(pid, exe, cmd, cls, cpu, rule=rule, where=where))
    procs.append(fake_process(2077, "/usr/bin/rsync", "rsync -a /srv/reports/ backup:/srv/reports/", "reports", 0.12,
                              sticky=True, want="reports", state="sticky (console)"))
    procs.append(fake_process(4410, "/usr/bin/gzip", "gzip -9 access.log.1", "interactive", None,
                              want="batch", rule="batch#2 exe=gzip", where="demo.yaml:23", state="would move"))
    procs += list(extra)
    procs.sort(key=lambda p: (p.cls or "", -(p.cpu or 0.0)))
    classes = []
    for c in snap.policy.classes:
        if not c.has_cgroup or c.is_token:
            continue
        mine = sorted((p for p in procs if p.cls == c.name), key=lambda p: -(p.cpu or 0.0))
        classes.append(ClassCount(c.name, len(mine), tuple(mine[:3])))
    return ClassifyReport(time=snap.wall, scan_ms=1.8, scanned=212, new=0, full=False, moved=(),
                          classes=tuple(classes), processes=tuple(procs), errors=(), events="proc connector",
                          rules=6)


def with_classify(snap: Snapshot, report=None) -> Snapshot:
    return replace(snap, classify=report if report is not None else fake_classify(snap))


def with_stalls(snap: Snapshot, stalls: dict[str, tuple[float, float, float]]) -> Snapshot:
    """The snapshot with some classes' cpu / memory / io stall replaced."""
    classes = []
    for c in snap.decision.classes:
        if c.name in stalls and c.measure is not None:
            cpu, mem, io = stalls[c.name]
            c = c._replace(measure=replace(c.measure, cpu_stall=cpu, mem_stall=mem, io_stall=io))
        classes.append(c)
    return replace(snap, decision=replace(snap.decision, classes=tuple(classes)))
