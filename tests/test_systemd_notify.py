"""sd_notify as systemd would receive it: a datagram socket bound by the test
stands in for $NOTIFY_SOCKET (a filesystem path and an abstract '@' name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from loop_util import sim_loop, ticks

from wlmtui.cli import demo_policy
from wlmtui.systemd import Notifier, notify_address, sd_notify, stream_is_journal, watchdog_usec

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "sample_policies" / "demo.yaml"


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(0.05)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except (TimeoutError, socket.timeout, BlockingIOError):
            return out


def test_no_socket_means_no_op():
    assert notify_address({}) is None
    assert sd_notify("READY=1", {}) is False
    n = Notifier({})
    assert not n.enabled and n.ping_every is None
    assert n.send("READY=1") is False


def test_filesystem_and_abstract_addresses(notify_socket):
    sock, path = notify_socket
    assert sd_notify("READY=1\nSTATUS=x", {"NOTIFY_SOCKET": path}) is True
    assert received(sock) == ["READY=1\nSTATUS=x"]
    name = f"wlmtui-test-{uuid.uuid4().hex}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind("\0" + name)
    abstract.settimeout(0.05)
    try:
        assert notify_address({"NOTIFY_SOCKET": "@" + name}) == b"\0" + name.encode()
        assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert received(abstract) == ["WATCHDOG=1"]
    finally:
        abstract.close()
    # nobody listening: reported, not raised
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": path + "-gone"}) is False


def test_watchdog_period_is_for_this_process_only():
    assert watchdog_usec({"WATCHDOG_USEC": "30000000"}) == 30_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_usec({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_usec({"WATCHDOG_USEC": "0"}) is None


def test_ready_after_first_tick_watchdog_at_half_period_reload_handshake(notify_socket):
    sock, path = notify_socket
    loop, clock = sim_loop(demo_policy())
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}  # 4 s: ping at most every 2 s
    n = Notifier(env, clock=clock)
    assert n.ping_every == 2.0
    assert received(sock) == []  # nothing before the first tick
    pings = []
    for _ in range(7):
        (snap,) = ticks(loop, clock, 1)
        n.after_tick(snap)
        for msg in received(sock):
            pings.append((clock(), msg))
    ready = [t for t, m in pings if m.startswith("READY=1")]
    assert ready == [1.0]  # once, after the first tick
    assert "STATUS=tick 1: 4 classes" in pings[0][1]
    watchdog = [t for t, m in pings if m == "WATCHDOG=1"]
    assert watchdog == [1.0, 3.0, 5.0, 7.0]  # every tick would be 1 s apart; half the period is 2 s
    assert all(b - a <= 2.0 for a, b in zip(watchdog, watchdog[1:]))

    n.reloading()
    msg = received(sock)
    assert len(msg) == 1
    fields = dict(f.split("=", 1) for f in msg[0].split("\n"))
    assert fields["RELOADING"] == "1"
    assert abs(int(fields["MONOTONIC_USEC"]) - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 5_000_000
    loop.reload()  # the demo policy has no file: the refusal still ends the reload
    (snap,) = ticks(loop, clock, 1)
    n.after_tick(snap)
    after = received(sock)
    assert after[0].startswith("READY=1\nSTATUS=")
    n.stopping()
    assert received(sock) == ["STOPPING=1\nSTATUS=stopping"]


def test_watchdog_warning_when_ticks_are_too_slow():
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "10000000"})
    assert n.watchdog_warning(1.0) is None
    assert "longer than half the systemd watchdog (10s)" in n.watchdog_warning(6.0)


def test_journal_stream_detection(tmp_path):
    with open(tmp_path / "f", "w") as fh:
        st = os.fstat(fh.fileno())
        assert stream_is_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stream_is_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not stream_is_journal(fh, {"JOURNAL_STREAM": "garbage"})
        assert not stream_is_journal(fh, {})


def test_daemon_under_a_fake_systemd(notify_socket, tmp_path):
    """The real headless daemon: READY after the first tick, watchdog pings,
    RELOADING + MONOTONIC_USEC then READY on SIGHUP, STOPPING on SIGTERM."""
    sock, path = notify_socket
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEMO.read_text().replace("state_dir: /tmp/wlmtui-demo", f"state_dir: {tmp_path}"))
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")  # pings at most every 0.2 s
    proc = subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", "--log", str(policy), "--backend", "sim",
                             "--interval", "100ms"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log: list[tuple[float, str]] = []

    def wait_for(prefix: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in received(sock):
                log.append((time.monotonic(), m))
            if any(m.startswith(prefix) for _, m in log):
                return
        raise AssertionError(f"{prefix!r} not received; got {[m for _, m in log]}")

    try:
        wait_for("READY=1")
        first_ready = next(i for i, (_, m) in enumerate(log) if m.startswith("READY=1"))
        assert "STATUS=tick 1:" in log[first_ready][1]
        until = time.monotonic() + 1.2
        while time.monotonic() < until:  # receive as they come, so arrival times are send times
            log.extend((time.monotonic(), m) for m in received(sock))
        pings = [t for t, m in log if m == "WATCHDOG=1"]
        assert len(pings) >= 3
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert min(gaps) >= 0.15  # never more often than half the period (0.2 s, less receive jitter)
        log.clear()
        proc.send_signal(signal.SIGHUP)
        wait_for("RELOADING=1")
        wait_for("READY=1")
        order = [m.split("\n")[0] for _, m in log if not m.startswith("WATCHDOG")]
        assert order.index("RELOADING=1") < order.index("READY=1")
        reloading = next(m for _, m in log if m.startswith("RELOADING=1"))
        assert "MONOTONIC_USEC=" in reloading
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        wait_for("STOPPING=1", timeout=2)
        out = proc.stdout.read()
        assert "<5>reload: policy reloaded from" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
