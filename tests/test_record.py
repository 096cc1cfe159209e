"""Record & replay: the store gives back what the loop published, bounded and seekable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.loop_util import EPOCH, sim_loop, ticks
from wlmtui import commands as cmd
from wlmtui.cli import demo_policy
from wlmtui.policy import PolicyError, parse_policy
from wlmtui.record import store
from wlmtui.record.config import RecordConfig
from wlmtui.record.recorder import Recorder
from wlmtui.record.replay import Recording, RecordingError, parse_at
from wlmtui.record.store import list_segments, recorded_form, scan_segment, write_all

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, n, edit_at=None):
    policy = demo_policy(str(tmp_path / "state"))
    loop, clock = sim_loop(policy)
    out = ticks(loop, clock, edit_at or n)
    if edit_at:
        cls = policy.classes[0]
        loop.send(cmd.UpdateClass(replace(cls, importance=3)))
        out += ticks(loop, clock, n - edit_at)
    loop.close()
    return policy, out


def _config(tmp_path, **kw) -> RecordConfig:
    return RecordConfig(dir=str(tmp_path / "rec"), **kw)


def test_recorded_ticks_come_back_equal(tmp_path):
    _, snaps = _run(tmp_path, 120)
    assert any(c.measure is not None and c.measure.rt_samples for s in snaps for c in s.decision.classes)
    write_all(_config(tmp_path), snaps)
    back = list(Recording(str(tmp_path / "rec")))
    assert len(back) == len(snaps)
    for got, want in zip(back, snaps):
        assert got == recorded_form(want)  # equal but for the raw response-time samples …
        assert got.to_json() == want.to_json()  # … which no view of a snapshot shows
        assert got.policy == want.policy


def test_samples_true_keeps_every_field(tmp_path):
    _, snaps = _run(tmp_path, 30)
    write_all(_config(tmp_path, samples=True), snaps)
    assert list(Recording(str(tmp_path / "rec"))) == snaps


def test_the_policy_is_stored_once_per_change(tmp_path):
    _, snaps = _run(tmp_path, 60, edit_at=25)
    assert snaps[30].policy != snaps[0].policy
    write_all(_config(tmp_path), snaps)
    [segment] = list_segments(str(tmp_path / "rec"))
    kinds = [c.kind for c in scan_segment(segment).chunks]
    assert kinds.count(store.KIND_POLICY) == 2
    back = list(Recording(str(tmp_path / "rec")))
    assert [s.policy for s in back] == [s.policy for s in snaps]
    assert back[30].policy.classes[0].importance == 3


def test_a_chunk_is_written_every_flush_seconds(tmp_path):
    _, snaps = _run(tmp_path, 35)
    writer = store.StoreWriter(_config(tmp_path, flush=10.0))
    for s in snaps[:25]:
        writer.add(s)
    # 25 ticks at 1 s: two full chunks are on disk, the rest waits in memory (the loss window)
    on_disk = Recording(str(tmp_path / "rec"))
    assert len(on_disk) == 22
    writer.close()
    assert len(Recording(str(tmp_path / "rec"))) == 25


def test_segments_rotate_by_size_and_retention_keeps_the_store_bounded(tmp_path):
    _, snaps = _run(tmp_path, 400)
    config = _config(tmp_path, max_size=200 * 1024)  # 64 KiB segments
    writer = write_all(config, snaps)
    segments = list_segments(config.dir)
    assert writer.deleted, "the oldest segments should have been deleted"
    assert not any(os.path.exists(p) for p in writer.deleted)
    total = sum(os.path.getsize(p) for p in segments)
    assert total <= config.max_size + config.segment_size  # the open segment may pass it until rotation
    rec = Recording(config.dir)
    assert rec.last_wall == snaps[-1].wall
    assert rec.first_wall > snaps[0].wall
    assert list(rec) == [recorded_form(s) for s in snaps[-len(rec):]]


def test_retention_by_age_on_snapshot_time(tmp_path):
    _, snaps = _run(tmp_path, 300)
    config = _config(tmp_path, max_age=120.0)  # segments of 30 s
    writer = write_all(config, snaps)
    assert len(writer.deleted) >= 4
    rec = Recording(config.dir)
    # what is left ended at most max_age ago (plus the one segment still straddling the limit)
    assert snaps[-1].wall - rec.first_wall <= config.max_age + config.segment_age + config.flush
    assert snaps[-1].wall - rec.first_wall >= config.max_age


def test_a_truncated_tail_is_skipped_with_a_warning(tmp_path):
    _, snaps = _run(tmp_path, 40)
    write_all(_config(tmp_path), snaps)
    [segment] = list_segments(str(tmp_path / "rec"))
    size = os.path.getsize(segment)
    with open(segment, "r+b") as f:
        f.truncate(size - 50)
    rec = Recording(str(tmp_path / "rec"))
    assert len(rec) == 33  # the last chunk (ticks 34..40) is lost, the rest reads
    assert list(rec) == [recorded_form(s) for s in snaps[:33]]
    assert len(rec.warnings) == 1 and "truncated chunk" in rec.warnings[0]


def test_a_damaged_chunk_is_reported_not_raised(tmp_path):
    _, snaps = _run(tmp_path, 40)
    write_all(_config(tmp_path), snaps)
    [segment] = list_segments(str(tmp_path / "rec"))
    chunks = scan_segment(segment).chunks
    frames = [c for c in chunks if c.kind == store.KIND_FRAMES]
    with open(segment, "r+b") as f:
        f.seek(frames[1].offset + 5)
        f.write(b"\x00\x01\x02")
    rec = Recording(str(tmp_path / "rec"))
    got = list(rec)
    assert got[0] == recorded_form(snaps[0]) and got[-1] == recorded_form(snaps[-1])
    assert any("damaged (checksum)" in w for w in rec.warnings)


def test_no_recording_is_one_clear_error(tmp_path):
    with pytest.raises(RecordingError, match="no recording at"):
        Recording(str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="holds no ticks"):
        Recording(str(tmp_path / "empty"))


def test_seek_finds_the_tick_of_a_time(tmp_path):
    _, snaps = _run(tmp_path, 200)
    write_all(_config(tmp_path), snaps)
    rec = Recording(str(tmp_path / "rec"))
    assert rec.seek(snaps[137].wall) == 137
    assert rec.seek(snaps[137].wall - 0.5) == 137  # between ticks: the next one
    assert rec.seek(snaps[0].wall - 1000) == 0
    assert rec.seek(snaps[-1].wall + 1000) == 199
    first, last = rec.first_wall, rec.last_wall
    assert rec.seek(parse_at("-60s", first, last)) == 199 - 60
    assert rec.seek(parse_at("+10s", first, last)) == 10
    hms = time.strftime("%H:%M:%S", time.localtime(snaps[42].wall))
    assert rec.seek(parse_at(hms, first, last)) == 42
    iso = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snaps[99].wall))
    assert rec.seek(parse_at(iso, first, last)) == 99


@pytest.mark.parametrize("text", ["25:00", "yesterday", "-10x", "+"])
def test_bad_at_is_a_clear_error(text):
    with pytest.raises(ValueError, match="--at"):
        parse_at(text, EPOCH, EPOCH + 100)


def test_record_section_defaults_and_errors():
    base = "state_dir: /srv/wlm\nservice_classes:\n  - {name: a, cgroup: a, goal: {type: discretionary}}\n"
    policy = parse_policy(base)
    assert policy.record == RecordConfig(dir="/srv/wlm/record")
    good = parse_policy(base + "record: {max_age: 2d, max_size: 1GiB, flush: 5s, dir: /data/rec, enabled: false}\n")
    assert good.record == RecordConfig(enabled=False, dir="/data/rec", max_age=2 * 86400, max_size=1024**3, flush=5.0)
    bad = base + "record:\n  max_age: soon\n  max_size: 10KB\n  flush: 10m\n  enabeld: true\n"
    with pytest.raises(PolicyError) as exc:
        parse_policy(bad, "p.yaml")
    text = [str(p) for p in exc.value.problems]
    assert "p.yaml:5: record.max_age ('soon') is not an age (try '7d', '12h' or '30m')" in text
    assert "p.yaml:6: record.max_size (10KB) must be at least 1MiB" in text
    assert any(t.startswith("p.yaml:7: record.flush") and "at most 5m" in t for t in text)
    assert any(t.startswith("p.yaml:8: record.enabeld is not a known key (did you mean 'enabled'?)") for t in text)


def test_recorder_writes_off_the_loop_thread_and_drops_when_behind(tmp_path, monkeypatch):
    _, snaps = _run(tmp_path, 20)
    reports: list[str] = []
    recorder = Recorder(_config(tmp_path), report=reports.append, queue_size=2)
    gate, busy = threading.Event(), threading.Event()
    real_add = recorder.writer.add

    def slow_add(snap):
        busy.set()
        gate.wait(5)
        real_add(snap)

    monkeypatch.setattr(recorder.writer, "add", slow_add)
    recorder.publish(snaps[0])
    assert busy.wait(5)  # the writer holds the first, as on a stalled disk
    for s in snaps[1:]:
        recorder.publish(s)  # never blocks: the writer holds one, the queue two, the rest are dropped
    assert recorder.dropped == len(snaps) - 3
    gate.set()
    recorder.close()
    assert len(Recording(str(tmp_path / "rec"))) == 3
    assert any("dropping snapshots" in r for r in reports)
    assert any(f"{len(snaps) - 3} snapshot(s) dropped" in r for r in reports)


def test_recorder_reports_an_unwritable_directory_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from wlmtui.record.store import StoreError

    with pytest.raises(StoreError, match="cannot create the record directory"):
        Recorder(RecordConfig(dir=str(blocker / "rec")))


def test_the_headless_daemon_records_until_stopped(tmp_path):
    rec_dir = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-m", "wlmtui", "--demo", "--no-ui", "--interval", "100ms",
                             "--record-dir", str(rec_dir)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list_segments(str(rec_dir)):
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    rec = Recording(str(rec_dir))
    assert len(rec) >= 5
    ticks_seen = [s.tick for s in rec]
    assert ticks_seen == list(range(ticks_seen[0], ticks_seen[0] + len(ticks_seen)))  # none lost at the end


def test_a_recording_nothing_of_which_decodes_is_one_clear_error(tmp_path):
    from wlmtui.record.replay import ReplaySource

    _, snaps = _run(tmp_path, 12)
    write_all(_config(tmp_path), snaps)
    [segment] = list_segments(str(tmp_path / "rec"))
    for ref in scan_segment(segment).chunks:
        if ref.kind == store.KIND_FRAMES:
            with open(segment, "r+b") as f:
                f.seek(ref.offset)
                f.write(b"\xff" * 8)
    rec = Recording(str(tmp_path / "rec"))
    with pytest.raises(RecordingError, match="can be read: .*damaged"):
        ReplaySource(rec, 0)


def test_replay_command_line(tmp_path, capsys):
    from wlmtui.cli import main

    _, snaps = _run(tmp_path, 30)
    write_all(_config(tmp_path), snaps)
    d = str(tmp_path / "rec")
    assert main(["replay", "--dir", d, "--list"]) == 0
    out = capsys.readouterr().out
    assert "30 ticks from" in out and ".wrec" in out
    assert main(["replay", "--dir", d, "--at", "soon"]) == 2
    assert "--at 'soon': not a time" in capsys.readouterr().err
    assert main(["replay", "--dir", d, "--at", "-2d"]) == 2
    assert "is outside the recording (30 ticks from" in capsys.readouterr().err
    assert main(["replay", "--dir", str(tmp_path / "nothing")]) == 1
    assert "no recording at" in capsys.readouterr().err


def test_replay_finds_the_policys_record_dir(tmp_path, capsys):
    from wlmtui.cli import main

    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(f"state_dir: {tmp_path}/state\nbackend: sim\nservice_classes:\n"
                           "  - {name: a, cgroup: a, goal: {type: discretionary}}\n")
    assert main(["replay", str(policy_file), "--list"]) == 1
    assert f"no recording at {tmp_path}/state/record" in capsys.readouterr().err
