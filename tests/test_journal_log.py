"""Journal output: priorities, de-duplicated sample errors, a summary every N ticks."""

from __future__ import annotations

import io
import os
from dataclasses import replace

from loop_util import sim_loop, ticks

from wlmtui.cli import demo_policy
from wlmtui.daemon import DEFAULT_LOG_EVERY, journal_every
from wlmtui.journal_log import JournalWriter
from wlmtui.snapshot import Event


def test_events_carry_syslog_priorities_and_summaries_come_every_n_ticks():
    loop, clock = sim_loop(demo_policy())
    out = io.StringIO()
    writer = JournalWriter(out, every=5)
    snaps = ticks(loop, clock, 20)  # the interactive peak at 8 s makes decisions
    for snap in snaps:
        writer(snap)
    lines = out.getvalue().splitlines()
    assert all(line[:3] in ("<3>", "<4>", "<5>", "<6>") for line in lines)
    decisions = [line for line in lines if line.startswith("<6>decision: ")]
    expected = [e.text for s in snaps for e in s.events if e.kind == "decision"]
    assert expected and [d.removeprefix("<6>decision: ") for d in decisions] == expected
    summaries = [int(line.split()[1].rstrip(":")) for line in lines if line.startswith("<6>tick ")]
    assert {5, 10, 15, 20} <= set(summaries)
    # beyond the every-5 summaries only the first tick and changes in who misses its goal
    missing = [frozenset(c.name for c in s.decision.classes if c.status == "missing") for s in snaps]
    changes = {s.tick for i, s in enumerate(snaps) if i == 0 or missing[i] != missing[i - 1]}
    assert set(summaries) == {5, 10, 15, 20} | changes
    assert len(lines) < 20 * len(snaps[0].decision.classes)  # not a line per class per tick


def test_sample_errors_once_when_they_appear_and_when_they_clear():
    loop, clock = sim_loop(demo_policy())
    (snap,) = ticks(loop, clock, 1)
    out = io.StringIO()
    writer = JournalWriter(out, every=1000)
    broken = replace(snap, errors=("web: cgroup missing",))
    writer(snap)
    writer(broken)
    writer(replace(broken, tick=3))
    writer(replace(snap, tick=4, events=(Event(0, "error", "web: cannot write cpu.weight"),),
                   errors=("web: cannot write cpu.weight",)))
    lines = out.getvalue().splitlines()
    assert lines.count("<4>error: web: cgroup missing") == 1
    assert "<6>cleared: web: cgroup missing" in lines
    # an error that is also an event of the tick is logged once, as the error event
    assert lines.count("<3>error: web: cannot write cpu.weight") == 1
    assert not any("<4>error: web: cannot write" in line for line in lines)


def test_multiline_text_stays_on_one_journal_line():
    loop, clock = sim_loop(demo_policy())
    (snap,) = ticks(loop, clock, 1)
    out = io.StringIO()
    JournalWriter(out)(replace(snap, events=(Event(0, "reload", "first\nsecond"),)))
    assert "<5>reload: first second" in out.getvalue().splitlines()


def test_journal_mode_is_chosen_by_flag_or_by_journal_stream(tmp_path):
    with open(tmp_path / "out", "w") as fh:
        st = os.fstat(fh.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert journal_every(False, None, False, fh, env) == DEFAULT_LOG_EVERY
        assert journal_every(False, 7, False, fh, env) == 7
        assert journal_every(False, None, True, fh, env) is None  # --json stays JSON
        assert journal_every(False, None, False, fh, {}) is None  # a terminal or a file: as today
        assert journal_every(True, None, False, fh, {}) == DEFAULT_LOG_EVERY


def test_daemon_picks_journal_lines_when_its_stdout_is_the_journal_stream(tmp_path):
    """$JOURNAL_STREAM naming the daemon's stdout switches it to journal lines without --log."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    policy = tmp_path / "policy.yaml"
    policy.write_text((root / "sample_policies" / "demo.yaml").read_text()
                      .replace("state_dir: /tmp/wlmtui-demo", f"state_dir: {tmp_path}"))
    out_path = tmp_path / "journal"
    with open(out_path, "w") as out:
        st = os.fstat(out.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", str(policy), "--backend", "sim",
                                 "--interval", "50ms"], stdout=out, stderr=subprocess.PIPE, env=env, cwd=root)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and "<6>tick 1:" not in out_path.read_text():
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            proc.stderr.close()
    lines = out_path.read_text().splitlines()
    assert lines[0].startswith("<6>wlmtui: 4 service classes")
    assert "<6>tick 1:" in "\n".join(lines)
    assert all(line[:3] in ("<3>", "<4>", "<5>", "<6>") for line in lines)
    assert not any(" interactive PI " in line for line in lines)  # not the per-class terminal lines
