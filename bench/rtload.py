"""Open-loop request load for the control-quality bench.

Two roles, each its own process so the kernel sees real tasks:

* ``worker``: one of a small pool inside the interactive cgroup. It reads a
  request (16 bytes: scheduled arrival time, sequence number) from the
  shared request pipe, burns ``--work-ms`` of its *own CPU time* (measured
  with the thread CPU clock, so a worker that is kept off the CPU takes
  longer in wall time, as a real request would), and writes back (sequence
  number, completion time) to the result pipe. With ``--arm-socket`` it
  then also reports the same response time (completion − scheduled
  arrival, in ms) as an ARM transaction of ``--arm-class`` with
  ``wlmtui.arm.report`` — after writing the result, so the report's cost
  never delays the time the bench records.
* ``generate``: outside the class cgroups and on another CPU. Arrivals are a
  Poisson process whose rate is piecewise constant over the phases; the
  schedule is drawn up front from ``--seed`` (open loop: arrivals never wait
  for completions). Each request is written to the pipe at its scheduled
  time; its response time is completion − *scheduled* arrival, so a request
  that sits in the pipe because every worker is busy (or because the sender
  was late) is charged for it. After the last phase it waits up to
  ``--drain`` seconds for stragglers, closes the request pipe (the workers
  exit on EOF) and writes a JSON result.

All times are ``time.monotonic()`` (CLOCK_MONOTONIC, shared by every process
on the host), so the orchestrator can line them up with its own samples.

Records are 16 bytes, below PIPE_BUF, so writes are atomic; readers always
ask for exactly one record, so several workers can share one pipe.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import struct
import sys
import threading
import time

REC = struct.Struct("<dd")
PIPE_SIZE = 1 << 20


def enlarge(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, AttributeError):
        pass  # the default 64 KiB holds 4096 requests; the sender blocks beyond that, which is still open-loop


def _read_record(fd: int) -> bytes | None:
    buf = b""
    while len(buf) < REC.size:
        chunk = os.read(fd, REC.size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def worker(req_fd: int, res_fd: int, work_ms: float, arm_socket: str | None = None,
           arm_class: str = "interactive") -> int:
    work = work_ms / 1000.0
    clock = time.thread_time
    report = None
    if arm_socket:
        import wlmtui.arm

        wlmtui.arm.configure(socket_path=arm_socket)
        report = wlmtui.arm.report
    while True:
        rec = _read_record(req_fd)
        if rec is None:
            return 0
        arrival, seq = REC.unpack(rec)
        end = clock() + work
        while clock() < end:
            pass
        done = time.monotonic()
        os.write(res_fd, REC.pack(seq, done))
        if report is not None:
            report(arm_class, (done - arrival) * 1000.0)


def schedule(t0: float, phases: list[tuple[float, float]], seed: int) -> list[float]:
    """Poisson arrival times, rate piecewise constant: ``[(seconds, per_second), ...]``."""
    rng = random.Random(seed)
    out: list[float] = []
    start = t0
    for duration, rate in phases:
        t, end = start, start + duration
        if rate > 0:
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                out.append(t)
        start = end
    return out


def generate(req_fd: int, res_fd: int, t0: float, phases: list[tuple[float, float]], seed: int,
             drain: float, out_path: str) -> int:
    arrivals = schedule(t0, phases, seed)
    end = t0 + sum(d for d, _ in phases)
    done: list[float | None] = [None] * len(arrivals)
    received = 0
    all_done = threading.Event()
    lock = threading.Lock()
    sent = [0]

    def receive() -> None:
        nonlocal received
        while True:
            rec = _read_record(res_fd)
            if rec is None:
                return
            seq, t_done = REC.unpack(rec)
            done[int(seq)] = t_done
            with lock:
                received += 1
                if received == len(arrivals):
                    all_done.set()

    threading.Thread(target=receive, daemon=True).start()
    lateness = []
    for i, a in enumerate(arrivals):
        delay = a - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lateness.append(time.monotonic() - a)
        os.write(req_fd, REC.pack(a, float(i)))
        sent[0] += 1
    if not arrivals:
        all_done.set()
    all_done.wait(timeout=max(0.0, end + drain - time.monotonic()))
    os.close(req_fd)  # workers see EOF and exit
    lateness.sort()
    result = {
        "t0": t0, "end": end, "phases": phases, "seed": seed,
        "arrivals": arrivals, "done": list(done),
        "send_lateness_ms": {"p50": 1000 * lateness[len(lateness) // 2] if lateness else 0.0,
                             "p99": 1000 * lateness[int(len(lateness) * 0.99)] if lateness else 0.0,
                             "max": 1000 * lateness[-1] if lateness else 0.0},
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, out_path)
    return 0


def parse_phases(text: str) -> list[tuple[float, float]]:
    """``"20:20,40:120,20:20"`` → ``[(20, 20), (40, 120), (20, 20)]`` (seconds:requests per second)."""
    out = []
    for part in text.split(","):
        d, r = part.split(":")
        out.append((float(d), float(r)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rtload")
    sub = p.add_subparsers(dest="role", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--req-fd", type=int, required=True)
    w.add_argument("--res-fd", type=int, required=True)
    w.add_argument("--work-ms", type=float, default=5.0)
    w.add_argument("--arm-socket", help="also report each response time to this wlmtui ARM socket")
    w.add_argument("--arm-class", default="interactive", help="class named in the reports (interactive)")
    g = sub.add_parser("generate")
    g.add_argument("--req-fd", type=int, required=True)
    g.add_argument("--res-fd", type=int, required=True)
    g.add_argument("--t0", type=float, required=True, help="CLOCK_MONOTONIC time of the first phase's start")
    g.add_argument("--phases", required=True, help="seconds:rate,... e.g. 20:20,40:120,20:20")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--drain", type=float, default=10.0)
    g.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.role == "worker":
        try:
            return worker(args.req_fd, args.res_fd, args.work_ms, args.arm_socket, args.arm_class)
        except (BrokenPipeError, KeyboardInterrupt):
            return 0
    return generate(args.req_fd, args.res_fd, args.t0, parse_phases(args.phases), args.seed, args.drain, args.out)


if __name__ == "__main__":
    sys.exit(main())
