"""End to end on the real kernel: the headless loop (`wlmtui --no-ui --json`)
moves CPU to an importance-1 class competing with three busy batch loops on
one core. Root only; skips with a reason elsewhere."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_util import kernel_cgroups

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parent.parent
TICKS = 15


def test_headless_loop_gives_interactive_more_cpu(tmp_path):
    with kernel_cgroups(["interactive", "batch"]) as kc:
        policy = tmp_path / "policy.yaml"
        policy.write_text(f"""
interval: 1s
cgroup_root: {kc.parent}
state_dir: {tmp_path}
service_classes:
  - name: interactive
    cgroup: interactive
    goal: {{type: response_time, target: 200ms}}
    importance: 1
    min_weight: 10
    max_weight: 1000
  - name: batch
    cgroup: batch
    goal: {{type: velocity, target: 20}}
    importance: 4
    min_weight: 20
    max_weight: 1000
""")
        inter, *batch = kc.spawn_busy(4)
        kc.move(inter.pid, kc.rel("interactive"))
        for proc in batch:
            kc.move(proc.pid, kc.rel("batch"))
        time.sleep(0.5)
        loop = subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", str(policy), "--json", "--no-create"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        ticks = []
        try:
            while len(ticks) < TICKS:
                line = loop.stdout.readline()
                assert line, loop.stderr.read()
                ticks.append(json.loads(line))
        finally:
            loop.send_signal(signal.SIGTERM)
            code = loop.wait(timeout=10)
        assert code == 0
        by_tick = [{c["name"]: c for c in t["classes"]} for t in ticks]
        assert all(t["backend"] in ("v1", "v2") for t in ticks)
        first, last = by_tick[0], by_tick[-1]
        # weight rose, from the base the loop found in the kernel
        assert first["interactive"]["old_weight"] == 100
        assert last["interactive"]["weight"] > 300
        # and with it the share of the CPU the interactive loop gets
        share = lambda t: t["interactive"]["measurements"]["usage_cores"]  # noqa: E731
        early = share(first)
        late = sum(share(t) for t in by_tick[-5:]) / 5
        assert late > early + 0.15, (early, late)
        # batch gave weight but never went below its min_weight
        assert all(t["batch"]["weight"] >= 20 for t in by_tick)
        assert any("donor to interactive" in t["batch"]["reason"] for t in by_tick)
