#!/usr/bin/env python3
"""ARM transaction reports: what they cost the application, and how many wlmtui takes in.

    python -m bench.arm_ingest [--quick] [--seconds 3] [--rate 100000] [--senders 2] [--out DIR]

Prints figures, asserts nothing. In one run:

1. **Client cost per transaction, wlmtui down** (the socket path does not
   exist, so every report is one ``O_APPEND`` write to the fallback file):
   ``with transaction()``, ``start()/stop()`` and ``report()``, beside two
   floors — an empty function call and a bare ``os.write`` of the same bytes.
2. **Client cost, wlmtui up**: the same calls with an ``ArmReceiver`` running
   in another process, beside a bare ``socket.send`` of the same bytes; with
   how many went by socket and how many overflowed to the file.
3. **Ingestion** into an ``ArmReceiver`` in this process (reader thread on,
   drained once a second like the loop), from ``--senders`` processes
   calling ``wlmtui.arm.report``: paced at ``--rate`` reports/s in total, and
   flat out; over the socket (overflowing to the file when the socket queue
   is full), and over the fallback file alone (socket absent). Reports/s is
   what the receiver delivered in drains divided by the time from the
   senders' start to the drain that completed the count (drains run once a
   second while the senders run, then every 10 ms until the count is
   complete: ``lag``); ``lost`` compares with what the senders counted as
   sent or written.

Times are the best of ``--repeat`` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import sys
import tempfile
import time

if __package__ in (None, ""):  # python bench/arm_ingest.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wlmtui.arm import client  # noqa: E402
from wlmtui.arm.receiver import ArmReceiver  # noqa: E402

CLASSES = ("interactive", "batch", "api", "reports")
LINE = b'{"class":"interactive","ms":12.500}\n'


# ---------------------------------------------------------------- client cost


def _best(fn, n: int, repeat: int) -> float:
    """Best time per call of ``fn(n)`` (which runs n iterations), in µs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - t0)
    return min(times) / n * 1e6


def _api_calls():
    arm_tx, arm_start, arm_report = client.transaction, client.start, client.report

    def empty_call(n):
        def f():
            pass
        for _ in range(n):
            f()

    def with_transaction(n):
        for _ in range(n):
            with arm_tx("interactive"):
                pass

    def start_stop(n):
        for _ in range(n):
            arm_start("interactive").stop()

    def report(n):
        for _ in range(n):
            arm_report("interactive", 12.5)

    return empty_call, with_transaction, start_stop, report


