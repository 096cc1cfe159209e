#!/usr/bin/env python3
"""How fast the token tailer reads counter files.

    python bench/token_ingest.py [--lines 1000000] [--repeat 3]

Generates a counter file of ``--lines`` JSON lines (the shape
``wlmtui.agent.record`` writes: 4 classes, 3 models, 12 agents, ts in the
current hour) in a temporary directory, then measures in the same run:

* catch-up: a fresh ``CounterTailer`` reading the whole file;
* the two floors: a naive ``json.loads`` per line (what a simple tailer
  does), and a raw read of the file in 8 MiB chunks (what no parser beats);
* steady state: 100 lines appended to the end of the file, then one poll,
  and one full ``TokenLedger.tick`` (tailing, budgets, 4 signal files, the
  state file; fsync on) — on the big file and on one 10x smaller, to show
  the cost does not depend on the file's size.

Times are the best of ``--repeat`` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

from wlmtui.policy import parse_policy
from wlmtui.tokens.ledger import TokenLedger
from wlmtui.tokens.tailer import CounterTailer

CLASSES = ("coder", "reviewer", "monitor", "planner")
MODELS = ("gpt-4o", "gpt-4o-mini", "o1")


def generate(path: str, lines: int, start: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="ascii") as f:
        batch = []
        for i in range(lines):
            rec = {"ts": round(start + i * 0.001, 3), "class": CLASSES[i % 4], "agent": f"agent-{i % 12}",
                   "model": MODELS[i % 3], "tokens": rng.randint(1, 8000)}
            batch.append(json.dumps(rec))
            if len(batch) == 10000:
                f.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            f.write("\n".join(batch) + "\n")


def append_lines(path: str, n: int, ts: float) -> None:
    data = "".join(json.dumps({"ts": ts, "class": CLASSES[i % 4], "agent": "late", "model": "o1", "tokens": 7}) + "\n"
                   for i in range(n))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def naive_json(path: str) -> int:
    total = 0
    with open(path, "rb") as f:
        for line in f:
            total += json.loads(line)["tokens"]
    return total


def raw_read(path: str) -> int:
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(8 << 20)
            if not chunk:
                return n
            n += len(chunk)


def catch_up(path: str, cutoffs: dict) -> int:
    tailer = CounterTailer(path)
    result = tailer.poll(cutoffs)
    tailer.close()
    if result.malformed:
        raise SystemExit(f"unexpected malformed lines: {result.malformed}")
    return sum(u.tokens for u in result.counted)


def policy_for(tmp: str, counter: str):
    classes = "".join(f"""
  - name: {c}
    type: token
    budget: 1G/hour
    importance: {i + 1}
    pool: bench
    signal_file: {tmp}/{c}.signal.json
    counter_file: {counter}
""" for i, c in enumerate(CLASSES))
    return parse_policy(f"state_dir: {tmp}/state-{os.path.basename(counter)}\nservice_classes:{classes}")


def steady(path: str, tmp: str, start: float, repeat: int) -> tuple[float, float]:
    """Best poll time and best full ledger tick after 100 appended lines (seconds)."""
    tailer = CounterTailer(path)
    tailer.poll()  # catch up first
    polls = []
    for i in range(max(5, repeat)):
        append_lines(path, 100, start + 10 + i)
        t0 = time.perf_counter()
        r = tailer.poll()
        polls.append(time.perf_counter() - t0)
        assert r.lines == 100, r
    tailer.close()
    ledger = TokenLedger(policy_for(tmp, path), clock=lambda: start + 60)
    ledger.tick(start + 60)  # catch up
    ticks = []
    for i in range(max(5, repeat)):
        append_lines(path, 100, start + 61 + i)
        t0 = time.perf_counter()
        statuses = ledger.tick(start + 61 + i)
        ticks.append(time.perf_counter() - t0)
        assert not any(s.last_error for s in statuses.values()), statuses
    ledger.close()
    return min(polls), min(ticks)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    start = time.time() // 3600 * 3600 + 1  # inside the current hour
    cutoffs = dict.fromkeys(CLASSES, start - 1)
    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-") as tmp:
        big, small = os.path.join(tmp, "big.jsonl"), os.path.join(tmp, "small.jsonl")
        t0 = time.perf_counter()
        generate(big, args.lines, start)
        generate(small, args.lines // 10, start)
        size = os.path.getsize(big)
        print(f"generated {args.lines:,} lines ({size / 1e6:.1f} MB) and {args.lines // 10:,} lines "
              f"in {time.perf_counter() - t0:.1f}s; python {sys.version.split()[0]}; best of {args.repeat}")
        raw_read(big)  # warm the page cache
        t_raw, _ = best(lambda: raw_read(big), args.repeat)
        t_json, expected = best(lambda: naive_json(big), args.repeat)
        t_tail, got = best(lambda: catch_up(big, cutoffs), args.repeat)
        if got != expected:
            raise SystemExit(f"tailer counted {got} tokens, json.loads {expected}")
        print()
        print(f"catch-up, {args.lines:,} lines")
        print(f"  CounterTailer.poll        {t_tail:8.3f} s   {args.lines / t_tail / 1e6:5.2f} M lines/s")
        print(f"  floor: json.loads/line    {t_json:8.3f} s   tailer is {t_json / t_tail:4.1f}x faster")
        print(f"  floor: raw read           {t_raw:8.3f} s   tailer costs {t_tail / t_raw:4.1f}x a raw read")
        print()
        print("steady state: 100 lines appended, then")
        rows = []
        for name, path in ((f"{args.lines:,} lines", big), (f"{args.lines // 10:,} lines", small)):
            poll, tick = steady(path, tmp, start, args.repeat)
            rows.append((poll, tick))
            print(f"  file of {name:>16}: poll {poll * 1e3:7.3f} ms   ledger tick {tick * 1e3:7.3f} ms")
        (p_big, t_big), (p_small, t_small) = rows
        print(f"  big/small ratio: poll {p_big / p_small:4.2f}x, tick {t_big / t_small:4.2f}x "
              f"(1.0 = independent of file size)")
        if statistics.mean([p_big, p_small]) > 0.05:
            print("  note: steady-state polls above 50 ms — is the machine busy?")
    return 0


if __name__ == "__main__":
    sys.exit(main())
