"""The control socket: a daemon (ControlLoop on the simulated host in a thread,
serving its socket) and RemoteLoop clients. Edits, pin, pause, save and reload
round-trip and are checked in the daemon's own snapshots and on disk; a
read-only peer is refused; a slow client never backs the daemon up; a killed
daemon leaves the client reconnecting, and it resumes on a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from wlmtui import commands as cmd
from wlmtui import snapcodec
from wlmtui.control import protocol as proto
from wlmtui.control.client import AttachError, RemoteLoop, encode_command
from wlmtui.control.peer import Peer, Verdict, default_check
from wlmtui.policy import Gains, PolicyError, load_policy, parse_policy
from wlmtui.ui.policy_save import render_updated_yaml

from control_util import Daemon, cleanup, policy_file, short_tmpdir, wait_for
from test_control_lock import SIM_POLICY


@pytest.fixture
def state():
    d = short_tmpdir()
    yield d
    cleanup(d)


@pytest.fixture
def daemon(state):
    d = Daemon(policy_file(state, SIM_POLICY)).start()
    yield d
    d.stop()


class Client:
    """A RemoteLoop with its run() in a thread, collecting what it publishes."""

    def __init__(self, path: str, retry: float = 0.1):
        self.remote = RemoteLoop(path, retry=retry)
        self.snaps: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.remote.run, args=(self.stop, self.snaps.append), daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join(5)

    def newest(self, pred, what="a snapshot"):
        """Wait for a snapshot published after now that satisfies ``pred``."""
        start = len(self.snaps)
        return wait_for(lambda: next((s for s in self.snaps[start:] if pred(s)), None), what=what)


@pytest.fixture
def client(daemon):
    c = Client(daemon.socket)
    yield c
    c.close()


def test_hello_carries_the_daemons_policy_and_host(daemon, client):
    r = client.remote
    assert r.role == "edit" and r.daemon_pid == os.getpid()
    assert r.policy.names() == ["web", "batch"] and r.policy.source == str(daemon.policy_path)
    assert r.backend.kind == "sim" and r.interval == pytest.approx(0.05)
    assert r.policy_files.text == daemon.policy_path.read_text()
    snap = client.newest(lambda s: True)
    assert snap.policy.names() == ["web", "batch"] and snap.backend_kind == "sim"


def test_edit_pin_pause_round_trip_into_the_daemon(daemon, client):
    r = client.remote
    web = r.policy.get("web")
    r.send(cmd.UpdateClass(replace(web, gains=Gains(1.35, 0.25), importance=2)))
    r.send(cmd.Pin("batch", 321))
    r.send(cmd.Pause(True))
    wait_for(lambda: daemon.loop.policy.get("web").gains == Gains(1.35, 0.25), what="the edit in the daemon")
    snap = wait_for(lambda: next((s for s in reversed(daemon.snaps) if s.paused and
                                  s.decision.get("batch").pinned), None), what="pin and pause in the daemon")
    assert snap.decision.get("batch").weight == 321 and snap.dirty
    assert daemon.loop.policy.get("web").importance == 2
    seen = client.newest(lambda s: s.paused and s.decision.get("batch").weight == 321, "the client sees it")
    assert seen.policy.get("web").gains.kp == 1.35
    r.send(cmd.Pin("batch", None))
    r.send(cmd.Pause(False))
    client.newest(lambda s: not s.paused and not s.decision.get("batch").pinned, "released and resumed")
    assert r.notes == []  # nothing was refused


def test_refusals_come_back_as_notes(daemon, client):
    r = client.remote
    r.send(cmd.Pin("nosuch", 100))
    r.send(cmd.UpdateClass(replace(r.policy.get("web"), min_weight=5000, max_weight=100)))
    wait_for(lambda: len(r.notes) >= 2, what="two refusals")
    assert r.notes[0] == ("error", "pin refused: no class named 'nosuch'")
    assert r.notes[1][0] == "error" and r.notes[1][1].startswith("update-class refused: web: ")
    assert daemon.loop.policy.get("web").min_weight != 5000


def test_save_writes_the_daemons_file_with_a_backup_and_the_daemon_adopts_it(daemon, client):
    r = client.remote
    original = daemon.policy_path.read_text()
    web = replace(r.policy.get("web"), gains=Gains(0.9, 0.4))
    r.send(cmd.UpdateClass(web))
    wait_for(lambda: daemon.loop.policy.get("web").gains.kp == 0.9 and daemon.loop.dirty, what="the edit")
    files = r.policy_files
    disk = files.read(str(daemon.policy_path))
    assert disk == original
    text = render_updated_yaml(disk, daemon.loop.policy, only={"web": {"kp", "ki"}})
    stamp = files.write(str(daemon.policy_path), text)
    assert daemon.policy_path.read_text() == text and Path(f"{daemon.policy_path}.bak").read_text() == original
    assert stamp.sha256 == __import__("hashlib").sha256(text.encode()).hexdigest()
    assert load_policy(daemon.policy_path).get("web").gains == Gains(0.9, 0.4)
    snap = wait_for(lambda: next((s for s in reversed(daemon.snaps) if any(
        e.text.startswith("policy saved to") for e in s.events)), None), what="the daemon adopts the file")
    wait_for(lambda: not daemon.loop.dirty, what="clean after the save")
    assert files.load(str(daemon.policy_path)).get("web").gains.kp == 0.9
    assert snap.policy.source == str(daemon.policy_path)


def test_save_refuses_a_file_changed_on_disk_and_an_invalid_text(daemon, client):
    from wlmtui.ui.policy_save import SaveError

    files = client.remote.policy_files
    path = str(daemon.policy_path)
    files.read(path)
    daemon.policy_path.write_text(daemon.policy_path.read_text() + "# changed by someone else\n")
    with pytest.raises(SaveError, match="changed on disk since the console read it"):
        files.write(path, daemon.policy_path.read_text())
    files.read(path)
    with pytest.raises(SaveError, match="would not be a valid policy"):
        files.write(path, "service_classes: 3\n")
    with pytest.raises(SaveError, match="saves only the daemon's policy file"):
        files.write("/etc/passwd", "x")
    assert "# changed by someone else" in daemon.policy_path.read_text()
    assert not Path(f"{path}.bak").exists()


def test_reload_from_the_client_rereads_the_daemons_file(daemon, client):
    text = daemon.policy_path.read_text().replace("target: 25", "target: 40")
    daemon.policy_path.write_text(text)
    client.remote.send(cmd.Reload())
    wait_for(lambda: daemon.loop.policy.get("batch").goal.value == 40, what="the reload")
    client.newest(lambda s: s.policy.get("batch").goal.value == 40, "the client sees the reloaded policy")


def test_a_read_only_peer_sees_everything_and_changes_nothing(state):
    reason = "read-only: your uid 1000 is not root or in group wlmtui"
    d = Daemon(policy_file(state, SIM_POLICY), check=lambda peer, group: Verdict(False, reason)).start()
    c = Client(d.socket)
    try:
        r = c.remote
        assert r.role == "read" and r.readonly and r.readonly_reason == reason
        before = d.policy_path.read_text()
        r.send(cmd.Pin("batch", 500))
        r.send(cmd.Pause(True))
        r.send(cmd.UpdateClass(replace(r.policy.get("web"), gains=Gains(3.0, 3.0))))
        wait_for(lambda: len(r.notes) >= 3, what="three refusals")
        assert all(kind == "error" and text.endswith(f"refused: {reason}") for kind, text in r.notes)
        from wlmtui.ui.policy_save import SaveError

        r.policy_files.read(str(d.policy_path))  # reading is allowed
        with pytest.raises(SaveError, match="read-only: your uid 1000"):
            r.policy_files.write(str(d.policy_path), before.replace("25", "30"))
        snap = c.newest(lambda s: True)
        assert not snap.paused and not snap.decision.get("batch").pinned
        assert d.loop.policy.get("web").gains != Gains(3.0, 3.0) and d.policy_path.read_text() == before
    finally:
        c.close()
        d.stop()


def test_default_permission_check():
    me = os.geteuid()
    assert default_check(Peer(1, 0, 0), None).edit
    assert default_check(Peer(1, me, me), None).edit
    other = 54321 if me != 54321 else 54322
    v = default_check(Peer(999999999, other, other), None)
    assert not v.edit and v.reason.startswith(f"read-only: your uid {other} is not root")
    import grp

    g = grp.getgrgid(os.getegid()).gr_name
    assert default_check(Peer(999999999, other, os.getegid()), g).edit  # primary group
    v = default_check(Peer(999999999, other, other), g)
    assert not v.edit and f"in group {g}" in v.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user (setuid)")
def test_a_real_other_user_is_read_only(state):
    """A forked child drops to uid nobody and connects: the kernel's credentials make it read-only."""
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this host")
    d = Daemon(policy_file(state, SIM_POLICY)).start()
    try:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.close(rfd)
                os.setgid(nobody.pw_gid)
                os.setgroups([])
                os.setuid(nobody.pw_uid)
                r = RemoteLoop(d.socket)
                sock = r._sock
                sock.sendall(proto.json_frame(proto.COMMAND, {"op": "pin", "name": "batch", "weight": 500, "id": 1}))
                reader, reply = r._reader, None
                while reply is None:
                    for kind, payload in reader.feed(sock.recv(1 << 20)):
                        if kind == proto.REPLY:
                            reply = json.loads(payload)
                os.write(wfd, json.dumps({"role": r.role, "reason": r.readonly_reason, "reply": reply}).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(wfd)
        out = b""
        while chunk := os.read(rfd, 65536):
            out += chunk
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        got = json.loads(out)
        assert got["role"] == "read"
        assert got["reason"].startswith(f"read-only: your uid {nobody.pw_uid} is not root")
        assert got["reply"]["ok"] is False and got["reply"]["error"] == got["reason"]
        assert not d.loop.engine.pinned("batch")
    finally:
        d.stop()


def test_a_slow_client_skips_ticks_and_never_backs_up_the_daemon(daemon):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(daemon.socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        start = len(daemon.snaps)
        wait_for(lambda: len(daemon.snaps) >= start + 80, what="80 ticks")  # the client reads nothing meanwhile
        published = daemon.snaps[-1].tick
        reader = proto.FrameReader(proto.MAX_SERVER_FRAME)
        ticks: list[int] = []
        sock.settimeout(5)
        while not ticks or ticks[-1] < published:
            for kind, payload in reader.feed(sock.recv(1 << 20)):
                if kind == proto.SNAPSHOT:
                    ticks.append(snapcodec.loads(payload).tick)
        assert ticks == sorted(ticks)
        print(f"slow client got {len(ticks)} of {published - ticks[0] + 1} ticks")
        assert len(ticks) < 40  # intermediate ticks were dropped, not queued
        assert daemon.server.encode_count <= len(daemon.snaps)
    finally:
        sock.close()


def test_hostile_frames_are_answered_or_dropped_and_the_daemon_goes_on(daemon):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(daemon.socket)
        s.settimeout(5)
        return s, proto.FrameReader(proto.MAX_SERVER_FRAME)

    def reply(s, reader):
        while True:
            for kind, payload in reader.feed(s.recv(1 << 20)):
                if kind == proto.REPLY:
                    return json.loads(payload)

    s, reader = connect()
    s.sendall(proto.frame(proto.COMMAND, b"\x80not json"))
    assert "not JSON" in reply(s, reader)["error"]
    s.sendall(proto.json_frame(proto.COMMAND, {"op": "rm -rf", "id": 7}))
    assert reply(s, reader) == {"id": 7, "ok": False, "error": "unknown command 'rm -rf'"}
    s.sendall(proto.json_frame(proto.COMMAND, {"op": "pin", "name": "web", "weight": True, "id": 8}))
    assert reply(s, reader)["error"].startswith("weight must be")
    s.sendall(proto.frame(proto.SNAPSHOT, snapcodec.dumps({"a": 1})))  # a pickle from a client: dropped, unread
    while s.recv(1 << 20):  # frames already on their way, then the end: the daemon hung up
        pass
    s.close()
    s, reader = connect()
    s.sendall(b"\xff\xff\xff\xff")  # a 4 GiB frame announced
    s.close()
    n = len(daemon.snaps)
    wait_for(lambda: len(daemon.snaps) > n + 2, what="the daemon ticks on")
    c = Client(daemon.socket)
    try:
        c.newest(lambda s: True)
    finally:
        c.close()


def test_encode_command_rejects_what_a_daemon_cannot_take():
    assert encode_command(cmd.Pin("a", 3)) == {"op": "pin", "name": "a", "weight": 3}
    with pytest.raises(TypeError):
        encode_command(object())


def test_no_daemon_is_a_clear_error(state):
    with pytest.raises(AttachError, match="no wlmtui daemon listens at .*control.sock"):
        RemoteLoop(os.path.join(state, "control.sock"))


def test_cli_attach_without_a_daemon_says_so(state, capsys):
    from wlmtui.cli import main

    assert main(["attach", "--state-dir", state]) == 1
    err = capsys.readouterr().err
    assert err.startswith("wlmtui: no wlmtui daemon listens at") and "wlmtui --no-ui POLICY" in err
    assert err.count("\n") == 1


def test_control_group_must_exist():
    with pytest.raises(PolicyError) as info:
        parse_policy("control_group: no-such-group-wlm\n" + SIM_POLICY, "p.yaml")
    assert str(info.value.problems[0]) == ("p.yaml:1: control_group ('no-such-group-wlm') is not a group on "
                                           "this host (see /etc/group)")
    import grp

    g = grp.getgrgid(os.getegid()).gr_name
    assert parse_policy(f"control_group: {g}\n" + SIM_POLICY).control_group == g


# -- a real daemon process, killed and restarted ---------------------------------------------
def _daemon(path):
    return subprocess.Popen([sys.executable, "-m", "wlmtui", "--no-ui", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_daemon_killed_mid_attach_leaves_the_client_reconnecting_then_resumes(state):
    path = policy_file(state, SIM_POLICY)
    sock = os.path.join(state, "control.sock")
    first = _daemon(path)
    second = None
    c = None
    try:
        wait_for(lambda: os.path.exists(sock), what="the first daemon's socket")
        c = Client(sock)
        before = c.newest(lambda s: s.tick >= 3, "ticks from the first daemon")
        assert c.remote.daemon_pid == first.pid and c.remote.link_flag is None
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_for(lambda: c.remote.link_flag == "RECONNECTING", what="RECONNECTING")
        assert c.thread.is_alive()
        assert any(k == "error" and t.startswith("lost the daemon") for k, t in c.remote.notes)
        second = _daemon(path)  # the kernel freed the lock; the stale socket is replaced
        wait_for(lambda: c.remote.link_flag is None, what="the reconnect")
        assert c.remote.daemon_pid == second.pid
        after = c.newest(lambda s: True, "ticks from the second daemon")
        assert after.tick > before.tick  # the console's tick numbers carry on
        assert any(t.startswith("reconnected to the daemon") for _, t in c.remote.notes)
        second.send_signal(signal.SIGTERM)  # a clean stop removes the socket
        assert second.wait(10) == 0
        assert not os.path.exists(sock)
    finally:
        if c is not None:
            c.close()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def test_the_console_attaches_when_a_daemon_holds_the_lock(daemon, monkeypatch, capsys):
    """``wlmtui POLICY`` with a daemon on the same state_dir: attach instead of refusing."""
    from wlmtui.cli import main
    from wlmtui.control import attach
    from wlmtui.lock import StateLock

    seen = {}

    def fake_console(remote, *, readonly=False, theme=None):  # the console itself is tested with Pilot
        seen.update(pid=remote.daemon_pid, role=remote.role, readonly=readonly)
        remote.close()
        return 0

    monkeypatch.setattr(attach, "console_on", fake_console)
    with StateLock(daemon.loop.policy.state_dir):  # the lock a real daemon holds
        assert main([str(daemon.policy_path)]) == 0
        assert seen == {"pid": os.getpid(), "role": "edit", "readonly": False}
        daemon.server.close()  # the holder stops answering: the console refuses, naming it
        seen.clear()
        assert main([str(daemon.policy_path)]) == 1
    assert not seen
    err = capsys.readouterr().err
    assert f"another wlmtui (pid {os.getpid()}) is steering" in err and err.count("\n") == 1
