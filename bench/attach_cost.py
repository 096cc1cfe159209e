"""Attach cost: what an attached console adds to the daemon's CPU.

    taskset -c 1 python -m bench.attach_cost            # 50 classes, 1 s interval, 4 rounds of 2 x 20 s
    taskset -c 1 python -m bench.attach_cost --quick    # 2 rounds of 2 x 8 s

A real daemon (``python -m wlmtui --no-ui POLICY``, the simulated host, 50
classes, 1 s interval, its own state_dir) runs as a subprocess for the whole
bench. Each round measures its CPU time (``/proc/PID/task/*/schedstat``,
all threads) over one window with no client — the **baseline**, measured in
the same run, on the same process — and over one window with a client
attached (a separate process: ``RemoteLoop.run`` receiving and decoding
every snapshot, as the console does before it draws). The client connects
before its window starts, so the window sees the steady state (one snapshot
encoded and sent per tick), not the hello. Goal: attached minus baseline
< 1 % of a core. The figures are medians over the rounds; the client's own
CPU and the size and encode time of one 50-class snapshot are shown beside
(the encode is the bulk of what attach asks of the daemon).

The simulated host is used so the bench needs no root and no cgroups: the
socket work is the same whatever backend the loop reads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loop_cost import proc_cpu_seconds
from bench.report import machine_line, table, verdict

ROOT = Path(__file__).resolve().parent.parent
GOAL_PCT = 1.0
GOALS = ("{type: response_time, target: 300ms, percentile: 95}", "{type: velocity, target: 40}",
         "{type: discretionary}")

CLIENT = """\
import sys, threading, time
from wlmtui.control.client import RemoteLoop
r = RemoteLoop(sys.argv[1])
got = []
stop = threading.Event()
t = threading.Thread(target=r.run, args=(stop, got.append), daemon=True)
t.start()
print("attached", flush=True)
sys.stdin.readline()
stop.set()
t.join(5)
print(len(got), flush=True)
"""


def policy_text(n: int, state_dir: str) -> str:
    lines = ["interval: 1s", "backend: sim", f"state_dir: {state_dir}", "simulation: {cpus: 8}", "service_classes:"]
    for i in range(n):
        lines += [f"  - name: c{i:03d}", f"    cgroup: wlm/c{i:03d}", f"    goal: {GOALS[i % 3]}",
                  f"    importance: {1 + i % 5}", f"    simulate: {{demand: {0.05 + 0.3 * (i % 4) / 3:.3f}}}"]
    return "\n".join(lines) + "\n"


def encode_figures(path: str) -> dict:
    """Size and encode time of one snapshot of this policy (in this process)."""
    from wlmtui import snapcodec
    from wlmtui.backends.sim import SimHost
    from wlmtui.loop import ControlLoop, ManualClock
    from wlmtui.policy import load_policy

    policy = load_policy(path)
    clock = ManualClock()
    loop = ControlLoop(policy, SimHost(policy), clock=clock)
    loop.prime()
    snap = None
    for _ in range(5):
        clock.advance(1.0)
        snap = loop.step()
    best = float("inf")
    for _ in range(50):
        t = time.perf_counter()
        blob = snapcodec.dumps(snap)
        best = min(best, time.perf_counter() - t)
    decode = float("inf")
    for _ in range(50):
        t = time.perf_counter()
        snapcodec.loads(blob)
        decode = min(decode, time.perf_counter() - t)
    return {"bytes": len(blob), "encode_ms": best * 1000, "decode_ms": decode * 1000}


def window(pid: int, seconds: float) -> float:
    """CPU seconds ``pid`` used over ``seconds`` of wall time, as % of one core."""
    c0, t0 = proc_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = proc_cpu_seconds(pid), time.monotonic()
    return 100.0 * (c1 - c0) / (t1 - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--rounds", type=int)
    p.add_argument("--window", type=float, help="seconds per measurement window")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--out", metavar="DIR", help="write the figures to DIR/attach_cost.json (python -m bench --out)")
    args = p.parse_args(argv)
    if args.out and not args.json:
        os.makedirs(args.out, exist_ok=True)
        args.json = os.path.join(args.out, "attach_cost.json")
    rounds = args.rounds or (2 if args.quick else 4)
    win = args.window or (8.0 if args.quick else 20.0)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="wlmb-") as state:
        path = os.path.join(state, "policy.yaml")
        Path(path).write_text(policy_text(args.classes, state))
        enc = encode_figures(path)
        sock = os.path.join(state, "control.sock")
        daemon = subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", path], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base, attached, client_cpu, received = [], [], [], []
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(sock):
                if daemon.poll() is not None or time.monotonic() > deadline:
                    print(f"daemon did not start: {daemon.stderr.read().decode()}", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            time.sleep(3.0)  # past start-up: imports, first ticks
            for _ in range(rounds):
                base.append(window(daemon.pid, win))
                client = subprocess.Popen([sys.executable, "-c", CLIENT, sock], env=env, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                assert client.stdout.readline().strip() == "attached"
                time.sleep(1.5)  # the hello and the first snapshot are sent outside the window
                c0 = proc_cpu_seconds(client.pid)
                t0 = time.monotonic()
                attached.append(window(daemon.pid, win))
                client_cpu.append(100.0 * (proc_cpu_seconds(client.pid) - c0) / (time.monotonic() - t0))
                out, _ = client.communicate("done\n", timeout=10)
                received.append(int(out.split()[-1]))
                time.sleep(1.0)  # the daemon notices the hang-up outside the next window
        finally:
            daemon.terminate()
            daemon.wait(10)
    b, a = statistics.median(base), statistics.median(attached)
    delta = a - b
    print(machine_line())
    print(f"\nAttach cost: daemon with {args.classes} classes at 1 s (simulated host), "
          f"{rounds} rounds of {win:g} s without / with one attached client\n")
    print(table(["", "daemon CPU (% of a core)", "per round"], [
        ["baseline (no client)", f"{b:.3f}", " ".join(f"{x:.3f}" for x in base)],
        ["one client attached", f"{a:.3f}", " ".join(f"{x:.3f}" for x in attached)],
        ["added by attach", f"{delta:+.3f}", " ".join(f"{y - x:+.3f}" for x, y in zip(base, attached))],
        ["ratio attached / baseline", f"{a / b:.2f}" if b > 0 else "n/a", ""],
    ]))
    print(f"\nadded by attach {delta:+.3f} % of a core (goal < {GOAL_PCT:g} %): {verdict(delta < GOAL_PCT)}")
    print(f"one snapshot: {enc['bytes']} bytes, encode {enc['encode_ms']:.2f} ms, decode {enc['decode_ms']:.2f} ms "
          f"(best of 50, this process); the client used {statistics.median(client_cpu):.3f} % of a core and "
          f"received {received} snapshots in its windows")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "classes": args.classes, "rounds": rounds, "window_s": win, "baseline_pct": base,
            "attached_pct": attached, "added_pct": delta, "client_pct": client_cpu, "received": received,
            "snapshot": enc, "goal_pct": GOAL_PCT, "pass": delta < GOAL_PCT}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
