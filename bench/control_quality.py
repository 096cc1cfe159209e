"""Control quality on the real kernel: does wlmtui keep an interactive class on
its response-time goal through a peak, without starving batch when it's quiet?

    sudo python -m bench.control_quality                 # 20 s quiet, 40 s peak, 20 s quiet, ×3 strategies
    sudo python -m bench.control_quality --quick         # 5 s / 10 s / 5 s
    sudo python -m bench.control_quality --out bench/results   # also JSON and an SVG plot

The scenario, all on one pinned CPU (``--cpu``, default the highest allowed):

* **batch**: four busy loops in ``<parent>/batch``.
* **interactive**: a pool of ``--workers`` processes in ``<parent>/interactive``
  serving an open-loop Poisson request stream; each request is ``--work-ms``
  of CPU (5 ms). Quiet phases offer ``--quiet-load`` of the CPU (10 %), the
  peak ``--peak-load`` (60 %). Response time = completion − scheduled
  arrival, measured by the generator (bench/rtload.py), which, like the
  orchestrator and wlmtui itself, runs on the other CPUs.

Strategies, each on the same phases and the same arrival schedule (seed):

* ``equal``: static weights 100:100.
* ``favour``: static weights 1000:100 (10:1 for interactive).
* ``wlmtui``: start at 100:100 and run the real headless loop
  ``python -m wlmtui --no-ui POLICY --json`` (1 s interval) with interactive
  ``response_time p95 < --goal-ms`` (importance 1) and batch ``velocity 20``
  (importance 4). The workers here report no transactions (the scenario
  with reports is bench/arm_quality.py), so it judges the interactive goal by its
  PSI proxy ``cpu_stall / psi_threshold`` (3 % for goals under 1 s); the
  table shows which PI source it used.

Figures per strategy: interactive p50/p95/p99 over the peak; the share of
1-s peak intervals (requests binned by arrival second) whose p95 meets the
goal, over the whole peak and after the ``--settle`` window (5 s); the
settling time (start of the first interval after which every interval meets
the goal); batch CPU seconds (``cpu.stat`` usage_usec deltas of the batch
cgroup) in the quiet phases and overall, and as a ratio to ``equal`` — the
baseline measured in the same run. Goal for wlmtui: goal met in ≥ 95 % of
peak intervals after the settle window, and batch keeps ≥ 95 % of its
``equal`` CPU in the quiet phases.

Cgroups live below a unique ``wlmtui-bench-<random>`` parent (both
hierarchies on a hybrid host) and are removed, with every process started,
on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.cgroups import run_bench, run_quietly
from bench.report import machine, machine_line, table, verdict

ROOT = Path(__file__).resolve().parent.parent
BUSY = "while True: pass"
STRATEGIES = {
    "equal": {"weights": (100, 100), "label": "static equal 100:100"},
    "favour": {"weights": (1000, 100), "label": "static 10:1 for interactive"},
    "wlmtui": {"weights": (100, 100), "label": "wlmtui (response_time goal)"},
}
MET_SHARE_GOAL = 0.95
BATCH_SHARE_GOAL = 0.95


def policy_yaml(parent: str, state_dir: str, goal_ms: float, percentile: float) -> str:
    """The scenario's policy (also used by bench/arm_quality.py); state stays in ``state_dir``."""
    return f"""\
# written by the wlmtui control-quality benches
interval: 1s
cgroup_root: {parent}
state_dir: {state_dir}
service_classes:
  - name: interactive
    cgroup: interactive
    goal: {{type: response_time, target: {goal_ms:g}ms, percentile: {percentile:g}}}
    importance: 1
    min_weight: 10
    base_weight: 100
    max_weight: 1000
  - name: batch
    cgroup: batch
    goal: {{type: velocity, target: 20}}
    importance: 4
    min_weight: 10
    base_weight: 100
    max_weight: 1000
"""


# ---------------------------------------------------------------- one run

