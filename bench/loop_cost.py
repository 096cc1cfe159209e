"""Loop cost: what one headless tick costs per class, against its floor.

    sudo python -m bench.loop_cost                  # 10, 100, 500 classes + 60 s headless CPU
    python -m bench.loop_cost --quick               # fewer rounds, 10 s headless
    python -m bench.loop_cost --fake                # a fake cgroupfs tree even as root
    python -m bench.loop_cost --profile             # cProfile of the 500-class tick, by module

**Tick.** ``ControlLoop.step()`` (commands → sense → decide → act →
snapshot) with the real backend: as root on real cgroups created below a
unique ``wlmtui-bench-<random>`` parent (in both hierarchies on a hybrid
host), otherwise on a fake cgroupfs tree in a temporary directory. The clock
is a ManualClock advanced by the 1 s interval before each step, so the
engine's windows hold what they would at a 1 s cadence.

**Floor**, measured in the same rounds: ``os.pread`` of exactly the files one
class needs (cpu.stat, cpu.pressure, memory.pressure, io.pressure on the
v2/unified side) from kept-open descriptors — the I/O the tick cannot avoid.
Goal: tick ≤ 3 × floor. Each round times the floor and the tick back to
back; every figure is the best of the rounds (on a shared host preemption
only ever adds time), and the median of the per-round ratios is shown beside.

``sense, proposed parser`` times a prototype of the parsing fix proposed in
BENCHMARKS.md on the same descriptors (:func:`proposed_sense`; not wlmtui's
code). The class cgroups are empty (idle), so the controllers hold; ``decide (busy)``
times ``Engine.tick`` on a synthetic observation in which every class is busy
and a third of them miss their goal, to show the decide cost when it works.

**Headless CPU**: ``python -m wlmtui --no-ui POLICY`` with 20 classes at a 1 s
interval as a subprocess; its CPU time (``/proc/PID/task/*/schedstat``) from
the first tick over ``--duration`` seconds. Goal < 0.5 % of a core. Beside
it, over the same window: an idle Python process waking at the same cadence
(the interpreter's own floor), the pread floor of 20 classes per second, and
the host's steal time (on a VM, task run time grows when the hypervisor
takes the vCPU away).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from bench.cgroups import run_bench
from bench.report import machine_line, table, verdict

ROOT = Path(__file__).resolve().parent.parent
COUNTER_FILES = ("cpu.stat", "cpu.pressure", "memory.pressure", "io.pressure")
RATIO_GOAL = 3.0
HEADLESS_GOAL_PCT = 0.5

# A mix of goals, so that every goal type's code runs.
_GOALS = (
    ("{type: response_time, target: 100ms, percentile: 95}", 1),
    ("{type: velocity, target: 20}", 3),
    ("{type: velocity, target: 40}", 2),
    ("{type: discretionary}", 5),
)


def policy_text(n: int, cgroup_root: str | None, interval: str = "1s") -> str:
    lines = [f"interval: {interval}"]
    if cgroup_root:
        lines.append(f"cgroup_root: {cgroup_root}")
    lines.append("service_classes:")
    for i in range(n):
        goal, imp = _GOALS[i % len(_GOALS)]
        lines += [f"  - name: c{i:03d}", f"    cgroup: c{i:03d}", f"    goal: {goal}"]
        if "discretionary" not in goal:
            lines.append(f"    importance: {imp}")
    return "\n".join(lines) + "\n"


def class_names(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


# ---------------------------------------------------------------- trees

class Tree:
    """Where n class cgroups live, and how to build a backend for them."""

    kind = ""  # "real v1", "real v2", "fake v2"
    cgroup_root: str | None = None  # for the policy
    cli: list[str] = []  # extra wlmtui arguments to find the classes

    def counter_dir(self, name: str) -> str:
        raise NotImplementedError

    def backend(self, policy):
        raise NotImplementedError


@contextmanager
def real_tree(names: list[str]) -> Iterator[Tree]:
    from bench.cgroups import bench_cgroups
    from wlmtui.backends.detect import select_backend

    with bench_cgroups(names) as bc:
        t = Tree()
        t.kind = f"real {bc.kind}"
        t.cgroup_root = bc.parent
        t.cli = ["--no-create"]
        t.counter_dir = bc.counter_dir  # type: ignore[method-assign]
        t.backend = lambda policy: select_backend("auto", policy)  # type: ignore[method-assign]
        t.bc = bc  # type: ignore[attr-defined]
        yield t


@contextmanager
def fake_tree(names: list[str]) -> Iterator[Tree]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_cgroupfs import FakeCgroupFs  # noqa: E402 - tests/ helper, on purpose

    from wlmtui.backends.cgroupfs import CgroupV2Backend

    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-fake-") as tmp:
        fs = FakeCgroupFs(Path(tmp) / "cg")
        for n in names:
            fs.add(n)
        t = Tree()
        t.kind = "fake v2"
        t.cli = ["--no-create", "--cgroup-root", str(fs.root)]
        t.counter_dir = lambda name: str(fs.path(name))  # type: ignore[method-assign]
        t.backend = lambda policy: CgroupV2Backend(str(fs.root), proc_pressure=str(fs.proc_pressure))  # type: ignore
        yield t


def use_real(force_fake: bool) -> tuple[bool, str]:
    if force_fake:
        return False, "--fake given"
    from bench.cgroups import available

    why = available()
    return (why is None), (why or "")


# ---------------------------------------------------------------- tick cost

def _total(data: bytes, start: int = 0) -> tuple[int, int]:
    i = data.index(b"total=", start)
    j = data.index(b"\n", i)
    return int(data[i + 6:j]), j


def proposed_sense(fds: list[int]) -> list[tuple[int, int, int, int, int, int, int]]:
    """A prototype of the parsing fix proposed in BENCHMARKS.md (not wlmtui's
    code): ``usage_usec`` from cpu.stat's first line, and only the two
    ``total=`` integers of each pressure file, parsed from bytes. Same
    preads as the floor, same counters as ``CgroupCounters``."""
    out = []
    for k in range(0, len(fds), 4):
        stat = os.pread(fds[k], 4096, 0)
        usage = int(stat[11:stat.index(b"\n")]) if stat.startswith(b"usage_usec ") else -1
        row = [usage]
        for fd in fds[k + 1:k + 4]:
            data = os.pread(fd, 4096, 0)
            some, end = _total(data)
            full = _total(data, end)[0] if b"full" in data[end:end + 6] else 0
            row += [some, full]
        out.append(tuple(row))
    return out


def _busy_observation(names: list[str]):
    from wlmtui.observation import ClassMeasure, Observation

    classes = {}
    for i, n in enumerate(names):
        stall = 0.10 if i % 3 == 0 else 0.01  # a third miss (PSI proxy / low velocity)
        classes[n] = ClassMeasure(usage=0.2, cpu_stall=stall, velocity=100 * 0.2 / (0.2 + stall))
    return Observation(dt=1.0, classes=classes)


def tick_cost(n: int, real: bool, rounds: int, budget_s: float) -> dict:
    from wlmtui.loop import ControlLoop, ManualClock
    from wlmtui.policy import parse_policy

    names = class_names(n)
    with (real_tree if real else fake_tree)(names) as tree:
        policy = parse_policy(policy_text(n, tree.cgroup_root))
        clock = ManualClock(1000.0)
        loop = ControlLoop(policy, tree.backend(policy), create=False, clock=clock)
        fds = [os.open(os.path.join(tree.counter_dir(c), f), os.O_RDONLY | os.O_CLOEXEC)
               for c in names for f in COUNTER_FILES]
        try:
            loop.prime()
            for _ in range(5):  # warm up
                clock.advance(1.0)
                loop.step()
            # iterations per timing block, so that a block takes ~budget_s
            started = time.perf_counter()
            clock.advance(1.0)
            loop.step()
            one = time.perf_counter() - started
            k = max(3, int(budget_s / max(one, 1e-6)))
            busy = _busy_observation(names)
            per = {"floor": [], "step": [], "sense": [], "decide_busy": [], "proposed": [], "ratio": []}
            for _ in range(rounds):
                t0 = time.perf_counter()
                for _ in range(k):
                    for fd in fds:
                        os.pread(fd, 4096, 0)
                t1 = time.perf_counter()
                for _ in range(k):
                    clock.advance(1.0)
                    loop.step()
                t2 = time.perf_counter()
                for _ in range(k):
                    clock.advance(1.0)
                    loop.backend.sample(clock())
                t3 = time.perf_counter()
                for _ in range(k):
                    clock.advance(1.0)
                    loop.engine.tick(busy, clock())
                t4 = time.perf_counter()
                for _ in range(k):
                    proposed_sense(fds)
                t5 = time.perf_counter()
                scale = 1e6 / (k * n)
                floor, step = (t1 - t0) * scale, (t2 - t1) * scale
                per["floor"].append(floor)
                per["step"].append(step)
                per["sense"].append((t3 - t2) * scale)
                per["decide_busy"].append((t4 - t3) * scale)
                per["proposed"].append((t5 - t4) * scale)
                per["ratio"].append(step / floor)
        finally:
            for fd in fds:
                os.close(fd)
            loop.close()
    # Best of the rounds: on a shared host, preemption only ever adds time.
    best = {key: min(v) for key, v in per.items() if key != "ratio"}
    ratio = best["step"] / best["floor"]
    return {"classes": n, "tree": tree.kind, "iterations": k, "rounds": rounds, **best, "ratio": ratio,
            "ratio_median": statistics.median(per["ratio"]), "pass": ratio <= RATIO_GOAL,
            "rounds_raw": per}


# ---------------------------------------------------------------- profile

def _profile_table(prof: cProfile.Profile, what: str, ticks: int, n: int, top: int) -> str:
    stats = pstats.Stats(prof)
    total = stats.total_tt
    by_module: dict[str, float] = {}
    rows = []
    for (file, line, func), (_cc, ncalls, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        mod = _module_of(file)
        by_module[mod] = by_module.get(mod, 0.0) + tt
        rows.append((tt, ct, ncalls, f"{mod}:{line}({func})"))
    rows.sort(reverse=True)
    per_tick = lambda s: s / ticks / n * 1e6  # noqa: E731 - µs per class per tick
    mods = sorted(by_module.items(), key=lambda kv: -kv[1])
    return "\n".join([
        f"cProfile of {what}: {ticks} ticks × {n} classes; profiled total "
        f"{per_tick(total):.1f} µs/class/tick (profiling inflates it)", "",
        table(["module", "self µs/class/tick", "share"],
              [[m, f"{per_tick(t):.2f}", f"{t / total:.0%}"] for m, t in mods[:10]]), "",
        table(["function", "self µs/class/tick", "cum µs/class/tick", "calls/tick"],
              [[f, f"{per_tick(tt):.2f}", f"{per_tick(ct):.2f}", f"{nc / ticks:.0f}"]
               for tt, ct, nc, f in rows[:top]])])


def profile_tick(n: int, real: bool, ticks: int = 100, top: int = 15) -> str:
    """cProfile of ``ControlLoop.step()`` on the tree, and of ``Engine.tick``
    on the all-busy observation, each summed by module."""
    from wlmtui.loop import ControlLoop, ManualClock
    from wlmtui.policy import parse_policy

    names = class_names(n)
    with (real_tree if real else fake_tree)(names) as tree:
        policy = parse_policy(policy_text(n, tree.cgroup_root))
        clock = ManualClock(1000.0)
        loop = ControlLoop(policy, tree.backend(policy), create=False, clock=clock)
        try:
            loop.prime()
            step_prof = cProfile.Profile()
            step_prof.enable()
            for _ in range(ticks):
                clock.advance(1.0)
                loop.step()
            step_prof.disable()
            busy = _busy_observation(names)
            busy_prof = cProfile.Profile()
            busy_prof.enable()
            for _ in range(ticks):
                clock.advance(1.0)
                loop.engine.tick(busy, clock())
            busy_prof.disable()
        finally:
            loop.close()
    return (_profile_table(step_prof, f"ControlLoop.step() ({tree.kind}, idle classes)", ticks, n, top) + "\n\n"
            + _profile_table(busy_prof, "Engine.tick (every class busy, a third missing)", ticks, n, top))


def _module_of(file: str) -> str:
    if file.startswith("~") or file.startswith("<"):
        return "builtins (os.pread, str methods, …)"
    p = Path(file)
    try:
        rel = p.resolve().relative_to(ROOT)
        return str(rel)
    except ValueError:
        return p.name


# ---------------------------------------------------------------- headless CPU

def proc_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (ns resolution from schedstat)."""
    total = 0.0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0]) / 1e9
        return total
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


