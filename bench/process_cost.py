"""Process cost: what the whole wlmtui process costs per class per tick, as
users run it, beside the pread floor and the Go wlmd — all in one run.

    sudo taskset -c 1 python -m bench.process_cost                 # 10, 100, 500 classes
    sudo taskset -c 1 python -m bench.process_cost --quick         # 100 classes, shorter windows
    sudo taskset -c 1 python -m bench.process_cost --wlmd-src /tmp/wlmd-src   # build the Go wlmd there
    sudo taskset -c 1 python -m bench.process_cost --wlmd ./wlmd   # a wlmd binary built elsewhere

For each class count N, N empty cgroups are created below a unique
``wlmtui-bench-<random>`` parent (in both hierarchies on a hybrid host) and
removed afterwards. Then, one after the other, each pinned to the CPU the
bench runs on:

* **text**: ``python -m wlmtui --no-ui POLICY`` (the class lines on stdout);
* **--json**: ``python -m wlmtui --no-ui --json POLICY``;
* **console**: ``python -m wlmtui POLICY`` under a pseudo-terminal of 200×50
  (as a user runs it; the screen output is read and discarded);
* **wlmd**: the Go wlmd (``deeparchi-ai/wlm``, built from its source when a
  Go toolchain and the source are there) on the same cgroups, own policy
  format, same interval.

Each runs at a 50 ms interval; its CPU (all threads, from
``/proc/PID/task/*/schedstat``) is measured over a window that starts a
warm-up after its first tick, so start-up is not counted, and divided by
ticks × N. Ticks are counted from the output where there is one (text: class
lines / N, JSON: lines); the console and wlmd print nothing per tick, so
theirs is window / interval. **Floor**, measured in the bench process over
the same cgroups in the same run: ``os.pread`` of the four files one class
needs (cpu.stat, cpu.pressure, memory.pressure, io.pressure) from kept-open
descriptors, back to back (the floor the ratios use); beside it, for
information, the **paced floor**: the same preads one pass every 50 ms, as
the daemon makes them (the kernel's cost at that cadence: cold caches, and
cpu.stat flushes the per-CPU counters gathered since the last read). Goals (issue 13): at 100 classes text ≤ 3× floor, --json ≤ 4×
floor, both below wlmd.

**How wlmd is run here.** wlmd reads ``cpu.stat``, ``cpu.pressure`` and
``cpu.weight`` of ``/sys/fs/cgroup/<cgroup>`` with open+read each tick. On a
pure v2 host its classes are the bench cgroups themselves. On a hybrid host
no directory has all three (the weight is v1 ``cpu.shares``), so each class
is a directory in a temporary "view" whose ``cpu.stat`` and ``cpu.pressure``
are symlinks to the class's real unified-hierarchy files and whose
``cpu.weight`` is a plain file (its writes reach no kernel); the policy
names it as ``../../<view>/<class>``, which wlmd's ``filepath.Join``
resolves. Its PI controller refuses ticks closer than 100 ms ("tick interval
too short", logged per class without reading anything), so at 50 ms about
half its ticks observe: both figures are shown, per tick and per observing
tick. The build copies the source to a temporary directory, vendors
``gopkg.in/yaml.v3`` from Debian's ``golang-gopkg-yaml.v3-dev`` when the
module cache lacks it (no module downloads), and lowers the ``go`` line of
``go.mod`` to the installed toolchain when it is older than the one named.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from bench.cgroups import available, bench_cgroups, run_bench
from bench.loop_cost import COUNTER_FILES, class_names, policy_text, proc_cpu_seconds
from bench.report import machine_line, table, verdict

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "process_cost.json"
INTERVAL = 0.05
TEXT_GOAL, JSON_GOAL = 3.0, 4.0
GOAL_CLASSES = 100
YAML_V3 = "/usr/share/gocode/src/gopkg.in/yaml.v3"
WLMD_SRC = "/tmp/wlmd-src"


# ---------------------------------------------------------------- runners

class Run:
    """A started process with its output drained; ``lines`` holds the
    arrival time of each line (stdout, or stderr for wlmd)."""

    def __init__(self, argv: list[str], *, cpu: int, env: dict | None = None, pty_size: tuple[int, int] | None = None,
                 count_stderr: str | None = None, header_lines: int = 0) -> None:
        self.argv = argv
        self.lines: list[float] = []
        self.matches: list[float] = []
        self.sample: list[str] = []  # a few lines from the middle of the output (wlmd: its log)
        self.first = threading.Event()
        self._master = None
        kw: dict = dict(cwd=ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        if pty_size is not None:
            master, slave = pty.openpty()
            rows, cols = pty_size
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            kw.update(stdin=slave, stdout=slave, stderr=slave)
            self.proc = subprocess.Popen(argv, **kw)
            os.close(slave)
            self._master = master
            threading.Thread(target=self._drain_pty, daemon=True).start()
        else:
            kw.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.proc = subprocess.Popen(argv, **kw)
            stream = self.proc.stderr if count_stderr is not None else self.proc.stdout
            other = self.proc.stdout if count_stderr is not None else self.proc.stderr
            threading.Thread(target=self._drain, args=(stream, count_stderr, header_lines), daemon=True).start()
            self._err: list[bytes] = []
            threading.Thread(target=lambda: self._err.extend(other), daemon=True).start()
        os.sched_setaffinity(self.proc.pid, {cpu})

    def _drain(self, stream, pattern: str | None, header: int) -> None:
        needle = pattern.encode() if pattern else None
        for i, line in enumerate(stream):
            now = time.monotonic()
            self.lines.append(now)
            if needle is not None and needle in line:
                self.matches.append(now)
            if needle is not None and 200 <= i < 206:
                self.sample.append(line.decode(errors="replace").rstrip())
            if i >= header:
                self.first.set()
        self.first.set()

    def _drain_pty(self) -> None:
        total = 0
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:
                break
            if not data:
                break
            total += len(data)
            if total > 4096:  # the first screen is drawn
                self.first.set()
        self.first.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._master is not None:
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None

    def why(self) -> str:
        err = b"".join(getattr(self, "_err", [])).decode(errors="replace").strip().splitlines()
        return f"exited {self.proc.returncode}" + (f": {err[-1]}" if err else "")


def measure(run: Run, window: float, warmup: float) -> dict:
    """CPU over ``window`` seconds, starting ``warmup`` after the first tick."""
    if not run.first.wait(timeout=60):
        raise RuntimeError(f"{' '.join(run.argv[:4])}: no output in 60 s")
    time.sleep(warmup)
    if not run.alive():
        raise RuntimeError(run.why())
    t0, c0 = time.monotonic(), proc_cpu_seconds(run.proc.pid)
    time.sleep(window)
    t1, c1 = time.monotonic(), proc_cpu_seconds(run.proc.pid)
    if not run.alive():
        raise RuntimeError(run.why())
    lines = sum(1 for t in run.lines if t0 <= t <= t1)
    matches = sum(1 for t in run.matches if t0 <= t <= t1)
    return {"cpu_s": c1 - c0, "wall_s": t1 - t0, "lines": lines, "matches": matches, "startup_cpu_s": c0}


# ---------------------------------------------------------------- the floor

def pread_floor(counter_dirs: list[str], budget: float = 0.5, rounds: int = 5) -> float:
    """µs per class: os.pread of the four counter files from kept-open fds
    (best of ``rounds`` CPU-timed blocks)."""
    fds = [os.open(os.path.join(d, f), os.O_RDONLY | os.O_CLOEXEC) for d in counter_dirs for f in COUNTER_FILES]
    try:
        t = time.process_time()
        for fd in fds:
            os.pread(fd, 4096, 0)
        one = max(time.process_time() - t, 1e-5)
        k = max(20, int(budget / one))
        best = float("inf")
        for _ in range(rounds):
            t0 = time.process_time()
            for _ in range(k):
                for fd in fds:
                    os.pread(fd, 4096, 0)
            best = min(best, (time.process_time() - t0) / (k * len(counter_dirs)) * 1e6)
        return best
    finally:
        for fd in fds:
            os.close(fd)


def paced_floor(counter_dirs: list[str], duration: float = 3.0) -> float:
    """µs per class: the same preads, one pass every 50 ms as the daemon
    makes them (for information: the kernel's own cost at that cadence —
    cpu.stat flushes the per-CPU counters gathered since the last read, and
    caches are cold — is higher than back to back)."""
    fds = [os.open(os.path.join(d, f), os.O_RDONLY | os.O_CLOEXEC) for d in counter_dirs for f in COUNTER_FILES]
    try:
        spent, passes = 0.0, 0
        deadline = time.monotonic()
        end = deadline + duration
        while deadline < end:
            deadline += INTERVAL
            time.sleep(max(0.0, deadline - time.monotonic()))
            t0 = time.thread_time()
            for fd in fds:
                os.pread(fd, 4096, 0)
            spent += time.thread_time() - t0
            passes += 1
        return spent / (passes * len(counter_dirs)) * 1e6
    finally:
        for fd in fds:
            os.close(fd)


# ---------------------------------------------------------------- wlmd

def _go() -> str | None:
    return shutil.which("go") or next((p for p in ("/usr/lib/go/bin/go",) if os.path.exists(p)), None)


def build_wlmd(src: str, out_dir: str) -> tuple[str | None, str]:
    """Build wlmd from ``src``; ``(binary, "")`` or ``(None, why not)``."""
    go = _go()
    if go is None:
        return None, "no Go toolchain (apt-get install golang-go)"
    if not os.path.isfile(os.path.join(src, "go.mod")):
        return None, f"no wlmd source at {src} (go.mod missing)"
    tree = os.path.join(out_dir, "src")
    shutil.copytree(src, tree)
    if not os.path.isdir(os.path.join(tree, "vendor")) and os.path.isdir(YAML_V3):
        shutil.copytree(YAML_V3, os.path.join(tree, "vendor", "gopkg.in", "yaml.v3"))
        Path(tree, "vendor", "modules.txt").write_text("# gopkg.in/yaml.v3 v3.0.1\n## explicit\ngopkg.in/yaml.v3\n")
    env = dict(os.environ, GOFLAGS="-mod=vendor", GOPROXY="off", GOCACHE=os.path.join(out_dir, "cache"),
               GOPATH=os.path.join(out_dir, "gopath"), CGO_ENABLED="0")
    binary = os.path.join(out_dir, "wlmd")

    def build() -> subprocess.CompletedProcess:
        return subprocess.run([go, "build", "-o", binary, "./cmd/wlmd"], cwd=tree, env=env, capture_output=True,
                              text=True, timeout=600)

    done = build()
    if done.returncode != 0 and "invalid go version" in done.stderr:
        have = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
        m = re.match(r"go(\d+\.\d+)", have)
        if m:
            mod = Path(tree, "go.mod")
            mod.write_text(re.sub(r"(?m)^go \d+(\.\d+)*$", f"go {m[1]}", mod.read_text()))
            done = build()
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"go build failed: {last}"
    return binary, ""


_WLMD_GOALS = (  # ours (bench.loop_cost._GOALS) in wlmd's policy format
    ('{type: "response_time", target: "100ms"}', 1),
    ('{type: "velocity", target: ""}', 3),
    ('{type: "velocity", target: ""}', 2),
    ('{type: "velocity", target: ""}', 5),  # discretionary: wlmd has none; the least importance
)


def wlmd_view(bc, names: list[str], where: str) -> list[str]:
    """The cgroup paths wlmd's policy names (relative to /sys/fs/cgroup)."""
    base = "/sys/fs/cgroup"
    if bc.kind == "v2" and bc.counter_mount == base:
        return [f"{bc.parent}/{n}" for n in names]
    out = []
    for n in names:
        d = os.path.join(where, n)
        os.makedirs(d)
        real = bc.counter_dir(n)
        for f in ("cpu.stat", "cpu.pressure"):
            os.symlink(os.path.join(real, f), os.path.join(d, f))
        Path(d, "cpu.weight").write_text("100\n")
        out.append(os.path.relpath(d, base))
    return out


