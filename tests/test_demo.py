"""`wlmtui --demo` tells its story within 30 simulated seconds."""

from __future__ import annotations

from wlmtui.backends.sim import SimHost
from wlmtui.cli import SimulatedWall, demo_policy
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.tokens.ledger import TokenLedger


def test_demo_shows_the_whole_loop_within_30_seconds(tmp_path):
    policy = demo_policy(str(tmp_path))
    clock = ManualClock()
    wall = SimulatedWall(policy.sim_start, clock)
    loop = ControlLoop(policy, SimHost(policy, wall=wall), tokens=TokenLedger(policy, durable=False),
                       clock=clock, wall=wall)
    loop.prime()
    snaps = []
    for _ in range(30):
        clock.advance(1.0)
        snaps.append(loop.step())
    inter = [s.decision.get("interactive") for s in snaps]
    batch = [s.decision.get("batch") for s in snaps]
    first_miss = next(i for i, c in enumerate(inter) if c.status == "missing")
    assert 5 <= first_miss <= 10  # quiet first, then the peak
    assert any("donor to interactive" in b.reason for b in batch[first_miss:])
    assert batch[first_miss + 2].weight < batch[0].weight
    recovered = next(i for i, c in enumerate(inter) if i > first_miss and c.status != "missing")
    assert recovered <= first_miss + 8
    signals = [s.tokens["coder"].signal for s in snaps]
    assert signals[0] == "green" and "yellow" in signals
    assert signals.index("yellow") > 10
    # the simulated agent really appended to its counter file, and the signal file exists
    assert (tmp_path / "coder.counters.jsonl").stat().st_size > 0
    assert (tmp_path / "coder.signal.json").exists()
    loop.close()
