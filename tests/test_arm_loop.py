"""Transaction reports reach the loop and turn the PSI proxy into measured PI."""

from __future__ import annotations

import pytest

from fake_cgroupfs import FakeCgroupFs

from wlmtui import arm
from wlmtui.arm.receiver import ArmReceiver
from wlmtui.backends.detect import select_backend
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import parse_policy


def test_reported_response_times_drive_the_pi(tmp_path):
    fs = FakeCgroupFs(tmp_path / "cg")
    fs.add("web")
    policy = parse_policy(
        f"state_dir: {tmp_path}\n"
        "service_classes:\n"
        "  - {name: web, cgroup: web, importance: 1, goal: {type: response_time, target: 100ms, percentile: 90}}\n"
    )
    receiver = ArmReceiver(str(tmp_path / "arm.sock"), str(tmp_path / "arm.jsonl"), classes=["web"], reader=False)
    clock = ManualClock()
    loop = ControlLoop(policy, select_backend("v2", policy, cgroup_root=str(fs.path())), clock=clock, arm=receiver)
    arm.configure(socket_path=str(tmp_path / "arm.sock"), fallback_file=str(tmp_path / "arm.jsonl"))
    try:
        loop.prime()
        fs.bump("web", usage=500_000, cpu=10_000)  # 1 % stall: the proxy alone would say "beating"
        for _ in range(9):
            arm.report("web", 150.0)  # 150 ms: half again the goal
        arm.report("web", 20.0, status="failed")
        clock.advance(1.0)
        web = loop.step().decision.get("web")
        assert web.perf.source == "rt-measured"
        assert web.pi == pytest.approx(1.5) and web.status == "missing"  # p90 150 ms over the 100 ms goal
        assert web.perf.distribution.bucket_pi == 1.5  # the z/OS bucket it lands in, for display
        assert web.measure.failed == 1
        # without reports the class falls back to the proxy, and says so
        fs.bump("web", usage=500_000, cpu=10_000)
        clock.advance(5.0)
        later = loop.step().decision.get("web")
        assert later.perf.source == "psi-proxy"
    finally:
        arm.configure()
        loop.close()
