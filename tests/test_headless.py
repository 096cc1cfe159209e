"""The headless loop as a user runs it: --once/--json, reload and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_cgroupfs import FakeCgroupFs

from wlmtui.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "sample_policies" / "demo.yaml"


def test_once_json_on_the_simulated_host(capsys):
    assert main(["--demo", "--once", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backend"] == "sim" and doc["tick"] == 1 and doc["dt"] == 1.0
    names = [c["name"] for c in doc["classes"]]
    assert names == ["interactive", "batch", "reports", "coder"]
    assert doc["classes"][3]["token"]["signal"] == "green"
    for c in doc["classes"][:3]:
        assert isinstance(c["pi"], float) and isinstance(c["weight"], int)
        assert set(c["controller"]) >= {"error", "p", "i", "step"}
        assert c["reason"]


def test_once_readable_lines(capsys):
    assert main(["--demo", "--once"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("wlmtui: 4 service classes")
    assert any(" interactive PI " in line and "rt-measured" in line for line in out)


def test_cli_once_on_fake_tree_with_still_counters_reports_idle(tmp_path, capsys):
    fs = FakeCgroupFs(tmp_path / "cg")
    fs.add("wlm/web")
    fs.add("wlm/batch")
    policy = tmp_path / "p.yaml"
    policy.write_text(
        f"state_dir: {tmp_path}\n"
        "service_classes:\n"
        "  - {name: web, cgroup: wlm/web, importance: 1, goal: {type: response_time, target: 500ms}}\n"
        "  - {name: batch, cgroup: wlm/batch, importance: 4, goal: {type: velocity, target: 20}}\n"
    )
    # web stalls on CPU 30 % of the time: far above its 3 % threshold
    fs.bump("wlm/web", usage=100_000, cpu=30_000)
    fs.bump("wlm/batch", usage=900_000)
    code = main(["--no-ui", str(policy), "--cgroup-root", str(fs.path()), "--interval", "10ms", "--once", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backend"] == "v2"
    # counters did not move during the interval → idle; bump between prime and step instead
    web = doc["classes"][0]
    assert web["status"] == "idle"


def test_pure_v2_loop_moves_weight_on_fake_tree(tmp_path):
    from wlmtui.backends.detect import select_backend
    from wlmtui.loop import ControlLoop, ManualClock
    from wlmtui.policy import parse_policy

    fs = FakeCgroupFs(tmp_path / "cg")
    policy = parse_policy(
        "service_classes:\n"
        "  - {name: web, cgroup: wlm/web, importance: 1, goal: {type: response_time, target: 500ms}}\n"
        "  - {name: batch, cgroup: wlm/batch, importance: 4, min_weight: 20, goal: {type: velocity, target: 20}}\n"
    )
    backend = select_backend("v2", policy, cgroup_root=str(fs.path()))
    clock = ManualClock()
    fs.add("wlm")  # the parent exists; the class cgroups do not yet
    loop = ControlLoop(policy, backend, clock=clock)  # attaches: creates the class cgroups
    assert fs.path("wlm/web").is_dir() and fs.path("wlm/batch").is_dir()
    assert "cpu" in (fs.path() / "cgroup.subtree_control").read_text()
    assert "cpu" in (fs.path("wlm") / "cgroup.subtree_control").read_text()
    fs.add("wlm/web")  # play the kernel's part: fill the new directories
    fs.add("wlm/batch")
    loop.prime()
    for _ in range(6):
        fs.bump("wlm/web", usage=300_000, cpu=300_000, cpu_full=300_000)  # 30 % stall
        fs.bump("wlm/batch", usage=700_000, cpu=50_000)
        clock.advance(1.0)
        snap = loop.step()
    web = int((fs.path("wlm/web") / "cpu.weight").read_text())
    batch = int((fs.path("wlm/batch") / "cpu.weight").read_text())
    assert web > 100 and 20 <= batch < 100
    assert snap.decision.get("web").status == "missing"
    loop.close()


def test_dry_run_writes_nothing(tmp_path):
    from wlmtui.backends.detect import select_backend
    from wlmtui.loop import ControlLoop, ManualClock
    from wlmtui.policy import parse_policy

    fs = FakeCgroupFs(tmp_path / "cg")
    fs.add("a")
    fs.add("b")
    policy = parse_policy(
        "service_classes:\n"
        "  - {name: a, cgroup: a, importance: 1, goal: {type: response_time, target: 500ms}}\n"
        "  - {name: b, cgroup: b, importance: 4, goal: {type: velocity, target: 20}}\n"
    )
    clock = ManualClock()
    loop = ControlLoop(policy, select_backend("v2", policy, cgroup_root=str(fs.path())), clock=clock, dry_run=True)
    loop.prime()
    for _ in range(4):
        fs.bump("a", usage=300_000, cpu=300_000, cpu_full=300_000)
        fs.bump("b", usage=700_000)
        clock.advance(1.0)
        snap = loop.step()
    assert snap.decision.get("a").weight > 100
    assert (fs.path("a") / "cpu.weight").read_text().strip() == "100"


def _spawn(policy: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wlmtui", "--no-ui", str(policy), "--backend", "sim", "--interval", "100ms", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _read_until(proc: subprocess.Popen, needle: str, timeout: float = 20.0) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen in:\n{''.join(seen[-20:])}")


def _demo_copy(tmp_path: Path) -> str:
    return DEMO.read_text().replace("state_dir: /tmp/wlmtui-demo", f"state_dir: {tmp_path}")


def test_sighup_reload_keeps_old_policy_on_error_and_sigterm_exits_zero(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(_demo_copy(tmp_path))
    proc = _spawn(policy)
    try:
        _read_until(proc, " interactive PI ")
        policy.write_text("service_classes:\n  - name: broken\n")
        proc.send_signal(signal.SIGHUP)
        lines = _read_until(proc, "reload refused, old policy stays in force")
        more = _read_until(proc, " interactive PI ")
        assert any("service_classes[0].goal is missing" in x for x in lines + more)
        policy.write_text(_demo_copy(tmp_path).replace("importance: 4", "importance: 3"))
        proc.send_signal(signal.SIGHUP)
        _read_until(proc, "policy reloaded from")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigint_finishes_the_tick_and_exits_zero(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(_demo_copy(tmp_path))
    proc = _spawn(policy, "--json")
    try:
        json.loads(_read_until(proc, '"tick"')[-1])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        rest = proc.stdout.read().splitlines()
        for line in rest:
            json.loads(line)  # no torn line at exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_backend_errors_are_one_line(tmp_path, capsys):
    code = main(["--no-ui", str(DEMO), "--backend", "v2", "--cgroup-root", str(tmp_path / "nope"), "--once"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wlmtui: ") and "nope" in err[0]
    assert os.path.exists(tmp_path) and not os.path.exists(tmp_path / "nope")