def _wlmtui_reader(proc: subprocess.Popen, t0_box: list[float], ticks: list[dict]) -> None:
    for line in proc.stdout:
        now = time.monotonic()
        try:
            snap = json.loads(line)
        except ValueError:
            continue
        classes = {c["name"]: {"weight": c["weight"], "pi": c["pi"], "source": c["pi_source"],
                               "status": c["status"], "reason": c["reason"],
                               "usage": (c["measurements"] or {}).get("usage_cores"),
                               "cpu_stall": (c["measurements"] or {}).get("cpu_stall"),
                               "share": c.get("share"), "floor_share": c.get("floor_share"),
                               "projection": c.get("projection")}
                   for c in snap["classes"]}
        ticks.append({"t": now - t0_box[0] if t0_box else None, "mono": now, "loop_ms": snap["loop_ms"],
                      "classes": classes, "errors": snap["errors"]})


def run_strategy(bc, name: str, args, others: set[int], seed: int, tmp: str) -> dict:
    """One strategy over all phases; returns raw series (analysed later)."""
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    w_int, w_batch = STRATEGIES[name]["weights"]
    bc.set_weight("interactive", w_int)
    bc.set_weight("batch", w_batch)
    procs = []
    wl = None
    try:
        for _ in range(4):
            procs.append(bc.spawn([py, "-c", BUSY], into="batch", cpu=args.cpu, stdout=subprocess.DEVNULL))
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        from bench.rtload import enlarge

        enlarge(req_w)
        enlarge(res_w)
        for _ in range(args.workers):
            procs.append(bc.spawn([py, "-m", "bench.rtload", "worker", "--req-fd", str(req_r), "--res-fd", str(res_w),
                                   "--work-ms", str(args.work_ms)], into="interactive", cpu=args.cpu,
                                  pass_fds=(req_r, res_w), cwd=ROOT, env=env))
        os.close(req_r)
        os.close(res_w)
        time.sleep(1.0)  # let the workers finish starting (their imports would count as interactive stall)
        ticks: list[dict] = []
        t0_box: list[float] = []
        if name == "wlmtui":
            policy = os.path.join(tmp, "policy.yaml")
            Path(policy).write_text(policy_yaml(bc.parent, tmp, args.goal_ms, args.percentile))
            wl = bc.spawn([py, "-m", "wlmtui", "--no-ui", policy, "--json", "--no-create"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            os.sched_setaffinity(wl.pid, others)
            threading.Thread(target=_wlmtui_reader, args=(wl, t0_box, ticks), daemon=True).start()
        t0 = time.monotonic() + args.lead
        t0_box.append(t0)
        phases = [(args.quiet, args.quiet_load / args.work_ms * 1000),
                  (args.peak, args.peak_load / args.work_ms * 1000),
                  (args.quiet, args.quiet_load / args.work_ms * 1000)]
        total = sum(d for d, _ in phases)
        out = os.path.join(tmp, f"gen-{name}.json")
        gen = bc.spawn([py, "-m", "bench.rtload", "generate", "--req-fd", str(req_w), "--res-fd", str(res_r),
                        "--t0", repr(t0), "--phases", ",".join(f"{d:g}:{r:g}" for d, r in phases),
                        "--seed", str(seed), "--drain", str(args.drain), "--out", out],
                       pass_fds=(req_w, res_r), cwd=ROOT, env=env)
        procs.append(gen)
        os.sched_setaffinity(gen.pid, others)
        os.close(req_w)
        os.close(res_r)
        usage = []  # (t - t0, batch usec, interactive usec, interactive cpu some-stall usec, ... full-stall usec)
        for k in range(int(math.ceil(total)) + 1):
            delay = t0 + k - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            usage.append((time.monotonic() - t0, bc.usage_usec("batch"), bc.usage_usec("interactive"),
                          *bc.pressure_usec("interactive")))
            if wl is not None and wl.poll() is not None:
                raise RuntimeError(f"wlmtui exited early ({wl.returncode}): {wl.stderr.read()}")
            if sys.stderr.isatty():
                print(f"\r  {name}: {k:3d}/{total:.0f} s", end="", flush=True, file=sys.stderr)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        gen.wait(timeout=args.drain + 60)
        if gen.returncode != 0:
            raise RuntimeError(f"request generator failed ({gen.returncode})")
        with open(out, encoding="utf-8") as fh:
            load = json.load(fh)
        if wl is not None:
            wl.send_signal(signal.SIGTERM)
            try:
                wl.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    finally:
        bc.stop(procs + ([wl] if wl is not None else []))
    return {"strategy": name, "t0": t0, "phases": phases, "usage": usage, "load": load, "ticks": ticks}


# ---------------------------------------------------------------- analysis

def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; ``inf`` entries (unfinished requests) count as slowest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


def _usage_between(usage: list[tuple], a: float, b: float, col: int) -> float:
    """CPU seconds of column ``col`` between the samples nearest to ``a`` and ``b`` (relative s)."""
    first = min(usage, key=lambda u: abs(u[0] - a))
    last = min(usage, key=lambda u: abs(u[0] - b))
    return (last[col] - first[col]) / 1e6


def analyse(run: dict, goal_s: float, percentile: float, settle_s: float) -> dict:
    t0 = run["t0"]
    (q1, _), (peak, _), (q2, _) = run["phases"]
    total = q1 + peak + q2
    load = run["load"]
    rts = [(a - t0, (d - a) if d is not None else math.inf) for a, d in zip(load["arrivals"], load["done"])]
    in_peak = [rt for a, rt in rts if q1 <= a < q1 + peak]
    in_quiet = [rt for a, rt in rts if a < q1 or a >= q1 + peak]
    per_second = []  # (second from t0, n, p95 or None)
    for s in range(int(total)):
        bin_ = [rt for a, rt in rts if s <= a < s + 1]
        per_second.append((s, len(bin_), pct(bin_, percentile) if bin_ else None))
    peak_bins = [(s, n, p) for s, n, p in per_second if q1 <= s < q1 + peak]
    met = [p is None or p <= goal_s for _s, _n, p in peak_bins]
    after = met[int(settle_s):]
    settle = None
    for k in range(len(met) - 1, -1, -1):
        if not met[k]:
            settle = k + 1 if k + 1 < len(met) else None
            break
    else:
        settle = 0
    usage = run["usage"]
    # Batch is always runnable, so the pinned CPU is saturated: what the two
    # class cgroups did not use went to other tenants of the host (or steal).
    bounds = [(0, q1), (q1, q1 + peak), (q1 + peak, total)]
    foreign = [max(0.0, 1.0 - (_usage_between(usage, a, b, 1) + _usage_between(usage, a, b, 2)) / (b - a))
               for a, b in bounds]
    batch_quiet = _usage_between(usage, 0, q1, 1) + _usage_between(usage, q1 + peak, total, 1)
    ticks = run["ticks"]
    sources = [t["classes"]["interactive"]["source"] for t in ticks if "interactive" in t["classes"]]
    # The interactive class's CPU stall (PSI some), as wlmtui's PSI proxy would
    # see it, measured by the bench in every strategy.
    stall = [_usage_between(usage, a, b, 3) / (b - a) for a, b in bounds]
    stall_full = [_usage_between(usage, a, b, 4) / (b - a) for a, b in bounds]
    judged = {}
    for label, (a, b) in zip(("quiet", "peak", "quiet"), bounds):
        st = [t["classes"]["interactive"]["status"] for t in ticks
              if t["t"] is not None and a < t["t"] - 0.5 <= b and "interactive" in t["classes"]]
        prev = judged.get(label, (0, 0))
        judged[label] = (prev[0] + sum(1 for x in st if x == "missing"), prev[1] + len(st))
    return {
        "strategy": run["strategy"],
        "label": STRATEGIES[run["strategy"]]["label"],
        "requests": len(rts), "unfinished": sum(1 for _, rt in rts if rt == math.inf),
        "peak_p50_ms": 1000 * pct(in_peak, 50), "peak_p95_ms": 1000 * pct(in_peak, 95),
        "peak_p99_ms": 1000 * pct(in_peak, 99), "quiet_p95_ms": 1000 * pct(in_quiet, 95),
        "peak_intervals": len(met), "met_share": sum(met) / len(met) if met else float("nan"),
        "met_share_after_settle": sum(after) / len(after) if after else float("nan"),
        "settle_s": settle,
        "batch_quiet_s": batch_quiet,
        "batch_quiet1_s": _usage_between(usage, 0, q1, 1),
        "batch_peak_s": _usage_between(usage, q1, q1 + peak, 1),
        "batch_total_s": _usage_between(usage, 0, total, 1),
        "interactive_total_s": _usage_between(usage, 0, total, 2),
        "foreign_by_phase": foreign, "foreign_max": max(foreign),
        "attempt": run.get("attempt", 1),
        "send_lateness_ms": load.get("send_lateness_ms"),
        "pi_sources": {s: sources.count(s) for s in sorted(set(sources))},
        "interactive_stall_by_phase": stall,
        "interactive_full_stall_by_phase": stall_full,
        "wlmtui_missing_ticks": {k: {"missing": m, "ticks": n} for k, (m, n) in judged.items()},
        "per_second": per_second,
        "weights": [(t["t"], t["classes"].get("interactive", {}).get("weight"),
                     t["classes"].get("batch", {}).get("weight"), t["classes"].get("interactive", {}).get("pi"))
                    for t in ticks],
        "usage_series": [(round(t, 3), b, i) for t, b, i, *_stall in usage],
    }


def judge(results: list[dict]) -> None:
    """Attach the verdicts, relative to the equal-weights baseline of the same run."""
    base = next((r for r in results if r["strategy"] == "equal"), None)
    for r in results:
        r["batch_quiet_vs_equal"] = r["batch_quiet_s"] / base["batch_quiet_s"] if base and base["batch_quiet_s"] else None
        r["batch_quiet1_vs_equal"] = (r["batch_quiet1_s"] / base["batch_quiet1_s"]
                                      if base and base["batch_quiet1_s"] else None)
        r["batch_total_vs_equal"] = r["batch_total_s"] / base["batch_total_s"] if base and base["batch_total_s"] else None
        goal_ok = r["met_share_after_settle"] >= MET_SHARE_GOAL
        batch_ok = None if r["batch_quiet_vs_equal"] is None else r["batch_quiet_vs_equal"] >= BATCH_SHARE_GOAL
        r["goal_pass"] = goal_ok
        r["batch_pass"] = batch_ok
        r["pass"] = goal_ok and (batch_ok is not False)


def _ms(x: float) -> str:
    if math.isinf(x):
        return "∞ (unfinished)"
    if math.isnan(x):
        return "n/a"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def format_table(results: list[dict], goal_ms: float, percentile: float, settle_s: float) -> str:
    rows = []
    for r in results:
        settle = "never" if r["settle_s"] is None else f"{r['settle_s']} s"
        rel = lambda v: "—" if v is None else f"{v:.0%}"  # noqa: E731
        rows.append([
            r["label"], _ms(r["peak_p50_ms"]), _ms(r["peak_p95_ms"]), _ms(r["peak_p99_ms"]),
            f"{r['met_share']:.0%} of {r['peak_intervals']}",
            f"{r['met_share_after_settle']:.0%} {verdict(r['goal_pass'])}", settle,
            f"{r['batch_quiet_s']:.1f} s ({rel(r['batch_quiet_vs_equal'])}) {verdict(r['batch_pass'])}",
            f"{r['batch_quiet1_s']:.1f} s ({rel(r['batch_quiet1_vs_equal'])})",
            f"{r['batch_total_s']:.1f} s ({rel(r['batch_total_vs_equal'])})",
            _ms(r["quiet_p95_ms"]),
            f"{r['foreign_max']:.0%}" + (" NOISY" if r.get("noisy") else ""),
        ])
    return table(["strategy", "peak p50 ms", "peak p95 ms", "peak p99 ms",
                  f"peak intervals p{percentile:g} ≤ {goal_ms:g} ms", f"after {settle_s:g} s (≥ 95 %)",
                  "settled after", "batch CPU quiet (vs equal, ≥ 95 %)", "of which 1st quiet (vs equal)",
                  "batch CPU overall (vs equal)",
                  "quiet p95 ms", "CPU taken by other tenants (worst phase)"], rows)


def describe_wlmtui(r: dict) -> str:
    w = [x for x in r["weights"] if x[1] is not None]
    if not w:
        return "wlmtui: no ticks recorded"
    src = ", ".join(f"{k} {v}" for k, v in r["pi_sources"].items())
    peak_w = [x[1] for x in w if x[0] is not None and r["_q1"] <= x[0] < r["_q1"] + r["_peak"]]
    before = [x for x in w if x[0] is not None and x[0] <= r["_q1"]]
    at_start = f"{before[-1][1]}:{before[-1][2]}" if before else "n/a"
    at_end = f"{w[-1][1]}:{w[-1][2]}"
    return (f"wlmtui: {len(w)} ticks; interactive PI source: {src}; weights interactive:batch at the peak's start "
            f"{at_start}, at the end {at_end}; interactive weight "
            f"min {min(x[1] for x in w)}, max {max(x[1] for x in w)}"
            + (f", median in the peak {statistics.median(peak_w):.0f}" if peak_w else "")
            + f"; batch weight min {min(x[2] for x in w)}, max {max(x[2] for x in w)}; ticks judging interactive "
            + "'missing': " + ", ".join(f"{k} {v['missing']}/{v['ticks']}" for k, v in r["wlmtui_missing_ticks"].items()))


def format_detail(r: dict, q1: float, peak: float) -> str:
    """Per-second series of one strategy: requests, p95, CPU split, and wlmtui's view."""
    usage = r["usage_series"]
    ticks = {}
    for t, wi, wb, pi in r["weights"]:
        if t is not None and t >= 0:
            ticks.setdefault(int(t), (wi, wb, pi))
    rows = []
    for s, n, p95 in r["per_second"]:
        phase = "quiet" if s < q1 or s >= q1 + peak else "PEAK"
        b = (usage[s + 1][1] - usage[s][1]) / 1e6 if s + 1 < len(usage) else float("nan")
        i = (usage[s + 1][2] - usage[s][2]) / 1e6 if s + 1 < len(usage) else float("nan")
        wi, wb, pi = ticks.get(s + 1, (None, None, None))  # the tick that ends this second
        rows.append([s, phase, n, "-" if p95 is None else _ms(1000 * p95), f"{b:.2f}", f"{i:.2f}",
                     "" if wi is None else f"{wi}:{wb}", "" if pi is None else f"{pi:.2f}"])
    return table(["s", "phase", "requests", "p95 ms", "batch cores", "interactive cores",
                  "wlmtui weights i:b", "wlmtui PI (interactive)"], rows)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.control_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--quiet", type=float, default=20.0, help="each quiet phase, seconds (default 20)")
    p.add_argument("--peak", type=float, default=40.0, help="peak phase, seconds (default 40)")
    p.add_argument("--quick", action="store_true", help="5 s quiet, 10 s peak")
    p.add_argument("--quiet-load", type=float, default=0.10, help="interactive CPU demand when quiet (0.10)")
    p.add_argument("--peak-load", type=float, default=0.60, help="interactive CPU demand in the peak (0.60)")
    p.add_argument("--work-ms", type=float, default=5.0, help="CPU time per request (5 ms)")
    p.add_argument("--workers", type=int, default=4, help="interactive worker processes (4)")
    p.add_argument("--goal-ms", type=float, default=100.0, help="interactive response-time goal (100 ms)")
    p.add_argument("--percentile", type=float, default=95.0)
    p.add_argument("--settle", type=float, default=5.0, help="settle window after the peak starts (5 s)")
    p.add_argument("--strategies", default="equal,favour,wlmtui")
    p.add_argument("--cpu", type=int, default=None, help="CPU to pin the scenario to (default: highest allowed)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--lead", type=float, default=3.0, help="seconds between starting the processes and phase 1")
    p.add_argument("--drain", type=float, default=10.0, help="seconds to wait for stragglers after the last phase")
    p.add_argument("--max-foreign", type=float, default=0.10,
                   help="a run in which other tenants took more of the pinned CPU than this in any phase is "
                        "noisy: retried, else marked NOISY (default 0.10)")
    p.add_argument("--retries", type=int, default=2, help="retries of a noisy run (default 2)")
    p.add_argument("--parent-weight", type=int, default=None,
                   help="weight (1-10000) of the bench's parent cgroup against the rest of the host; "
                        "default: the kernel's default (100); raise it to shield the scenario on a shared host")
    p.add_argument("--detail", action="store_true", help="print the per-second series of every strategy")
    p.add_argument("--out", metavar="DIR", help="write results JSON and an SVG plot here")
    args = p.parse_args(argv)
    if args.quick:
        args.quiet, args.peak = min(args.quiet, 5.0), min(args.peak, 10.0)
    from bench.cgroups import NoCgroups, available, bench_cgroups

    why = available()
    print(f"## Control quality — {machine_line()}")
    if why is not None:
        print(f"SKIPPED: needs root and writable cgroups ({why}); the simulated version is "
              "tests/test_control_quality_sim.py")
        return 0
    allowed = sorted(os.sched_getaffinity(0))
    args.cpu = allowed[-1] if args.cpu is None or args.cpu not in allowed else args.cpu
    others = set(allowed) - {args.cpu} or {args.cpu}
    names = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        p.error(f"unknown strategy {unknown}; choose from {', '.join(STRATEGIES)}")
    if args.parent_weight:
        print(f"bench parent cgroup weight {args.parent_weight} against the rest of the host (--parent-weight)")
    print(f"scenario: CPU {args.cpu}; batch 4 busy loops; interactive {args.workers} workers, "
          f"{args.work_ms:g} ms/request, load {args.quiet_load:.0%} → {args.peak_load:.0%} → {args.quiet_load:.0%} "
          f"over {args.quiet:g} s / {args.peak:g} s / {args.quiet:g} s; goal p{args.percentile:g} ≤ {args.goal_ms:g} ms")
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, others)
    results = []
    raw = []
    try:
        with tempfile.TemporaryDirectory(prefix="wlmtui-bench-cq-") as tmp, \
                bench_cgroups(["interactive", "batch"]) as bc:
            if args.parent_weight:
                bc.set_parent_weight(args.parent_weight)
            for name in names:
                def once(attempt: int, name: str = name) -> tuple[dict, dict]:
                    run = run_strategy(bc, name, args, others, args.seed, tmp)
                    run["attempt"] = attempt
                    r = analyse(run, args.goal_ms / 1000, args.percentile, args.settle)
                    r["_q1"], r["_peak"] = args.quiet, args.peak
                    return run, r

                run, r = run_quietly(name, once, args, "one phase")
                raw.append(run)
                results.append(r)
    except NoCgroups as exc:
        print(f"SKIPPED: {exc}")
        return 0
    finally:
        os.sched_setaffinity(0, original)
    judge(results)
    print()
    print(format_table(results, args.goal_ms, args.percentile, args.settle))
    print()
    for r in results:
        if r["strategy"] == "wlmtui":
            print(describe_wlmtui(r))
        lat = r["send_lateness_ms"] or {}
        fb = " / ".join(f"{x:.0%}" for x in r["foreign_by_phase"])
        stall = " / ".join(f"{x:.1%}" for x in r["interactive_stall_by_phase"])
        full = " / ".join(f"{x:.1%}" for x in r["interactive_full_stall_by_phase"])
        print(f"{r['strategy']}: interactive CPU stall (quiet/peak/quiet): PSI some {stall} (the proxy's input, "
              f"threshold 3 %); PSI full {full} (no interactive task running)")
        print(f"{r['strategy']}: attempt {r['attempt']}; other tenants took {fb} of CPU {args.cpu} (quiet/peak/quiet); "
              f"{r['requests']} requests, {r['unfinished']} unfinished at the end; "
              f"generator send lateness p99 {lat.get('p99', 0):.2f} ms, max {lat.get('max', 0):.1f} ms; "
              f"batch CPU in the peak {r['batch_peak_s']:.1f} s, interactive CPU overall {r['interactive_total_s']:.1f} s")
    if args.detail:
        for r in results:
            print(f"\n### {r['label']}: per second\n")
            print(format_detail(r, args.quiet, args.peak))
    wl = next((r for r in results if r["strategy"] == "wlmtui"), None)
    if wl is not None:
        print(f"\nwlmtui goal (≥ 95 % of peak intervals after {args.settle:g} s, batch ≥ 95 % of equal when quiet): "
              f"{verdict(wl['pass'])}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        doc = {"machine": machine(), "args": vars(args), "results": results}
        Path(args.out, "control_quality.json").write_text(json.dumps(doc, indent=1))
        from bench.plot import control_quality_svg

        Path(args.out, "control_quality.svg").write_text(control_quality_svg(results, args))
        print(f"wrote {args.out}/control_quality.json and control_quality.svg")
    return 0


def run(argv: list[str] | None = None) -> int:
    return run_bench(main, argv)


if __name__ == "__main__":
    sys.exit(run())
