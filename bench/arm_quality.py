"""Control quality with measured response times (issue 5): does wlmtui give an
interactive class *just enough* CPU for its p95 goal, when that class also
holds a greedy background task that would take any CPU it is given?

    sudo python -m bench.arm_quality --parent-weight 1000            # 90 s per strategy, ×4
    sudo python -m bench.arm_quality --quick                         # 30 s per strategy
    sudo python -m bench.arm_quality --out bench/results --detail    # also JSON; per-second series

The scenario, all on one pinned CPU (``--cpu``, default the highest allowed):

* **batch**: four busy loops in ``<parent>/batch``.
* **interactive** (``<parent>/interactive``): ``--workers`` processes serving
  an open-loop Poisson request stream of ``--load`` of the CPU (30 %) in
  requests of ``--work-ms`` CPU time each (5 ms) — ``bench/rtload.py``, as in
  ``bench/control_quality.py`` — **plus one greedy process at nice 19** that
  spins for the whole run. Within the class the workers' nice 0 (weight
  1024) beats the greedy task's nice 19 (weight 15), so the greedy task takes
  what the workers leave of the class's share; the class as a whole is
  always runnable and uses every bit of CPU its weight gets it.
* **Response times**: completion − *scheduled* arrival, measured by the
  generator. Every worker also reports that same number, in ms, with
  ``wlmtui.arm.report("interactive", ms)`` to the loop's socket
  ``<state_dir>/arm.sock`` (``state_dir`` in a temporary directory).

Strategies, each on the same arrival schedule (``--seed``):

* ``favour``: static weights 1000:100 (10:1 for interactive): the baseline.
* ``equal``: static weights 100:100, where wlmtui starts: does the goal need
  more than that?
* ``wlmtui``: the real headless loop ``python -m wlmtui --no-ui POLICY --json
  --no-create`` (1 s interval), starting from 100:100, interactive
  ``response_time 50ms, percentile 95`` (importance 1, weights 10–1000),
  batch ``velocity 20`` (importance 4, weights 10–1000); default gains. The
  workers report, so the loop judges the interactive goal on measured
  response times (``pi_source`` ``rt-measured``).
* ``wlmtui-psi``: the same loop and policy, but the workers do not report, so
  the loop falls back to its PSI proxy — to show what the reports change.
* ``I:B`` (e.g. ``300:100``): any other static weights, for calibration.

Per strategy: the p95 of the requests arriving in each 1-s interval; the
share of intervals after ``--settle`` (10 s) whose p95 meets the goal; batch
CPU seconds (``cpu.stat`` usage_usec of the batch cgroup) after the settle
window and overall, and as a ratio to ``favour`` measured in the same run;
the weights in force (read back from the cgroups each second) and, for the
wlmtui strategies, the loop's weights, PI and ``pi_source`` per tick from its
JSON lines. Goals (issue 5): wlmtui meets the p95 goal in ≥ 95 % of the
intervals after settling, and batch receives at least 2× the CPU it gets
under static 10:1.

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

from bench.control_quality import _ms, pct, policy_yaml
from bench.cgroups import run_bench, run_quietly
from bench.report import machine, machine_line, table, verdict

ROOT = Path(__file__).resolve().parent.parent
BUSY = "while True: pass"
GREEDY = "import os\nos.nice(19)\nwhile True: pass"
NAMED = {
    "favour": {"weights": (1000, 100), "label": "static 10:1 (1000:100)", "wlmtui": False, "report": False},
    "equal": {"weights": (100, 100), "label": "static 1:1 (100:100)", "wlmtui": False, "report": False},
    "wlmtui": {"weights": (100, 100), "label": "wlmtui, measured p95 (ARM reports)", "wlmtui": True,
               "report": True},
    "wlmtui-psi": {"weights": (100, 100), "label": "wlmtui, no reports (PSI proxy)", "wlmtui": True,
                   "report": False},
}
MET_SHARE_GOAL = 0.95
BATCH_RATIO_GOAL = 2.0
BLOCK_S = 10  # noise is judged per block of this many seconds


def strategy(name: str) -> dict:
    """A named strategy, or ``I:B`` static weights."""
    if name in NAMED:
        return NAMED[name]
    try:
        wi, wb = (int(x) for x in name.split(":"))
    except ValueError:
        raise ValueError(name) from None
    if not (1 <= wi <= 10000 and 1 <= wb <= 10000):
        raise ValueError(name)
    return {"weights": (wi, wb), "label": f"static {wi}:{wb}", "wlmtui": False, "report": False}


# ---------------------------------------------------------------- one run

def _reader(proc: subprocess.Popen, t0_box: list[float], ticks: list[dict]) -> None:
    """wlmtui's JSON lines → what the bench keeps of each tick."""
    for line in proc.stdout:
        now = time.monotonic()
        try:
            snap = json.loads(line)
        except ValueError:
            continue
        classes = {}
        for c in snap["classes"]:
            m = c.get("measurements") or {}
            rt = c.get("response_times") or {}
            classes[c["name"]] = {
                "weight": c["weight"], "pi": c["pi"], "source": c["pi_source"], "status": c["status"],
                "role": c["role"], "reason": c["reason"], "detail": c.get("pi_detail"),
                "rt_p95": rt.get("p95"), "rt_count": rt.get("count"),
                "transactions": m.get("transactions"), "velocity": m.get("velocity"),
                "usage": m.get("usage_cores"), "cpu_stall": m.get("cpu_stall"), "cpu_full": m.get("cpu_full"),
                "share": c.get("share"), "floor_share": c.get("floor_share"), "projection": c.get("projection"),
            }
        ticks.append({"t": now - t0_box[0] if t0_box else None, "mono": now, "loop_ms": snap["loop_ms"],
                      "classes": classes, "errors": snap["errors"],
                      "events": [e["text"] for e in snap.get("events", []) if e["kind"] == "error"]})


