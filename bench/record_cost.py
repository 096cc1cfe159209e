"""Record cost: what the record store takes on disk and in CPU per tick.

    python -m bench.record_cost              # 4 (demo) and 50 classes, 600 ticks each
    python -m bench.record_cost --quick      # 200 ticks each
    python -m bench.record_cost --out DIR    # also write DIR/record_cost.json

The snapshots come from the control loop on the simulated host (a
ManualClock at the policy's 1 s interval; the 4-class run is the demo
policy, the 50-class run the generated policy of bench/console_cost.py) and
are made first, so only the recording is timed. Each is written through
:class:`wlmtui.record.store.StoreWriter` with the default configuration
(a chunk every 10 s of ticks, zstd level 9, fsync per chunk) into a
temporary directory; a third run keeps the raw response-time samples
(``record.samples: true``), shown for what it costs, with no goal.

**Disk**: bytes of the segment files per class per tick (goal < 200), beside
the floor of the same snapshots pickled alone per tick (no policy dedup, no
compression), each tick compressed alone with zlib 6 (no cross-tick repetition),
and the same 10-tick chunks through zlib 6 instead of zstd (size and CPU:
what the zstandard dependency earns).
**CPU**: process CPU time of ``StoreWriter.add`` + ``close`` per tick
(encode, compress, write, fsync; on the recorder's writer thread in the
daemon, not the loop's), beside the floor measured in the same run: one
``ControlLoop.step()`` of the same policy. **Read**: decoding every tick
back (``Recording`` iteration) and a cold ``seek`` to a time.
Each CPU figure is the best of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from pathlib import Path

from bench.console_cost import policy_text
from bench.report import machine_line, table, verdict
from wlmtui import snapcodec
from wlmtui.backends.sim import SimHost
from wlmtui.cli import demo_policy
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import parse_policy
from wlmtui.record.replay import Recording
from wlmtui.record.store import StoreWriter, list_segments, recorded_form

BYTES_GOAL = 200.0
EPOCH = 1_790_000_000.0


def make_snapshots(policy, n: int, warmup: int = 30):
    clock = ManualClock()
    wall = lambda: EPOCH + clock()  # noqa: E731
    loop = ControlLoop(policy, SimHost(policy, wall=wall), clock=clock, wall=wall)
    loop.prime()
    step_cpu = []
    out = []
    for i in range(warmup + n):
        clock.advance(loop.interval)
        t0 = time.process_time()
        snap = loop.step()
        step_cpu.append(time.process_time() - t0)
        if i >= warmup:
            out.append(snap)
    loop.close()
    return out, sum(step_cpu[warmup:]) / n


def record_once(policy, snaps, directory: str) -> tuple[float, int]:
    config = replace(policy.record, dir=directory)
    t0 = time.process_time()
    writer = StoreWriter(config)
    for s in snaps:
        writer.add(s)
    writer.close()
    cpu = time.process_time() - t0
    size = sum(os.path.getsize(p) for p in list_segments(directory))
    return cpu, size


def measure(label: str, policy, ticks: int, rounds: int) -> dict:
    snaps, step = make_snapshots(policy, ticks)
    classes = len(policy.classes)
    keep = policy.record.samples
    raw = sum(len(snapcodec.dumps(recorded_form(s, keep))) for s in snaps)
    alone = sum(len(zlib.compress(snapcodec.dumps(recorded_form(s, keep)), 6)) for s in snaps)
    # the same 10-tick chunks through zlib 6 instead of zstd: what the zstandard dependency earns
    t0 = time.process_time()
    zchunks = sum(len(zlib.compress(snapcodec.dumps(tuple((1, replace(recorded_form(s, keep), policy=None))
                                                          for s in snaps[i:i + 10])), 6)) for i in range(0, ticks, 10))
    zlib_cpu = time.process_time() - t0
    best_cpu, size, read, seek = None, 0, None, None
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="wlmtui-bench-record-") as d:
            cpu, size = record_once(policy, snaps, d)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
            t0 = time.process_time()
            rec = Recording(d)
            back = sum(1 for _ in rec)
            r = time.process_time() - t0
            assert back == len(snaps), f"read back {back} of {len(snaps)} ticks"
            read = r if read is None else min(read, r)
            t0 = time.process_time()
            pos = Recording(d).seek(snaps[len(snaps) * 2 // 3].wall)
            s = time.process_time() - t0
            assert pos == len(snaps) * 2 // 3, f"seek found {pos}"
            seek = s if seek is None else min(seek, s)
    per = size / ticks / classes
    return {
        "label": label, "classes": classes, "ticks": ticks,
        "bytes_per_class_tick": round(per, 1), "goal": BYTES_GOAL if not keep else None,
        "ok": per < BYTES_GOAL if not keep else None,
        "pickled_per_class_tick": round(raw / ticks / classes, 1),
        "alone_per_class_tick": round(alone / ticks / classes, 1),
        "zlib_chunks_per_class_tick": round(zchunks / ticks / classes, 1),
        "zlib_chunks_cpu_ms_per_tick": round(zlib_cpu / ticks * 1000, 3),
        "record_cpu_ms_per_tick": round(best_cpu / ticks * 1000, 3),
        "step_cpu_ms_per_tick": round(step * 1000, 3),
        "record_vs_step": round(best_cpu / ticks / step, 3) if step else None,
        "read_ms_per_tick": round(read / ticks * 1000, 3),
        "seek_ms": round(seek * 1000, 2),
        "store_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.record_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200 ticks per run instead of 600")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", metavar="DIR", help="also write DIR/record_cost.json")
    args = p.parse_args(argv)
    ticks = 200 if args.quick else 600
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-record-state-") as state:
        demo = demo_policy(state)
        runs = [("demo policy", demo),
                ("generated (console_cost)", parse_policy(policy_text(50, 0, state), "generated.yaml")),
                ("demo, record.samples: true", replace(demo, record=replace(demo.record, samples=True)))]
        results = [measure(label, policy, ticks, args.rounds) for label, policy in runs]
    print(f"\nRecord store, {ticks} ticks at 1 s, default record settings (chunk every 10 s, zstd 9, fsync per chunk)\n")
    print(table(
        ["policy", "classes", "B/class/tick", f"goal <{BYTES_GOAL:g}", "pickled alone", "zlib per tick alone", "zlib 6 chunks (B, ms/tick)",
         "record CPU ms/tick", "loop step ms/tick (floor)", "record/step", "read ms/tick", "cold seek ms"],
        [[r["label"], r["classes"], r["bytes_per_class_tick"], verdict(r["ok"]), r["pickled_per_class_tick"],
          r["alone_per_class_tick"], f'{r["zlib_chunks_per_class_tick"]}, {r["zlib_chunks_cpu_ms_per_tick"]}',
          r["record_cpu_ms_per_tick"], r["step_cpu_ms_per_tick"], r["record_vs_step"],
          r["read_ms_per_tick"], r["seek_ms"]] for r in results]))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        path = Path(args.out) / "record_cost.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"machine": machine_line(), "ticks": ticks, "results": results}, indent=2) + "\n")
        os.replace(tmp, path)
        print(f"\nwrote {path}")
    # the goal is for the default settings; samples: true is shown for what it costs
    return 0 if all(r["ok"] for r in results[:2]) else 1


if __name__ == "__main__":
    sys.exit(main())
