"""The classifier bench still runs (fake table only, small): no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_a_small_fake_table(tmp_path):
    out = tmp_path / "figures.json"
    res = subprocess.run([sys.executable, "-m", "bench.classify_scan", "--fake-only", "--quick", "--n", "300",
                          "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "full scan (first tick: read, match, move all)" in res.stdout
    figures = json.loads(out.read_text())["fake"]
    assert figures["n"] == 300 and figures["moved"] > 0 and figures["rules"] == 17