def _cpu_ns(pid: int) -> int:
    """CPU time of a process so far (ns), from ``/proc/PID/schedstat``."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _nice(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[16])
    except (OSError, ValueError, IndexError):
        return None


def _weight(bc, name: str) -> int:
    with open(bc.weight_path(name), encoding="ascii") as fh:
        raw = int(fh.read())
    return raw if bc.kind == "v2" else round(raw * 100 / 1024)


def run_strategy(bc, name: str, args, others: set[int], tmp: str) -> dict:
    """One strategy over the whole run; returns raw series (analysed later)."""
    spec = strategy(name)
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    w_int, w_batch = spec["weights"]
    bc.set_weight("interactive", w_int)
    bc.set_weight("batch", w_batch)
    state = os.path.join(tmp, f"state-{name.replace(':', '-')}")
    os.makedirs(state, exist_ok=True)
    sock = os.path.join(state, "arm.sock")
    procs = []
    wl = None
    try:
        for _ in range(4):
            procs.append(bc.spawn([py, "-c", BUSY], into="batch", cpu=args.cpu, stdout=subprocess.DEVNULL))
        greedy = bc.spawn([py, "-c", GREEDY], into="interactive", cpu=args.cpu, stdout=subprocess.DEVNULL)
        procs.append(greedy)
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        from bench.rtload import enlarge

        enlarge(req_w)
        enlarge(res_w)
        report = ["--arm-socket", sock] if spec["report"] else []
        for _ in range(args.workers):
            procs.append(bc.spawn([py, "-m", "bench.rtload", "worker", "--req-fd", str(req_r), "--res-fd", str(res_w),
                                   "--work-ms", str(args.work_ms), *report], into="interactive", cpu=args.cpu,
                                  pass_fds=(req_r, res_w), cwd=ROOT, env=env))
        os.close(req_r)
        os.close(res_w)
        time.sleep(args.lead)  # let the workers finish starting (their imports count as interactive CPU)
        ticks: list[dict] = []
        t0_box: list[float] = []
        if spec["wlmtui"]:
            policy = os.path.join(tmp, f"policy-{name}.yaml")
            Path(policy).write_text(policy_yaml(bc.parent, state, args.goal_ms, args.percentile))
            wl = bc.spawn([py, "-m", "wlmtui", "--no-ui", policy, "--json", "--no-create"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            os.sched_setaffinity(wl.pid, others)
            threading.Thread(target=_reader, args=(wl, t0_box, ticks), daemon=True).start()
            # Requests start just after the loop has bound its socket (and so taken its first
            # sample): its first tick then sees about half a second of reports, not an idle
            # spell in which the greedy task's CPU stall alone would move the weights.
            deadline = time.monotonic() + 30
            while not os.path.exists(sock):
                if wl.poll() is not None:
                    raise RuntimeError(f"wlmtui exited early ({wl.returncode}): {wl.stderr.read()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("wlmtui did not bind its ARM socket within 30 s")
                time.sleep(0.01)
        t0 = time.monotonic() + 0.5
        t0_box.append(t0)
        # load phases: (seconds, share of the CPU); bench.projection_quality sets several
        phases = getattr(args, "phase_list", None) or [(args.seconds, args.load)]
        duration = sum(d for d, _ in phases)
        schedule = ",".join(f"{d:g}:{load / args.work_ms * 1000:g}" for d, load in phases)
        out = os.path.join(tmp, f"gen-{name.replace(':', '-')}.json")
        gen = bc.spawn([py, "-m", "bench.rtload", "generate", "--req-fd", str(req_w), "--res-fd", str(res_r),
                        "--t0", repr(t0), "--phases", schedule,
                        "--seed", str(args.seed), "--drain", str(args.drain), "--out", out],
                       pass_fds=(req_w, res_r), cwd=ROOT, env=env)
        procs.append(gen)
        os.sched_setaffinity(gen.pid, others)
        os.close(req_w)
        os.close(res_r)
        greedy_nice = None
        # per second: (t - t0, batch usec, interactive usec, interactive cpu some, full (usec),
        #              greedy ns, weight interactive, weight batch)
        usage = []
        for k in range(int(math.ceil(duration)) + 1):
            delay = t0 + k - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            usage.append((time.monotonic() - t0, bc.usage_usec("batch"), bc.usage_usec("interactive"),
                          *bc.pressure_usec("interactive"), _cpu_ns(greedy.pid),
                          _weight(bc, "interactive"), _weight(bc, "batch")))
            if greedy_nice is None:
                greedy_nice = _nice(greedy.pid)
            if wl is not None and wl.poll() is not None:
                raise RuntimeError(f"wlmtui exited early ({wl.returncode}): {wl.stderr.read()}")
            if sys.stderr.isatty():
                print(f"\r  {name}: {k:3d}/{duration:.0f} s", end="", flush=True, file=sys.stderr)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        gen.wait(timeout=args.drain + 60)
        if gen.returncode != 0:
            raise RuntimeError(f"request generator failed ({gen.returncode})")
        with open(out, encoding="utf-8") as fh:
            load = json.load(fh)
        wl_err = ""
        if wl is not None:
            wl.send_signal(signal.SIGTERM)
            try:
                wl.wait(timeout=10)
                wl_err = wl.stderr.read()
            except subprocess.TimeoutExpired:
                pass
    finally:
        bc.stop(procs + ([wl] if wl is not None else []))
    return {"strategy": name, "t0": t0, "seconds": duration, "usage": usage, "load": load, "ticks": ticks,
            "greedy_nice": greedy_nice, "wlmtui_stderr": wl_err[-2000:]}


# ---------------------------------------------------------------- analysis

def _delta(usage: list[tuple], a: int, b: int, col: int, scale: float = 1e6) -> float:
    """Counter ``col`` between the samples taken at seconds ``a`` and ``b`` after t0 (seconds of CPU)."""
    return (usage[b][col] - usage[a][col]) / scale


def analyse(run: dict, goal_s: float, percentile: float, settle_s: int) -> dict:
    t0, total = run["t0"], int(run["seconds"])
    load = run["load"]
    usage = run["usage"]
    rts = [(a - t0, (d - a) if d is not None else math.inf) for a, d in zip(load["arrivals"], load["done"])]
    per_second = []  # (second, n, p95 s or None, batch cores, interactive cores, greedy cores, wi, wb)
    for s in range(total):
        bin_ = [rt for a, rt in rts if s <= a < s + 1]
        per_second.append((s, len(bin_), pct(bin_, percentile) if bin_ else None,
                           _delta(usage, s, s + 1, 1), _delta(usage, s, s + 1, 2), _delta(usage, s, s + 1, 5, 1e9),
                           usage[s + 1][6], usage[s + 1][7]))
    judged = per_second[settle_s:]
    met = [p is None or p <= goal_s for _s, _n, p, *_ in judged]
    p95s = [p for _s, _n, p, *_ in judged if p is not None]
    settle = None  # first second from which every interval meets the goal
    for k in range(len(per_second) - 1, -1, -1):
        p = per_second[k][2]
        if p is not None and p > goal_s:
            settle = k + 1 if k + 1 < len(per_second) else None
            break
    else:
        settle = 0
    after = [rt for a, rt in rts if a >= settle_s]
    blocks = [(a, min(a + BLOCK_S, total)) for a in range(0, total, BLOCK_S) if min(a + BLOCK_S, total) - a >= 5]
    foreign = [max(0.0, 1.0 - (_delta(usage, a, b, 1) + _delta(usage, a, b, 2)) / (b - a)) for a, b in blocks]
    ticks = run["ticks"]
    it = [t for t in ticks if t["t"] is not None and "interactive" in t["classes"]]
    judged_ticks = [t for t in it if t["t"] - 0.5 >= settle_s]  # the tick's interval lies after the settle window
    sources_all = [t["classes"]["interactive"]["source"] for t in it]
    sources_judged = [t["classes"]["interactive"]["source"] for t in judged_ticks]
    # The bench's own p95 over the requests that completed in the 3 s before each tick (the loop's
    # window), beside the p95 the loop computed from the reports: does what wlmtui sees agree?
    finished = sorted((d, d - a) for a, d in zip(load["arrivals"], load["done"]) if d is not None)
    agree = []
    for t in it:
        loop_p95 = t["classes"]["interactive"].get("rt_p95")
        if loop_p95 is None:
            continue
        window = [rt for d, rt in finished if t["mono"] - 3.0 < d <= t["mono"]]
        if len(window) >= 5:
            agree.append((t["t"], loop_p95, pct(window, percentile)))
    diffs = sorted(abs(a - b) for _t, a, b in agree)
    spec = strategy(run["strategy"])
    interactive_s = _delta(usage, settle_s, total, 2)
    greedy_s = _delta(usage, settle_s, total, 5, 1e9)
    return {
        "strategy": run["strategy"], "label": spec["label"], "wlmtui": spec["wlmtui"], "report": spec["report"],
        "percentile": percentile,
        "requests": len(rts), "unfinished": sum(1 for _, rt in rts if rt == math.inf),
        "p50_ms": 1000 * pct(after, 50), "p95_ms": 1000 * pct(after, 95), "p99_ms": 1000 * pct(after, 99),
        "intervals": len(met), "met": sum(met), "met_share": sum(met) / len(met) if met else float("nan"),
        "all_met_from_s": settle,
        "interval_p95_ms": {"min": 1000 * min(p95s) if p95s else float("nan"),
                            "median": 1000 * statistics.median(p95s) if p95s else float("nan"),
                            "max": 1000 * max(p95s) if p95s else float("nan")},
        "batch_s": _delta(usage, settle_s, total, 1), "batch_total_s": _delta(usage, 0, total, 1),
        "judged_s": total - settle_s, "total_s": total,
        "interactive_s": interactive_s, "greedy_s": greedy_s, "workers_s": interactive_s - greedy_s,
        "foreign_by_block": foreign, "foreign_max": max(foreign) if foreign else 0.0,
        "greedy_nice": run.get("greedy_nice"),
        "attempt": run.get("attempt", 1),
        "send_lateness_ms": load.get("send_lateness_ms"),
        "weights_in_force": [(s, wi, wb) for s, _n, _p, _b, _i, _g, wi, wb in per_second],
        "weights_after_settle": {
            "interactive": [wi for *_x, wi, _wb in judged], "batch": [wb for *_x, wb in judged]},
        "loop_vs_bench_p95_ms": None if not diffs else {
            "ticks": len(diffs), "median_abs_diff": 1000 * statistics.median(diffs), "max_abs_diff": 1000 * diffs[-1]},
        "pi_sources": {s: sources_all.count(s) for s in sorted(set(sources_all))},
        "pi_sources_after_settle": {s: sources_judged.count(s) for s in sorted(set(sources_judged))},
        "reports_received": sum((t["classes"]["interactive"].get("transactions") or 0) for t in it),
        # requests that completed by the loop's last tick (the ones it could have drained)
        "requests_done_by_last_tick": (sum(1 for d in load["done"] if d is not None and d <= it[-1]["mono"])
                                       if it else 0),
        "ticks": [{"t": None if t["t"] is None else round(t["t"], 3),
                   **{f"{k}_{c}": t["classes"].get(c, {}).get(k)
                      for c in ("interactive", "batch")
                      for k in ("weight", "pi", "source", "status", "role")},
                   "rt_p95_interactive": t["classes"].get("interactive", {}).get("rt_p95"),
                   "rt_count_interactive": t["classes"].get("interactive", {}).get("rt_count"),
                   "transactions_interactive": t["classes"].get("interactive", {}).get("transactions"),
                   "cpu_stall_interactive": t["classes"].get("interactive", {}).get("cpu_stall"),
                   "cpu_full_interactive": t["classes"].get("interactive", {}).get("cpu_full"),
                   "detail_interactive": t["classes"].get("interactive", {}).get("detail"),
                   "usage_batch": t["classes"].get("batch", {}).get("usage"),
                   "velocity_batch": t["classes"].get("batch", {}).get("velocity"),
                   "reason_interactive": t["classes"].get("interactive", {}).get("reason"),
                   "reason_batch": t["classes"].get("batch", {}).get("reason"),
                   "errors": t["errors"], "loop_ms": t["loop_ms"]} for t in ticks],
        "per_second": [(s, n, p, round(b, 4), round(i, 4), round(g, 4), wi, wb)
                       for s, n, p, b, i, g, wi, wb in per_second],
    }


def judge(results: list[dict]) -> None:
    """Verdicts, relative to the static 10:1 baseline of the same run."""
    base = next((r for r in results if r["strategy"] == "favour"), None)
    for r in results:
        r["batch_vs_favour"] = r["batch_s"] / base["batch_s"] if base and base["batch_s"] > 0 else None
        r["batch_total_vs_favour"] = (r["batch_total_s"] / base["batch_total_s"]
                                      if base and base["batch_total_s"] > 0 else None)
        r["goal_pass"] = r["met_share"] >= MET_SHARE_GOAL
        r["batch_pass"] = None if r["batch_vs_favour"] is None else r["batch_vs_favour"] >= BATCH_RATIO_GOAL
        r["pass"] = r["goal_pass"] and r["batch_pass"] is True


def _weights_text(r: dict) -> str:
    wi, wb = r["weights_after_settle"]["interactive"], r["weights_after_settle"]["batch"]
    if not wi:
        return "n/a"
    if min(wi) == max(wi) and min(wb) == max(wb):
        return f"{wi[0]}:{wb[0]}"
    return (f"median {statistics.median(wi):.0f}:{statistics.median(wb):.0f} "
            f"(i {min(wi)}–{max(wi)}, b {min(wb)}–{max(wb)})")


def format_table(results: list[dict], goal_ms: float, percentile: float, settle_s: int) -> str:
    rows = []
    for r in results:
        src = ", ".join(f"{k} {v}" for k, v in r["pi_sources_after_settle"].items()) if r["wlmtui"] else "—"
        rel = "—" if r["batch_vs_favour"] is None else f"{r['batch_vs_favour']:.2f}×"
        rel_all = "—" if r["batch_total_vs_favour"] is None else f"{r['batch_total_vs_favour']:.2f}×"
        rows.append([
            r["label"], _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]),
            f"{r['met']}/{r['intervals']} = {r['met_share']:.0%} {verdict(r['goal_pass'])}",
            f"{r['batch_s']:.1f} s ({rel}) {verdict(r['batch_pass'])}",
            f"{r['batch_total_s']:.1f} s ({rel_all})",
            _weights_text(r), src,
            f"{r['foreign_max']:.0%}" + (" NOISY" if r.get("noisy") else ""),
        ])
    return table(["strategy", "p50 ms", f"p{percentile:g} ms", "p99 ms",
                  f"1-s intervals p{percentile:g} ≤ {goal_ms:g} ms (≥ 95 %)",
                  "batch CPU (vs 10:1, ≥ 2×)", f"batch CPU incl. first {settle_s} s",
                  "weights i:b in force", "wlmtui PI source (ticks)", "other tenants (worst 10 s)"], rows)


def _compress(points: list[tuple[int, int, int]]) -> str:
    """``[(t, wi, wb), ...]`` → ``t0 100:100 → t3 200:50 …`` (changes only)."""
    out, last = [], None
    for t, wi, wb in points:
        if (wi, wb) != last:
            out.append(f"{t}s {wi}:{wb}")
            last = (wi, wb)
    return " → ".join(out)


def describe(r: dict, settle_s: int) -> list[str]:
    lines = []
    ip = r["interval_p95_ms"]
    lines.append(f"{r['strategy']}: attempt {r['attempt']}; {r['requests']} requests, {r['unfinished']} unfinished; "
                 f"1-s p95 after {settle_s} s: min {_ms(ip['min'])}, median {_ms(ip['median'])}, max {_ms(ip['max'])} ms; "
                 f"CPU after {settle_s} s ({r['judged_s']} s): batch {r['batch_s']:.1f} s, interactive "
                 f"{r['interactive_s']:.1f} s = workers {r['workers_s']:.1f} s + greedy (nice {r['greedy_nice']}) "
                 f"{r['greedy_s']:.1f} s; other tenants per 10 s: "
                 + " / ".join(f"{x:.0%}" for x in r["foreign_by_block"])
                 + f"; generator send lateness p99 {(r['send_lateness_ms'] or {}).get('p99', 0):.2f} ms")
    if r["wlmtui"]:
        tk = [t for t in r["ticks"] if t["t"] is not None]
        src = ", ".join(f"{k} {v}" for k, v in r["pi_sources"].items())
        lines.append(f"{r['strategy']}: {len(tk)} ticks; interactive PI source (all ticks): {src}; "
                     f"reports received by the loop {r['reports_received']} (requests completed by its last "
                     f"tick: {r['requests_done_by_last_tick']} of {r['requests']})")
        lines.append(f"{r['strategy']}: weights in force (cgroup, each second): {_compress(r['weights_in_force'])}")
        agree = r.get("loop_vs_bench_p95_ms")
        if agree:
            lines.append(f"{r['strategy']}: the loop's p{r.get('percentile', 95):g} over its 3-s window vs the bench's "
                         f"over the requests completed in the same 3 s, {agree['ticks']} ticks: median difference "
                         f"{agree['median_abs_diff']:.1f} ms, max {agree['max_abs_diff']:.1f} ms")
        judged = [t for t in tk if t["t"] - 0.5 >= settle_s]
        if judged:
            st_i = [t["status_interactive"] for t in judged]
            st_b = [t["status_batch"] for t in judged]
            pis = [t["pi_interactive"] for t in judged if t["pi_interactive"] is not None]
            vel = [t["velocity_batch"] for t in judged if t["velocity_batch"] is not None]
            lines.append(
                f"{r['strategy']}: after {settle_s} s, interactive judged "
                + ", ".join(f"{k} {st_i.count(k)}" for k in sorted(set(st_i)))
                + "; batch judged " + ", ".join(f"{k} {st_b.count(k)}" for k in sorted(set(st_b)))
                + (f"; interactive PI median {statistics.median(pis):.2f} (min {min(pis):.2f}, max {max(pis):.2f})"
                   if pis else "")
                + (f"; batch velocity median {statistics.median(vel):.1f}" if vel else ""))
            full = [t["cpu_full_interactive"] for t in judged if t["cpu_full_interactive"] is not None]
            some = [t["cpu_stall_interactive"] for t in judged if t["cpu_stall_interactive"] is not None]
            bu = [t["usage_batch"] for t in judged if t["usage_batch"] is not None]
            if some and bu:
                lines.append(f"{r['strategy']}: after {settle_s} s, interactive CPU stall as the loop saw it: some "
                             f"median {statistics.median(some):.1%}"
                             + (f", full median {statistics.median(full):.1%}" if full else "")
                             + f"; batch CPU median {statistics.median(bu):.1%} of a core"
                             + (f"; PSI proxy detail (last tick): {judged[-1]['detail_interactive']}"
                                if judged[-1]["source_interactive"] == "psi-proxy" else ""))
            for c in ("interactive", "batch"):
                roles = [t[f"role_{c}"] for t in judged]
                lines.append(f"{r['strategy']}: after {settle_s} s, {c}'s weight changes by role: "
                             + ", ".join(f"{k} {roles.count(k)}" for k in sorted(set(roles))))
        errs = sorted({e for t in tk for e in t["errors"]})
        if errs:
            lines.append(f"{r['strategy']}: loop errors: {'; '.join(errs[:5])}")
    return lines


def format_detail(r: dict) -> str:
    """Per-second series: requests, p95, CPU split, weights in force, and the loop's view."""
    ticks = {}
    for t in r["ticks"]:
        if t["t"] is not None and t["t"] >= 0:
            ticks.setdefault(int(t["t"]), t)
    rows = []
    for s, n, p95, b, i, g, wi, wb in r["per_second"]:
        t = ticks.get(s + 1)  # ticks fall mid-second: the first tick whose 3-s window holds all of this second
        loop = ""
        if t is not None:
            rt = t["rt_p95_interactive"]
            loop = (f"PI {t['pi_interactive'] if t['pi_interactive'] is not None else '-'} "
                    f"{t['source_interactive']}" + (f" p95(3 s) {1000 * rt:.0f}" if rt is not None else "")
                    + f" · {t['role_interactive']}/{t['role_batch']}"
                    + (f" · b vel {t['velocity_batch']:.0f}" if t["velocity_batch"] is not None else ""))
        rows.append([s, n, "-" if p95 is None else _ms(1000 * p95), f"{b:.2f}", f"{i - g:.2f}", f"{g:.2f}",
                     f"{wi}:{wb}", loop])
    return table(["s", "requests", "p95 ms", "batch cores", "workers cores", "greedy cores", "weights i:b",
                  "wlmtui (its tick 0.5 s after this second)"], rows)


