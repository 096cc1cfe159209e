"""Control under changing load (issue 11): does wlmtui keep the interactive
p95 goal while the load steps, and give batch what the best static weights
for each phase would?

    sudo python -m bench.projection_quality --parent-weight 1000 --out bench/results   # 5 repeats + sweep (~65 min)
    sudo python -m bench.projection_quality --quick                         # 1 repeat, 2 static ratios
    sudo python -m bench.projection_quality --scenarios steps --repeats 2

The scenario is ``bench/arm_quality.py``'s, on one pinned CPU: batch = four
busy loops; interactive = ``--workers`` processes serving an open-loop
Poisson stream of 5 ms requests (reporting each response time through
``wlmtui.arm``) **plus a greedy process at nice 19** in the same class, so
the class uses every bit of CPU its weight buys. Goal: p95 ≤ 50 ms.

Load scenarios (share of the pinned CPU the requests need):

* ``steady``: 30 % for two phases of 40 s;
* ``steps``: 20 % → 55 % → 20 %, 40 s each;
* ``doubling``: 25 % → 50 % (a sudden doubling), 60 s each.

Strategies: the real headless loop ``python -m wlmtui --no-ui --json``
(starting from 100:100, interactive importance 1, batch importance 4 with a
velocity goal), repeated ``--repeats`` times per scenario; and static weights
``I:B`` for each ratio of ``--sweep``, once per scenario (each phase of a
scenario is judged separately, so one run gives every phase's figure).

Judged: the p95 of the requests arriving in each 5-s window from
``--settle`` s on — load transitions included. Goal 1: ≥ 95 % of those
windows meet the goal in *every* wlmtui run. Goal 2: batch CPU ≥ 90 % of
the *best static* weights per phase: for each phase, the static ratio that
met the goal in every window of that phase and gave batch the most CPU; the
sum of those over the phases is the baseline of the whole run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.arm_quality import analyse, run_strategy
from bench.cgroups import run_bench, run_quietly
from bench.control_quality import pct
from bench.report import machine, machine_line, table, verdict

#: name: (seconds a phase, load per phase as a share of the CPU). Every scenario with an
#: upward step judges at least 20 windows: the window that holds the step (its first
#: second comes before any loop can react) may then miss without failing the run.
SCENARIOS = {
    "steady": (40, (0.30, 0.30)),
    "steps": (40, (0.20, 0.55, 0.20)),
    "doubling": (60, (0.25, 0.50)),
}
WINDOW_S = 5
MET_GOAL = 0.95
BATCH_GOAL = 0.90
DEFAULT_SWEEP = "400:600,500:500,600:400,700:300,800:200,900:100"


def windows(run: dict, goal_s: float, percentile: float, settle_s: int, phase_s: float) -> list[dict]:
    """Every judged 5-s window: its phase, request count, p95 and whether it met the goal."""
    t0 = run["t0"]
    load = run["load"]
    rts = [(a - t0, (d - a) if d is not None else math.inf) for a, d in zip(load["arrivals"], load["done"])]
    out = []
    total = int(run["seconds"])
    for start in range(settle_s, total - WINDOW_S + 1, WINDOW_S):
        got = [rt for a, rt in rts if start <= a < start + WINDOW_S]
        p = pct(got, percentile) if got else None
        out.append({"start": start, "phase": int(start // phase_s), "n": len(got), "p95": p,
                    "met": p is None or p <= goal_s})
    return out


def batch_by_phase(run: dict, phase_s: float, phases: int, settle_s: int) -> list[float]:
    """Batch CPU seconds per phase (the first phase from ``settle_s`` on)."""
    usage = run["usage"]  # one sample per second: (t, batch usec, ...)
    out = []
    for k in range(phases):
        a = max(settle_s, int(k * phase_s))
        b = int((k + 1) * phase_s)
        out.append((usage[b][1] - usage[a][1]) / 1e6)
    return out


def evaluate(run: dict, args, phases: int) -> dict:
    w = windows(run, args.goal_ms / 1000, args.percentile, args.settle, args.phase)
    per_phase = []
    for k in range(phases):
        mine = [x for x in w if x["phase"] == k]
        per_phase.append({"windows": len(mine), "met": sum(x["met"] for x in mine)})
    return {"windows": w, "met": sum(x["met"] for x in w), "judged": len(w),
            "met_share": sum(x["met"] for x in w) / len(w) if w else float("nan"),
            "per_phase": per_phase, "batch": batch_by_phase(run, args.phase, phases, args.settle)}


def best_static(statics: dict[str, dict], phases: int) -> list[tuple[str | None, float]]:
    """Per phase: the static ratio that met the goal in every window of it with the most batch CPU."""
    best = []
    for k in range(phases):
        ok = [(e["batch"][k], name) for name, e in statics.items()
              if e["per_phase"][k]["met"] == e["per_phase"][k]["windows"]]
        best.append((max(ok)[1], max(ok)[0]) if ok else (None, float("nan")))
    return best


def _met(ev: dict) -> str:
    return ", ".join(f"{x['met']}/{x['windows']}" for x in ev["per_phase"])


def _batch(ev: dict) -> str:
    return ", ".join(f"{b:.1f}" for b in ev["batch"])


def one(bc, name: str, args, others, tmp, loads: tuple[float, ...], label: str) -> tuple[dict, dict]:
    args.phase_list = [(args.phase, load) for load in loads]
    args.seconds = args.phase * len(loads)

    def once(attempt: int):
        run = run_strategy(bc, name, args, others, tmp)
        run["attempt"] = attempt
        return run, analyse(run, args.goal_ms / 1000, args.percentile, args.settle)

    run, base = run_quietly(label, once, args, "10 s")
    ev = evaluate(run, args, len(loads))
    ev.update(noisy=base.get("noisy", False), foreign_max=base["foreign_max"], attempt=run["attempt"],
              weights=base["weights_in_force"],
              reasons=[(t["t"], t["classes"].get("interactive", {}).get("reason"),
                        t["classes"].get("batch", {}).get("reason")) for t in run["ticks"] if t.get("t") is not None],
              # interactive per tick: t, PI, weight, share, floor share, projection (share, basis, level)
              trace=[(t["t"], i.get("pi"), i.get("weight"), i.get("share"), i.get("floor_share"),
                      *((i.get("projection") or {}).get(k) for k in ("share", "basis", "level")))
                     for t in run["ticks"] if t.get("t") is not None
                     for i in [t["classes"].get("interactive", {})]])
    return run, ev


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.projection_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list of " + ", ".join(SCENARIOS))
    p.add_argument("--phase-scale", type=float, default=1.0, help="multiply every phase's length (1)")
    p.add_argument("--repeats", type=int, default=5, help="wlmtui runs per scenario (5)")
    p.add_argument("--sweep", default=DEFAULT_SWEEP, help="static I:B weights, comma separated")
    p.add_argument("--quick", action="store_true", help="1 repeat, half-length phases, sweep 500:500,800:200")
    p.add_argument("--work-ms", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--goal-ms", type=float, default=50.0)
    p.add_argument("--percentile", type=float, default=95.0)
    p.add_argument("--settle", type=int, default=10, help="seconds at the start not judged (10)")
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--lead", type=float, default=1.0)
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--max-foreign", type=float, default=0.10)
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--parent-weight", type=int, default=None)
    p.add_argument("--out", metavar="DIR", help="write projection_quality.json here")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.phase_scale, args.sweep = 1, 0.5, "500:500,800:200"
    args.load = 0.3
    names = [s for s in args.scenarios.split(",") if s]
    for s in names:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    sweep = [s for s in args.sweep.split(",") if s]
    from bench.cgroups import NoCgroups, available, bench_cgroups

    started = machine()
    print(f"## Control under changing load (issue 11) — {machine_line()}")
    why = available()
    if why is not None:
        print(f"SKIPPED: needs root and writable cgroups ({why})")
        return 0
    allowed = sorted(os.sched_getaffinity(0))
    args.cpu = allowed[-1] if args.cpu is None or args.cpu not in allowed else args.cpu
    others = set(allowed) - {args.cpu} or {args.cpu}
    print(f"scenario: CPU {args.cpu}; batch 4 busy loops; interactive {args.workers} workers × {args.work_ms:g} ms "
          f"requests + 1 greedy nice-19 task; goal p{args.percentile:g} ≤ "
          f"{args.goal_ms:g} ms per {WINDOW_S}-s window from {args.settle} s on; seed {args.seed}")
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, others)
    doc: dict = {"machine": started, "args": {k: v for k, v in vars(args).items() if k != "phase_list"},
                 "scenarios": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="wlmtui-bench-pq-") as tmp, \
                bench_cgroups(["interactive", "batch"]) as bc:
            if args.parent_weight:
                bc.set_parent_weight(args.parent_weight)
            for scen in names:
                phase, loads = SCENARIOS[scen]
                args.phase = phase * args.phase_scale
                entry = {"loads": loads, "phase_s": args.phase, "static": {}, "wlmtui": []}
                doc["scenarios"][scen] = entry
                for k in range(args.repeats):
                    _, ev = one(bc, "wlmtui", args, others, tmp, loads, f"{scen} wlmtui #{k + 1}")
                    entry["wlmtui"].append(ev)
                    print(f"  {scen} wlmtui #{k + 1}: windows met per phase {_met(ev)}; batch {_batch(ev)} s",
                          flush=True)
                for ratio in sweep:
                    _, ev = one(bc, ratio, args, others, tmp, loads, f"{scen} static {ratio}")
                    entry["static"][ratio] = ev
                    print(f"  {scen} static {ratio}: windows met per phase {_met(ev)}; batch {_batch(ev)} s",
                          flush=True)
                if args.out:  # what is done so far, in case the run is cut short
                    os.makedirs(args.out, exist_ok=True)
                    Path(args.out, "projection_quality.json").write_text(json.dumps(doc, indent=1))
    except NoCgroups as exc:
        print(f"SKIPPED: {exc}")
        return 0
    finally:
        os.sched_setaffinity(0, original)
    print()
    print(report(doc))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        Path(args.out, "projection_quality.json").write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.out}/projection_quality.json")
    return 0


def report(doc: dict) -> str:
    """The tables of BENCHMARKS.md §6 from a run's document."""
    rows = []
    lines = []
    all_pass = True
    for scen, e in doc["scenarios"].items():
        if not e["wlmtui"] or not e["static"]:
            continue
        phases = len(e["loads"])
        best = best_static(e["static"], phases)
        base = sum(b for _, b in best)
        shares = [r["met_share"] for r in e["wlmtui"]]
        ratios = [sum(r["batch"]) / base if base == base and base > 0 else float("nan") for r in e["wlmtui"]]
        met_ok = all(s >= MET_GOAL for s in shares)
        batch_ok = all(x >= BATCH_GOAL for x in ratios)
        all_pass &= met_ok and batch_ok
        noisy = sum(1 for r in e["wlmtui"] if r["noisy"])
        rows.append([
            scen, " → ".join(f"{x:.0%}" for x in e["loads"]) + f" ({e['phase_s']:g} s each)", str(len(shares)),
            f"{min(shares):.0%} / {statistics.median(shares):.0%}" if shares else "-",
            " · ".join(f"{n or 'none'} ({b:.1f} s)" for n, b in best),
            f"{min(ratios):.0%} / {statistics.median(ratios):.0%}" if ratios else "-",
            f"{verdict(met_ok)} / {verdict(batch_ok)}" + (f" ({noisy} NOISY)" if noisy else ""),
        ])
        for ratio, ev in e["static"].items():
            lines.append(f"{scen:9} static {ratio:>8}: windows met per phase {_met(ev)}; batch per phase "
                         f"{_batch(ev)} s")
        for k, ev in enumerate(e["wlmtui"]):
            lines.append(f"{scen:9} wlmtui #{k + 1}      : windows met per phase {_met(ev)}; batch per phase "
                         f"{_batch(ev)} s" + ("  NOISY" if ev["noisy"] else ""))
    head = ["scenario", "load (share of the CPU)", "wlmtui runs",
            f"{WINDOW_S}-s windows met, worst / median (≥ {MET_GOAL:.0%})", "best static per phase (batch CPU)",
            f"batch vs best static, worst / median (≥ {BATCH_GOAL:.0%})", "verdict (goal / batch)"]
    return table(head, rows) + "\n\n" + "\n".join(lines) + f"\n\nissue 11 goals: {verdict(all_pass)}"


def run(argv: list[str] | None = None) -> int:
    return run_bench(main, argv)


if __name__ == "__main__":
    sys.exit(run())