def wlmd_policy(names: list[str], paths: list[str]) -> str:
    lines = ["service_classes:"]
    for i, (n, p) in enumerate(zip(names, paths)):
        goal, imp = _WLMD_GOALS[i % len(_WLMD_GOALS)]
        lines += [f'  - name: "{n}"', f'    cgroup: "{p}"', f"    goal: {goal}", f"    importance: {imp}",
                  "    min_weight: 1", "    max_weight: 10000"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- one N

def one_count(n: int, args, wlmd: str | None, wlmd_why: str) -> dict:
    names = class_names(n)
    cpu = args.cpu
    window, warmup = args.window, args.warmup
    row: dict = {"classes": n, "interval_s": INTERVAL}
    with bench_cgroups(names) as bc, tempfile.TemporaryDirectory(prefix="wlmtui-bench-proc-") as tmp:
        row["tree"] = f"real {bc.kind}"
        policy = os.path.join(tmp, "policy.yaml")
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        Path(policy).write_text(policy_text(n, bc.parent, "50ms") + f"state_dir: {state}\n")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        row["floor_us"] = pread_floor([bc.counter_dir(x) for x in names])
        row["paced_floor_us"] = paced_floor([bc.counter_dir(x) for x in names])
        base = [sys.executable, "-m", "wlmtui"]
        modes = [("text", base + ["--no-ui", policy, "--no-create"], {"header_lines": 1}),
                 ("json", base + ["--no-ui", "--json", policy, "--no-create"], {}),
                 ("console", base + [policy, "--no-create"], {"pty_size": (50, 200)}),
                 # what the record store (on by default) costs the daemon
                 ("text, no record", base + ["--no-ui", policy, "--no-create", "--no-record"], {"header_lines": 1})]
        if args.no_console:
            modes = [m for m in modes if m[0] != "console"]
        for mode, argv, kw in modes:
            menv = dict(env, TERM="xterm-256color", COLUMNS="200", LINES="50") if mode == "console" else env
            run = Run(argv, cpu=cpu, env=menv, **kw)
            try:
                m = measure(run, window, warmup if mode != "console" else max(warmup, 3.0))
            except RuntimeError as exc:
                row[mode] = {"error": str(exc)}
                print(f"  {n} classes, {mode}: {exc}", flush=True)
                continue
            finally:
                run.stop()
            if mode.startswith("text"):
                ticks = m["lines"] / n
            elif mode == "json":
                ticks = m["lines"]
            else:
                ticks = m["wall_s"] / INTERVAL
            m["ticks"] = ticks
            m["us_per_class_tick"] = m["cpu_s"] / max(ticks, 1e-9) / n * 1e6
            m["ratio"] = m["us_per_class_tick"] / row["floor_us"]
            row[mode] = m
            print(f"  {n} classes, {mode}: {m['us_per_class_tick']:.2f} µs/class/tick "
                  f"({m['ratio']:.1f}× floor, {ticks:.0f} ticks)", flush=True)
        row["floor_us_after"] = pread_floor([bc.counter_dir(x) for x in names])
        # the ratios use the lower of the two floors (the stricter reading on a noisy host)
        floor = min(row["floor_us"], row["floor_us_after"])
        for mode in ("text", "json", "console", "text, no record"):
            if isinstance(row.get(mode), dict) and "us_per_class_tick" in row[mode]:
                row[mode]["ratio"] = row[mode]["us_per_class_tick"] / floor
        row["floor_us_min"] = floor
        if wlmd is None:
            row["wlmd"] = {"error": f"not available ({wlmd_why})"}
        else:
            view = os.path.join(tmp, "wlmd-view")
            paths = wlmd_view(bc, names, view)
            wpol = os.path.join(tmp, "wlmd-policy.yaml")
            Path(wpol).write_text(wlmd_policy(names, paths))
            run = Run([wlmd, "-policy", wpol, "-interval", "50ms"], cpu=cpu, count_stderr="tick interval too short")
            try:
                run.first.wait(timeout=30)
                m = measure(run, window, warmup)
                ticks = m["wall_s"] / INTERVAL
                observing = max(ticks - m["matches"] / n, 1e-9)
                m.update(ticks=ticks, observing_ticks=observing,
                         us_per_class_tick=m["cpu_s"] / ticks / n * 1e6,
                         us_per_class_observing_tick=m["cpu_s"] / observing / n * 1e6)
                m["ratio"] = m["us_per_class_tick"] / row["floor_us_min"]
                m["log_sample"] = run.sample
                row["wlmd"] = m
                print(f"  {n} classes, wlmd: {m['us_per_class_tick']:.2f} µs/class/tick, "
                      f"{m['us_per_class_observing_tick']:.2f} per observing tick ({observing:.0f} of {ticks:.0f})",
                      flush=True)
            except RuntimeError as exc:
                row["wlmd"] = {"error": str(exc)}
            finally:
                run.stop()
    return row


def _cell(row: dict, mode: str) -> str:
    m = row.get(mode)
    if m is None:
        return "—"
    if "error" in m:
        return m["error"]
    return f"{m['us_per_class_tick']:.2f} ({m['ratio']:.1f}×)"


def format_table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        w = r.get("wlmd", {})
        wl = w["error"] if "error" in w else (f"{w['us_per_class_tick']:.2f} ({w['ratio']:.1f}×); "
                                              f"{w['us_per_class_observing_tick']:.2f} per observing tick")
        out.append([r["classes"], r["tree"], f"{r['floor_us']:.2f} / {r['floor_us_after']:.2f}",
                    f"{r['paced_floor_us']:.2f}",
                    _cell(r, "text"), _cell(r, "text, no record"), _cell(r, "json"), _cell(r, "console"), wl])
    return table(["classes", "tree", "pread floor µs/class (before / after)", "paced floor (1 pass / 50 ms)",
                  "text µs/class/tick (× floor)", "text, --no-record", "--json", "console (pty 200×50)", "Go wlmd"], out)


def verdicts(rows: list[dict]) -> list[str]:
    r = next((x for x in rows if x["classes"] == GOAL_CLASSES), None)
    if r is None:
        return [f"(no {GOAL_CLASSES}-class row: goals not judged)"]
    out = []
    w = r.get("wlmd", {})
    wl = None if "error" in w else w["us_per_class_tick"]
    for mode, goal in (("text", TEXT_GOAL), ("json", JSON_GOAL)):
        m = r.get(mode, {})
        if "error" in m:
            out.append(f"{mode}: MISS ({m['error']})")
            continue
        ok_ratio = m["ratio"] <= goal
        ok_wlmd = None if wl is None else m["us_per_class_tick"] < wl
        out.append(f"{mode} at {GOAL_CLASSES} classes: {m['ratio']:.2f}× floor ≤ {goal:g}× {verdict(ok_ratio)}; "
                   f"below wlmd ({'n/a' if wl is None else f'{wl:.2f}'} µs): {verdict(ok_wlmd)}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.process_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--classes", default="10,100,500", help="class counts (default 10,100,500)")
    p.add_argument("--window", type=float, default=10.0, help="seconds measured per process (default 10)")
    p.add_argument("--warmup", type=float, default=1.5, help="seconds after the first tick before measuring")
    p.add_argument("--wlmd", metavar="PATH", help="a wlmd binary (default: build from --wlmd-src)")
    p.add_argument("--wlmd-src", metavar="DIR", default=WLMD_SRC, help=f"wlmd source tree (default {WLMD_SRC})")
    p.add_argument("--no-console", action="store_true", help="skip the console run")
    p.add_argument("--quick", action="store_true", help="100 classes, 5 s windows")
    p.add_argument("--json", metavar="FILE", default=str(RESULTS), help=f"results (default {RESULTS})")
    args = p.parse_args(argv)
    if args.quick:
        args.classes, args.window = "100", min(args.window, 5.0)
    args.cpu = min(os.sched_getaffinity(0))
    print(f"## Process cost — {machine_line()}")
    why = available()
    if why is not None:
        print(f"process cost: not run (real cgroups needed: {why})")
        return 0
    if len(os.sched_getaffinity(0)) > 1:
        print(f"note: not pinned (taskset -c N); every process runs on CPU {args.cpu}")
    counts = [int(x) for x in args.classes.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-wlmd-") as build_dir:
        wlmd, wlmd_why = (args.wlmd, "") if args.wlmd else build_wlmd(args.wlmd_src, build_dir)
        print(f"wlmd: {wlmd if wlmd else 'not available (' + wlmd_why + ')'}")
        print(f"interval 50 ms; each process pinned to CPU {args.cpu}; {args.window:g} s windows\n", flush=True)
        rows = [one_count(n, args, wlmd, wlmd_why) for n in counts]
    print()
    print(format_table(rows))
    print()
    for line in verdicts(rows):
        print(line)
    out = {"machine": machine_line(), "interval_s": INTERVAL, "window_s": args.window, "rows": rows,
           "verdicts": verdicts(rows)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def run(argv: list[str] | None = None) -> int:
    return run_bench(main, argv)


if __name__ == "__main__":
    sys.exit(run())
