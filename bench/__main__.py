"""Run every bench: ``python -m bench [--quick] [--out DIR]``.

    sudo python -m bench --quick          # a few minutes: every figure beside its floor/baseline
    sudo python -m bench --out bench/results
    sudo python -m bench --parent-weight 1000   # shield the control scenarios from other tenants
    python -m bench --only loop_cost      # one bench (comma-separated names)
    sudo python -m bench --cleanup        # remove wlmtui-bench-* cgroups a killed bench left behind

Each bench runs as its own process (``python -m bench.<name>``), so a failure
in one does not stop the others and each cleans up after itself; benches
written elsewhere (``token_ingest``, ``console_cost``) run when present and
are skipped with a note when not, and any other runnable ``bench/<name>.py``
is picked up too. At the end the host is checked for
leftover ``wlmtui-bench-*`` cgroups.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.report import machine_line

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("loop_cost", "control_quality", "arm_quality", "arm_ingest", "token_ingest", "console_cost")
#: modules in bench/ that are helpers, not benches
HELPERS = {"cgroups", "report", "plot", "rtload"}


def discovered() -> list[str]:
    """The known benches first, then any other runnable ``bench/<name>.py``."""
    here = Path(__file__).resolve().parent
    extra = sorted(
        f.stem for f in here.glob("*.py")
        if not f.stem.startswith("_") and f.stem not in HELPERS and f.stem not in BENCHES
        and '__name__ == "__main__"' in f.read_text(encoding="utf-8", errors="replace")
    )
    return list(BENCHES) + extra


def _accepts(module: str, option: str) -> bool:
    try:
        out = subprocess.run([sys.executable, "-m", f"bench.{module}", "--help"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in out.stdout


def _argv(name: str, quick: bool, out: str | None, parent_weight: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", f"bench.{name}"]
    if name in ("control_quality", "arm_quality") and parent_weight:
        argv += ["--parent-weight", str(parent_weight)]
    if quick and _accepts(name, "--quick"):
        argv.append("--quick")
    if out:
        if name == "loop_cost":
            argv += ["--json", os.path.join(out, "loop_cost.json")]
        elif name == "control_quality":
            argv += ["--out", out]
        elif _accepts(name, "--out"):
            argv += ["--out", out]
    return argv


class Stopped(Exception):
    """Ctrl-C or SIGTERM: the running bench has cleaned up; run no more."""


def _run(argv: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    stop = []

    def _term(signum, _frame):
        stop.append(signum)
        proc.send_signal(signal.SIGTERM)  # the bench cleans up on SIGTERM

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            # the terminal's SIGINT reached the bench too: let it clean up, then stop
            stop.append(signal.SIGINT)
            code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stop:
        raise Stopped()
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="Run every wlmtui bench.")
    p.add_argument("--quick", action="store_true", help="short runs (each bench's --quick)")
    p.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)} (and any other bench/*.py)")
    p.add_argument("--out", metavar="DIR", help="write JSON results and plots here")
    p.add_argument("--parent-weight", type=int, metavar="W",
                   help="control_quality, arm_quality: weight of the bench's parent cgroup against the rest of a shared host")
    p.add_argument("--cleanup", action="store_true", help="remove leftover wlmtui-bench-* cgroups and exit")
    args = p.parse_args(argv)
    from bench.cgroups import cleanup_leftovers, leftovers

    if args.cleanup:
        removed = cleanup_leftovers()
        print("removed: " + (", ".join(removed) if removed else "nothing (no wlmtui-bench-* cgroups)"))
        return 0
    every = discovered()
    names = [n for n in (args.only.split(",") if args.only else every) if n]
    unknown = [n for n in names if n not in every]
    if unknown:
        p.error(f"unknown bench {unknown}; choose from {', '.join(every)}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    print(f"# wlmtui benches{' (--quick)' if args.quick else ''}\n{machine_line()}\n", flush=True)
    summary = []
    failed = False
    for name in names:
        if importlib.util.find_spec(f"bench.{name}") is None:
            summary.append((name, "skipped: bench/" + name + ".py is not in this tree (yet)"))
            print(f"\n(skipping {name}: bench/{name}.py not present)\n", flush=True)
            continue
        started = time.monotonic()
        try:
            code = _run(_argv(name, args.quick, args.out, args.parent_weight))
        except Stopped:
            summary.append((name, "interrupted"))
            failed = True
            break
        took = time.monotonic() - started
        summary.append((name, f"exit {code} after {took:.0f} s"))
        failed |= code != 0
        print(flush=True)
    left = leftovers()
    print("## Summary")
    for name, what in summary:
        print(f"- {name}: {what}")
    if left:
        print(f"- LEFTOVER cgroups (run `python -m bench --cleanup`): {', '.join(left)}")
    else:
        print("- cleanup check: no wlmtui-bench-* cgroups left on this host")
    return 1 if failed or left else 0


if __name__ == "__main__":
    sys.exit(main())