def client_cost_down(tmp: str, n: int, repeat: int) -> dict:
    path = os.path.join(tmp, "down", "arm.jsonl")
    os.makedirs(os.path.dirname(path))
    client.configure(os.path.join(tmp, "down", "absent.sock"), path)
    empty_call, with_transaction, start_stop, report = _api_calls()
    fd = os.open(os.path.join(tmp, "down", "floor.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = LINE[:-2] + b',"ts":1763780000.123}\n'  # what the fallback writes

    def bare_write(n):
        w = os.write
        for _ in range(n):
            w(fd, line)

    out = {"empty_call_us": _best(empty_call, n, repeat), "os_write_us": _best(bare_write, n, repeat)}
    os.close(fd)
    before = client.counters.as_dict()
    for name, fn in (("transaction_us", with_transaction), ("start_stop_us", start_stop), ("report_us", report)):
        out[name] = _best(fn, n, repeat)
        os.truncate(path, 0)  # stay far below the 64 MiB limit
    after = client.counters.as_dict()
    out["fallback"] = after["fallback"] - before["fallback"]
    out["dropped"] = after["dropped"] - before["dropped"]
    client.configure()
    return out


def _receiver_process(sock: str, path: str, ready, stop, results) -> None:
    rx = ArmReceiver(sock, path)
    ready.set()
    total = 0
    while not stop.is_set():
        time.sleep(0.2)
        total += rx.drain(time.time()).received
    total += rx.drain(time.time()).received
    rx.close()
    results.put(total)


def client_cost_up(tmp: str, n: int, repeat: int) -> dict:
    d = os.path.join(tmp, "up")
    os.makedirs(d)
    sock, path = os.path.join(d, "arm.sock"), os.path.join(d, "arm.jsonl")
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_receiver_process, args=(sock, path, ready, stop, results), daemon=True)
    proc.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the receiver process did not start")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        s.connect(sock)
        full = [0]

        def bare_send(n):
            send = s.send
            for _ in range(n):
                try:
                    send(LINE)
                except BlockingIOError:
                    full[0] += 1

        out = {"socket_send_us": _best(bare_send, n, repeat), "socket_send_full": full[0]}
        s.close()
        time.sleep(0.3)
        client.configure(sock, path)
        _, with_transaction, start_stop, report = _api_calls()
        before = client.counters.as_dict()
        for name, fn in (("transaction_us", with_transaction), ("start_stop_us", start_stop), ("report_us", report)):
            out[name] = _best(fn, n, repeat)
            time.sleep(0.3)  # let the receiver catch up between runs
        after = client.counters.as_dict()
        out.update({k: after[k] - before[k] for k in ("sent", "fallback", "dropped")})
        client.configure()
        time.sleep(0.5)
    finally:
        stop.set()
        proc.join(30)
    out["receiver_got"] = results.get(timeout=5) if not results.empty() else None
    return out


# ---------------------------------------------------------------- ingestion


def _sender(sock: str, path: str, seconds: float, rate: float, start_at: float, index: int, results) -> None:
    client.configure(sock, path)
    report = client.report
    cls = CLASSES[index % len(CLASSES)]
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    n = 0
    if rate > 0:
        slot = 0.005
        per_slot = max(1, round(rate * slot))
        next_slot = start_at
        while True:
            now = time.time()
            if now >= end:
                break
            for _ in range(per_slot):
                report(cls, 12.5)
            n += per_slot
            next_slot += slot
            pause = next_slot - time.time()
            if pause > 0:
                time.sleep(pause)
    else:
        while time.time() < end:
            for _ in range(1000):
                report(cls, 12.5)
            n += 1000
    results.put((index, n, client.counters.as_dict()))


def ingest(tmp: str, name: str, *, senders: int, seconds: float, rate: float, socket_up: bool,
           interval: float = 1.0) -> dict:
    d = os.path.join(tmp, name)
    os.makedirs(d)
    sock, path = os.path.join(d, "arm.sock"), os.path.join(d, "arm.jsonl")
    rx = ArmReceiver(sock if socket_up else os.path.join(d, "rx.sock"), path)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 1.5  # time for the spawned senders to import
    procs = [ctx.Process(target=_sender, args=(sock, path, seconds, rate / senders if rate else 0.0, start_at, i,
                                               results), daemon=True) for i in range(senders)]
    for p in procs:
        p.start()
    while time.time() < start_at:
        rx.drain(time.time())  # nothing yet; keeps the receiver's state warm
        time.sleep(0.05)
    cpu0 = time.process_time()
    received = from_file = completions = malformed = 0
    sent_by: dict[int, tuple[int, dict]] = {}
    done_at = None
    deadline = start_at + seconds + 60
    next_drain = start_at + interval
    while time.time() < deadline:
        while not results.empty():
            i, n, counters = results.get()
            sent_by[i] = (n, counters)
        finished = len(sent_by) == senders
        if not finished and time.time() < next_drain:
            time.sleep(min(0.01, max(0.0, next_drain - time.time())))
            continue
        # like the loop: once per interval; once the senders are done, at once and then every 10 ms
        next_drain += interval
        b = rx.drain(time.time())
        received += b.received
        from_file += b.from_file
        completions += b.completions
        malformed += b.malformed
        if finished:
            delivered = sum(c["sent"] + c["fallback"] for _, c in sent_by.values())
            if received >= delivered:
                done_at = time.time()
                break
            time.sleep(0.01)
    cpu = time.process_time() - cpu0
    for p in procs:
        p.join(10)
    rx.close()
    calls = sum(n for n, _ in sent_by.values())
    sent = sum(c["sent"] for _, c in sent_by.values())
    written = sum(c["fallback"] for _, c in sent_by.values())
    dropped = sum(c["dropped"] for _, c in sent_by.values())
    elapsed = (done_at or time.time()) - start_at
    return {
        "name": name, "senders": senders, "offered_per_s": rate or None, "seconds": seconds,
        "calls": calls, "by_socket": sent, "by_file": written, "client_dropped": dropped,
        "received": received, "received_from_file": from_file, "completions": completions, "malformed": malformed,
        "lost": sent + written - received, "elapsed_s": elapsed, "reports_per_s": received / elapsed,
        "lag_ms": (elapsed - seconds) * 1000.0,
        "receiver_cpu_us_per_report": cpu / received * 1e6 if received else None,
        "complete": done_at is not None,
    }


# ---------------------------------------------------------------- main


def _machine() -> str:
    try:
        from bench.report import machine_line

        return machine_line()
    except Exception:  # noqa: BLE001 - informational only
        return f"{os.cpu_count()} cores, python {sys.version.split()[0]}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--seconds", type=float, default=None, help="length of each ingestion run (default 3, quick 1.5)")
    p.add_argument("--rate", type=float, default=100_000, help="paced offered load, reports/s in total")
    p.add_argument("--senders", type=int, default=2, help="sender processes")
    p.add_argument("--calls", type=int, default=None, help="API calls per cost measurement (default 200000)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", metavar="DIR", help="also write arm_ingest.json here")
    args = p.parse_args(argv)
    seconds = args.seconds or (1.5 if args.quick else 3.0)
    n = args.calls or (50_000 if args.quick else 200_000)
    repeat = 2 if args.quick else args.repeat
    try:
        qlen = open("/proc/sys/net/unix/max_dgram_qlen").read().strip()
    except OSError:
        qlen = "?"
    print("## ARM ingestion (bench/arm_ingest.py)")
    print(_machine())
    print(f"net.unix.max_dgram_qlen = {qlen} (datagrams a Unix socket queues before a sender gets EAGAIN)\n")
    result: dict = {"max_dgram_qlen": qlen}
    tmp = tempfile.mkdtemp(prefix="wlmtui-bench-arm-", dir="/tmp")  # short: socket paths <= 107 bytes
    try:
        down = client_cost_down(tmp, n, repeat)
        result["client_down"] = down
        print(f"### Client cost per transaction, wlmtui down (fallback file), best of {repeat} × {n:,}")
        print(f"  floor: empty function call        {down['empty_call_us']:6.2f} µs")
        print(f"  floor: bare os.write, same bytes  {down['os_write_us']:6.2f} µs")
        print(f"  with transaction(): pass          {down['transaction_us']:6.2f} µs")
        print(f"  start().stop()                    {down['start_stop_us']:6.2f} µs")
        print(f"  report(cls, ms)                   {down['report_us']:6.2f} µs")
        print(f"  (written to the file: {down['fallback']:,}; dropped: {down['dropped']:,})\n")

        up = client_cost_up(tmp, n, repeat)
        result["client_up"] = up
        print(f"### Client cost per transaction, wlmtui up (receiver in another process), best of {repeat} × {n:,}")
        print(f"  floor: bare socket.send           {up['socket_send_us']:6.2f} µs"
              f"   ({up['socket_send_full']:,} of {n * repeat:,} found the queue full)")
        print(f"  with transaction(): pass          {up['transaction_us']:6.2f} µs")
        print(f"  start().stop()                    {up['start_stop_us']:6.2f} µs")
        print(f"  report(cls, ms)                   {up['report_us']:6.2f} µs")
        print(f"  (by socket {up['sent']:,}, overflowed to the file {up['fallback']:,}, dropped {up['dropped']:,};"
              f" the receiver read {up['receiver_got']:,} lines incl. the floor's)\n")

        runs = [
            ("paced-socket", dict(rate=args.rate, socket_up=True)),
            ("paced-file", dict(rate=args.rate, socket_up=False)),
            ("flat-out-socket", dict(rate=0, socket_up=True)),
            ("flat-out-file", dict(rate=0, socket_up=False)),
        ]
        print(f"### Ingestion: {args.senders} sender processes × wlmtui.arm.report, {seconds:g} s per run, "
              "receiver drained every 1 s")
        print("| run | offered/s | calls | by socket | by file | client dropped | received | lost | reports/s "
              "| lag | receiver CPU µs/report |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        result["ingest"] = []
        for name, kw in runs:
            r = ingest(tmp, name, senders=args.senders, seconds=seconds, **kw)
            result["ingest"].append(r)
            cpu = r["receiver_cpu_us_per_report"]
            offered = f"{r['offered_per_s']:,.0f}" if r["offered_per_s"] else "max"
            lost = f"{r['lost']:,}" + ("" if r["complete"] else " (timed out)")
            cpu_text = "-" if cpu is None else f"{cpu:.2f}"
            print(f"| {name} | {offered} | {r['calls']:,} | {r['by_socket']:,} | {r['by_file']:,} "
                  f"| {r['client_dropped']:,} | {r['received']:,} | {lost} | {r['reports_per_s']:,.0f} "
                  f"| {r['lag_ms']:,.0f} ms | {cpu_text} |", flush=True)
        print("\n(reports/s = reports delivered by drains ÷ time from the senders' start to the drain that "
              "completed the count; lag = how long after the senders stopped that drain came (drains run every "
              "1 s while the senders run, then every 10 ms); a paced run can only show its offered rate; "
              "receiver CPU = this process (reader thread + drains) per report.)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "arm_ingest.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
