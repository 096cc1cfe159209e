"""Single writer: the state_dir lock, in one process and across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from wlmtui.lock import LockError, LockHeld, StateLock, read_holder
from wlmtui.cli import main

from control_util import cleanup, policy_file, short_tmpdir, wait_for

SIM_POLICY = """\
backend: sim
interval: 100ms
service_classes:
  - name: web
    cgroup: wlm/web
    goal: {type: response_time, target: 300ms, percentile: 95}
    importance: 1
    simulate: {demand: 0.5, service_ms: 20}
  - name: batch
    cgroup: wlm/batch
    goal: {type: velocity, target: 25}
    importance: 4
    simulate: {demand: 2}
"""


@pytest.fixture
def state():
    d = short_tmpdir()
    yield d
    cleanup(d)


def test_second_lock_on_the_same_state_dir_is_refused_with_the_pid(state):
    first = StateLock(state).acquire()
    try:
        assert read_holder(first.path) == os.getpid()
        with pytest.raises(LockHeld) as info:
            StateLock(state).acquire()
        msg = str(info.value)
        assert f"pid {os.getpid()}" in msg and first.path in msg and "wlmtui attach" in msg
    finally:
        first.release()
    again = StateLock(state).acquire()  # released: free again
    assert again.held
    again.release()


def test_another_state_dir_is_another_lock(state):
    other = short_tmpdir()
    try:
        with StateLock(state), StateLock(other) as b:
            assert b.held
    finally:
        cleanup(other)


def test_unwritable_state_dir_is_a_clear_error(state):
    blocker = os.path.join(state, "file")
    open(blocker, "w").close()
    with pytest.raises(LockError, match="cannot take the single-writer lock .*state_dir"):
        StateLock(os.path.join(blocker, "sub")).acquire()


def _daemon(path, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", str(path), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def test_a_second_process_refuses_naming_the_holder_and_a_crash_frees_the_lock(state, capsys):
    path = policy_file(state, SIM_POLICY)
    daemon = _daemon(path)
    try:
        wait_for(lambda: os.path.exists(os.path.join(state, "control.sock")), what="the daemon's socket")
        assert read_holder(os.path.join(state, "wlmtui.lock")) == daemon.pid
        for args in (["--no-ui"], ["--once"], ["--once", "--dry-run"]):
            assert main([*args, str(path)]) == 1
            err = capsys.readouterr().err
            assert f"another wlmtui (pid {daemon.pid}) is steering" in err, args
            assert err.count("\n") == 1  # one line, no traceback
    finally:
        daemon.send_signal(signal.SIGKILL)  # no clean-up by the daemon: the kernel drops the lock
        daemon.wait(10)
    assert main(["--once", str(path)]) == 0
    assert "another wlmtui" not in capsys.readouterr().err


def test_check_takes_no_lock(state, capsys):
    path = policy_file(state, SIM_POLICY)
    with StateLock(state):
        assert main(["check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_dry_run_without_a_writable_state_dir_runs_unlocked_and_says_so(state, capsys):
    blocker = os.path.join(state, "file")
    open(blocker, "w").close()
    path = os.path.join(state, "policy.yaml")
    with open(path, "w") as fh:
        fh.write(f"state_dir: {blocker}/sub\n" + SIM_POLICY)
    assert main(["--once", path]) == 1  # steering needs the lock
    err = capsys.readouterr().err
    assert err.startswith("wlmtui: cannot take the single-writer lock") and err.count("\n") == 1
    assert main(["--once", "--dry-run", path]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("wlmtui: dry run without the single-writer lock: cannot take")
    assert "web" in captured.out