# ---------------------------------------------------------------- plot

COLOURS = {"favour": "#1f77b4", "equal": "#888888", "wlmtui": "#d62728", "wlmtui-psi": "#9467bd"}
SHORT = {"favour": "static 10:1", "equal": "static 1:1", "wlmtui": "wlmtui (ARM)", "wlmtui-psi": "wlmtui (PSI)"}


def svg(results: list[dict], goal_ms: float, percentile: float, seconds: float, settle_s: int) -> str:
    """p95 per second, batch CPU per second, and the weights in force, per strategy."""
    from html import escape

    from bench.plot import GAP, LEFT, PANEL_H, RIGHT, TOP, W, Panel

    colour = lambda r: COLOURS.get(r["strategy"], "#2ca02c")  # noqa: E731
    short = lambda r: SHORT.get(r["strategy"], r["strategy"])  # noqa: E731
    panels = []
    y = TOP
    p95 = Panel(y, f"Interactive p{percentile:g} per 1-s interval (requests binned by arrival)", seconds,
                0.0, 100.0, False, "ms")
    p95.shade(0, settle_s, "not judged")
    p95.hline(goal_ms, f"goal {goal_ms:g} ms")
    for r in results:
        p95.line([(s + 0.5, None if v is None else min(100.0, 1000 * v)) for s, _n, v, *_x in r["per_second"]],
                 colour(r), short(r))
    panels.append(p95)
    y += PANEL_H + GAP
    cpu = Panel(y, "Batch CPU per second (cores of the one pinned CPU)", seconds, 0.0, 0.6, False, "cores")
    cpu.shade(0, settle_s, "not judged")
    for r in results:
        cpu.line([(s + 0.5, b) for s, _n, _v, b, *_x in r["per_second"]], colour(r), short(r))
    panels.append(cpu)
    y += PANEL_H + GAP
    wp = Panel(y, "Weights in force, interactive (solid) and batch (dashed), log scale", seconds, 5.0, 2000.0,
               True, "weight")
    wp.shade(0, settle_s, "not judged")
    for r in results:
        if r["wlmtui"]:
            pts = r["weights_in_force"]
            wp.line([(t, wi) for t, wi, _wb in pts], colour(r), f"{short(r)}: i", step=True)
            wp.line([(t, wb) for t, _wi, wb in pts], colour(r), f"{short(r)}: b", dashed=True, step=True)
    panels.append(wp)
    height = y + PANEL_H + 40
    body = "\n".join(pn.svg() for pn in panels)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
            f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n{body}\n'
            f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{height - 10}" font-size="11" text-anchor="middle">'
            f'{escape("seconds from the first request")}</text>\n</svg>\n')


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.arm_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=90.0, help="length of each strategy's run (90 s)")
    p.add_argument("--quick", action="store_true", help="30 s per strategy")
    p.add_argument("--load", type=float, default=0.30, help="interactive request CPU demand (0.30 of the CPU)")
    p.add_argument("--work-ms", type=float, default=5.0, help="CPU time per request (5 ms)")
    p.add_argument("--workers", type=int, default=4, help="interactive worker processes (4)")
    p.add_argument("--goal-ms", type=float, default=50.0, help="interactive response-time goal (50 ms)")
    p.add_argument("--percentile", type=float, default=95.0)
    p.add_argument("--settle", type=int, default=10, help="seconds at the start not judged (10)")
    p.add_argument("--strategies", default="favour,equal,wlmtui,wlmtui-psi",
                   help="comma-separated: favour, equal, wlmtui, wlmtui-psi, or static I:B weights")
    p.add_argument("--cpu", type=int, default=None, help="CPU to pin the scenario to (default: highest allowed)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--lead", type=float, default=1.0, help="seconds for the processes to start before the run")
    p.add_argument("--drain", type=float, default=10.0, help="seconds to wait for stragglers after the run")
    p.add_argument("--max-foreign", type=float, default=0.10,
                   help="a run in which other tenants took more of the pinned CPU than this in any 10 s is "
                        "noisy: retried, else marked NOISY (default 0.10)")
    p.add_argument("--retries", type=int, default=2, help="retries of a noisy run (default 2)")
    p.add_argument("--parent-weight", type=int, default=None,
                   help="weight (1-10000) of the bench's parent cgroup against the rest of the host; "
                        "raise it to shield the scenario on a shared host")
    p.add_argument("--detail", action="store_true", help="print the per-second series of every strategy")
    p.add_argument("--out", metavar="DIR", help="write arm_quality.json and arm_quality.svg here")
    p.add_argument("--plot", metavar="JSON", help="only redraw DIR/arm_quality.svg from an earlier arm_quality.json")
    args = p.parse_args(argv)
    if args.plot:
        doc = json.loads(Path(args.plot).read_text())
        a = doc["args"]
        target = Path(args.plot).with_suffix(".svg")
        target.write_text(svg(doc["results"], a["goal_ms"], a["percentile"], a["seconds"], a["settle"]))
        print(f"wrote {target}")
        return 0
    if args.quick:
        args.seconds = min(args.seconds, 30.0)
    names = [s for s in args.strategies.split(",") if s]
    for s in names:
        try:
            strategy(s)
        except ValueError:
            p.error(f"unknown strategy {s!r}; choose from {', '.join(NAMED)} or I:B weights (1-10000)")
    if args.settle >= args.seconds:
        p.error("--settle must be shorter than --seconds")
    from bench.cgroups import NoCgroups, available, bench_cgroups

    started = machine()
    print(f"## Control quality with measured response times (issue 5) — {machine_line()}")
    why = available()
    if why is not None:
        print(f"SKIPPED: needs root and writable cgroups ({why})")
        return 0
    allowed = sorted(os.sched_getaffinity(0))
    args.cpu = allowed[-1] if args.cpu is None or args.cpu not in allowed else args.cpu
    others = set(allowed) - {args.cpu} or {args.cpu}
    if args.parent_weight:
        print(f"bench parent cgroup weight {args.parent_weight} against the rest of the host (--parent-weight)")
    print(f"scenario: CPU {args.cpu}; batch 4 busy loops; interactive {args.workers} workers, "
          f"{args.work_ms:g} ms/request, Poisson load {args.load:.0%} of the CPU, + 1 greedy process at nice 19; "
          f"{args.seconds:g} s per strategy, the first {args.settle} s not judged; "
          f"goal p{args.percentile:g} ≤ {args.goal_ms:g} ms per 1-s interval; seed {args.seed}")
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, others)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="wlmtui-bench-aq-") as tmp, \
                bench_cgroups(["interactive", "batch"]) as bc:
            if args.parent_weight:
                bc.set_parent_weight(args.parent_weight)
            for name in names:
                def once(attempt: int, name: str = name) -> tuple[dict, dict]:
                    run = run_strategy(bc, name, args, others, tmp)
                    run["attempt"] = attempt
                    r = analyse(run, args.goal_ms / 1000, args.percentile, args.settle)
                    if run["wlmtui_stderr"].strip():
                        r["wlmtui_stderr"] = run["wlmtui_stderr"]
                    return run, r

                results.append(run_quietly(name, once, args, "10 s")[1])
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
        for line in describe(r, args.settle):
            print(line)
        if r.get("wlmtui_stderr"):
            print(f"{r['strategy']}: wlmtui stderr: {r['wlmtui_stderr'].strip()[-500:]}")
    if args.detail:
        for r in results:
            print(f"\n### {r['label']}: per second\n")
            print(format_detail(r))
    wl = next((r for r in results if r["strategy"] == "wlmtui"), None)
    if wl is not None:
        print(f"\nwlmtui goal 1 (p{args.percentile:g} ≤ {args.goal_ms:g} ms in ≥ 95 % of 1-s intervals after "
              f"{args.settle} s): {verdict(wl['goal_pass'])}; goal 2 (batch CPU ≥ 2× static 10:1): "
              f"{verdict(wl['batch_pass'])}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        doc = {"machine": started, "machine_at_end": machine(), "args": vars(args), "results": results}
        Path(args.out, "arm_quality.json").write_text(json.dumps(doc, indent=1))
        Path(args.out, "arm_quality.svg").write_text(
            svg(results, args.goal_ms, args.percentile, args.seconds, args.settle))
        print(f"wrote {args.out}/arm_quality.json and arm_quality.svg")
    return 0


def run(argv: list[str] | None = None) -> int:
    return run_bench(main, argv)


if __name__ == "__main__":
    sys.exit(run())