IDLE_TICKER = ("import sys, time\n"
               "print('start', flush=True)\n"
               "t = time.monotonic()\n"
               "while True:\n"
               "    t += 1.0\n"
               "    time.sleep(max(0.0, t - time.monotonic()))\n"
               "    print('tick', flush=True)\n")


class _Watched:
    """A started process whose stdout is drained; ``first`` is set at its first tick line."""

    def __init__(self, argv: list[str], first_line_is_header: bool, env=None, spawn=None):
        self.argv = argv
        self.proc = (spawn or subprocess.Popen)(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                cwd=ROOT, env=env)
        self.lines: list[float] = []
        self.first = threading.Event()
        skip = 1 if first_line_is_header else 0

        def reader():
            for i, _line in enumerate(self.proc.stdout):
                self.lines.append(time.monotonic())
                if i >= skip:
                    self.first.set()
            self.first.set()

        threading.Thread(target=reader, daemon=True).start()

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{' '.join(self.argv[1:4])} exited ({self.proc.returncode}): {self.proc.stderr.read()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _steal_and_total() -> tuple[int, int]:
    """Host-wide (steal, total) jiffies from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def measure_together(watched: list[_Watched], duration: float, cpu=None) -> tuple[list[dict], float]:
    """CPU of every process over one common window (so they share the host's noise),
    and the host's steal time over it (a VM's vCPU time taken by the hypervisor).
    ``cpu(pid)`` reads a process's CPU seconds (default: its live threads' schedstat)."""
    cpu = cpu or proc_cpu_seconds
    for w in watched:
        if not w.first.wait(timeout=30):
            w.check()
            raise RuntimeError(f"{' '.join(w.argv[1:4])} printed no tick in 30 s")
        w.check()
    s0, j0 = _steal_and_total()
    t0 = time.monotonic()
    cpu0 = [cpu(w.proc.pid) for w in watched]
    time.sleep(duration)
    cpu1 = [cpu(w.proc.pid) for w in watched]
    t1 = time.monotonic()
    s1, j1 = _steal_and_total()
    for w in watched:
        w.check()
    out = [{"cpu_s": b - a, "wall_s": t1 - t0, "startup_cpu_s": a, "pct": 100.0 * (b - a) / (t1 - t0),
            "lines": sum(1 for t in w.lines if t0 <= t <= t1)} for w, a, b in zip(watched, cpu0, cpu1)]
    return out, 100.0 * (s1 - s0) / max(1, j1 - j0)


def headless_cpu(n: int, duration: float, real: bool, floor_us_per_class: float | None) -> dict:
    names = class_names(n)
    with ExitStack() as stack:
        tree = stack.enter_context((real_tree if real else fake_tree)(names))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="wlmtui-bench-policy-"))
        policy = os.path.join(tmp, "policy.yaml")
        Path(policy).write_text(policy_text(n, tree.cgroup_root))
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        spawn = None
        if real:
            bc = tree.bc  # type: ignore[attr-defined]
            spawn = lambda argv, **kw: bc.spawn(argv, **kw)  # noqa: E731 - tracked: killed on cleanup
        watched = []
        try:
            watched.append(_Watched([sys.executable, "-m", "wlmtui", "--no-ui", policy, *tree.cli],
                                    first_line_is_header=True, env=env, spawn=spawn))
            watched.append(_Watched([sys.executable, "-c", IDLE_TICKER], first_line_is_header=True, spawn=spawn))
            (wl, idle), steal = measure_together(watched, duration)
        finally:
            for w in watched:
                w.stop()
    ticks = round(wl["lines"] / n) if n else 0
    floor_pct = None if floor_us_per_class is None else floor_us_per_class * n / 1e6 * 100.0
    return {"classes": n, "interval_s": 1.0, "duration_s": duration, "tree": tree.kind,
            "wlmtui_pct": wl["pct"], "wlmtui_cpu_s": wl["cpu_s"], "startup_cpu_s": wl["startup_cpu_s"],
            "ticks": ticks, "idle_python_pct": idle["pct"], "pread_floor_pct": floor_pct, "host_steal_pct": steal,
            "pass": wl["pct"] < HEADLESS_GOAL_PCT}


# ---------------------------------------------------------------- main

def format_tick_table(results: list[dict]) -> str:
    rows = [[r["classes"], r["tree"], f"{r['floor']:.2f}", f"{r['step']:.2f}", f"{r['sense']:.2f}",
             f"{r['proposed']:.2f} ({r['proposed'] / r['floor']:.1f}×)",
             f"{r['step'] - r['sense']:.2f}", f"{r['decide_busy']:.2f}",
             f"{r['ratio']:.1f}× (median of rounds {r['ratio_median']:.1f}×)", verdict(r["pass"])]
            for r in results]
    return table(["classes", "tree", "floor µs/class", "tick µs/class", "sense", "sense, proposed parser",
                  "decide+act+snapshot",
                  "decide (busy)", "tick / floor", f"≤ {RATIO_GOAL:g}× floor"], rows)


def format_headless_table(h: dict) -> str:
    floor = "n/a" if h["pread_floor_pct"] is None else f"{h['pread_floor_pct']:.4f} %"
    return table(["classes", "interval", "measured", "tree", "wlmtui --no-ui CPU", "idle Python ticker (same window)",
                  "pread floor", "host steal", f"< {HEADLESS_GOAL_PCT:g} % of a core"],
                 [[h["classes"], "1 s", f"{h['duration_s']:.0f} s ({h['ticks']} ticks)", h["tree"],
                   f"{h['wlmtui_pct']:.3f} % ({h['wlmtui_cpu_s'] * 1000:.0f} ms; start-up {h['startup_cpu_s']:.2f} s)",
                   f"{h['idle_python_pct']:.3f} %", floor, f"{h['host_steal_pct']:.1f} %", verdict(h["pass"])]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loop_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--classes", default="10,100,500", help="class counts (default 10,100,500)")
    p.add_argument("--rounds", type=int, default=7, help="timing rounds per class count (median)")
    p.add_argument("--block", type=float, default=0.1, help="seconds per timing block")
    p.add_argument("--duration", type=float, default=60.0, help="headless CPU measurement, seconds")
    p.add_argument("--headless-classes", type=int, default=20)
    p.add_argument("--no-headless", action="store_true", help="skip the headless CPU measurement")
    p.add_argument("--fake", action="store_true", help="use a fake cgroupfs tree even as root")
    p.add_argument("--profile", action="store_true", help="also cProfile the largest tick, by module")
    p.add_argument("--quick", action="store_true", help="3 rounds, 10 s headless")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 3)
        args.duration = min(args.duration, 10.0)
    counts = [int(x) for x in args.classes.split(",") if x]
    real, why = use_real(args.fake)
    print(f"## Loop cost — {machine_line()}")
    print(f"tree: {'real cgroups' if real else 'fake cgroupfs tree (' + why + ')'}")
    print()
    results = []
    for n in counts:
        results.append(tick_cost(n, real, args.rounds, args.block))
        print(f"  {n} classes: tick {results[-1]['step']:.1f} µs/class, floor {results[-1]['floor']:.2f}", flush=True)
    print()
    print(format_tick_table(results))
    out: dict = {"machine": machine_line(), "ticks": results}
    if not args.no_headless:
        floor = next((r["floor"] for r in results if r["classes"] == args.headless_classes), None)
        if floor is None:
            floor = tick_cost(args.headless_classes, real, 3, args.block)["floor"]
        print(f"\nheadless CPU: {args.headless_classes} classes, 1 s interval, {args.duration:.0f} s …", flush=True)
        h = headless_cpu(args.headless_classes, args.duration, real, floor)
        out["headless"] = h
        print()
        print(format_headless_table(h))
    if args.profile:
        print()
        out["profile"] = profile_tick(max(counts), real)
        print(out["profile"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    ok = all(r["pass"] for r in results) and out.get("headless", {"pass": True})["pass"]
    print(f"\nloop cost: {'all goals met' if ok else 'goal(s) missed (MISS above)'}")
    return 0


def run(argv: list[str] | None = None) -> int:
    return run_bench(main, argv)


if __name__ == "__main__":
    sys.exit(run())
