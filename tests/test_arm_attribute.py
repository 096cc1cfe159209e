"""Attributing reports without a class: the sender's cgroup, from /proc/PID/cgroup."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pytest

import wlmtui.arm as arm
from wlmtui.arm import client
from wlmtui.arm.attribute import CgroupAttributor, proc_cgroup_paths
from wlmtui.arm.receiver import ArmReceiver
from wlmtui.policy import parse_policy

V2 = "0::/wlm/interactive\n"
HYBRID = ("12:pids:/user.slice\n11:cpu,cpuacct:/wlm/batch\n4:memory:/wlm/other\n"
          "1:name=systemd:/user.slice/session-1.scope\n0::/\n")


@pytest.fixture
def proc(tmp_path):
    def add(pid: int, text: str) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cgroup").write_text(text)

    add.root = str(tmp_path)  # type: ignore[attr-defined]
    return add


@pytest.fixture
def short_dir():
    d = tempfile.mkdtemp(prefix="arm-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    client.configure()


def test_proc_cgroup_paths():
    assert proc_cgroup_paths(V2) == ("/wlm/interactive", None)
    assert proc_cgroup_paths(HYBRID) == ("/", "/wlm/batch")
    assert proc_cgroup_paths("5:cpuacct,cpu:/x\n") == (None, "/x")
    assert proc_cgroup_paths("0::/gone (deleted)\n") == ("/gone", None)
    assert proc_cgroup_paths("garbage\n\n3:cpuset:/y\n") == (None, None)


def test_by_fake_proc_v2_hybrid_subcgroups_and_missing(proc):
    proc(10, V2)
    proc(11, HYBRID)
    proc(12, "0::/wlm/interactive/worker-3\n")  # a sub-cgroup belongs to its class
    proc(13, "0::/system.slice/sshd.service\n")
    proc(14, "0::/wlm/interactive-extra\n")  # a prefix of a name is not a match
    proc(15, "")
    attr = CgroupAttributor({"interactive": "interactive", "batch": "batch"}, root="wlm", proc=proc.root)
    assert attr(10) == "interactive"
    assert attr(11) == "batch"  # v2 line is "/": the v1 cpu line decides
    assert attr(12) == "interactive"
    assert attr(13) is None and attr(14) is None and attr(15) is None
    assert attr(99) is None  # exited: no /proc entry


def test_root_relative_to_the_mount_and_nested_classes(proc):
    proc(20, "0::/web/api\n")
    proc(21, "0::/web/api/v2\n")
    proc(22, "0::/web\n")
    proc(23, "0::/wlm/web/api\n")
    attr = CgroupAttributor({"api": "web/api", "web": "web"}, root="", proc=proc.root)
    assert (attr(20), attr(21), attr(22), attr(23)) == ("api", "api", "web", None)
    attr.configure({"web": "web"})  # a reload: api is gone
    assert attr(20) == "web"


def test_unknown_root_matches_the_end_of_the_path(proc):
    proc(30, "0::/wlm/interactive\n")
    proc(31, "0::/interactive\n")  # inside a cgroup namespace
    proc(32, "0::/a/b/web/api/x\n")
    proc(33, "0::/interactive.service\n")
    attr = CgroupAttributor({"interactive": "interactive", "api": "web/api", "b": "b"}, root=None, proc=proc.root)
    assert (attr(30), attr(31), attr(32), attr(33)) == ("interactive", "interactive", "api", None)


def test_from_policy(proc, tmp_path):
    proc(40, "0::/wlm/web\n")
    policy = parse_policy("cgroup_root: wlm\nservice_classes:\n"
                          "  - {name: web, cgroup: web, goal: {type: response_time, target: 500ms}, importance: 1}\n")
    assert CgroupAttributor.from_policy(policy, proc=proc.root)(40) == "web"
    fake_tree = parse_policy(f"cgroup_root: {tmp_path}/tree\nservice_classes:\n"
                             "  - {name: web, cgroup: web, goal: {type: response_time, target: 500ms}, importance: 1}\n")
    attr = CgroupAttributor.from_policy(fake_tree, proc=proc.root, mountinfo="/nonexistent")
    assert attr.root is None and attr(40) == "web"


def test_receiver_attributes_a_real_forked_child_by_its_credentials(short_dir):
    """SO_PASSCRED gives the child's pid; the attributor sees it while the child lives."""
    asked: list[int] = []
    child_pid = 0

    def attribute(pid: int):
        asked.append(pid)
        return "interactive" if pid == child_pid and os.path.exists(f"/proc/{pid}") else None

    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    with ArmReceiver(sock, path, attribute=attribute, reader=False, classes=["interactive"]) as r:
        client.configure(sock, path)
        rd, wr = os.pipe()  # child -> parent
        go_rd, go_wr = os.pipe()  # parent -> child
        child_pid = os.fork()
        if child_pid == 0:  # pragma: no cover - the child
            try:
                arm.report(None, 4.5, "failed")
                os.write(wr, b"sent")
                os.read(go_rd, 1)
            finally:
                os._exit(0)
        try:
            assert os.read(rd, 4) == b"sent"
            b = r.drain()
        finally:
            os.write(go_wr, b"x")
            os.waitpid(child_pid, 0)
            for fd in (rd, wr, go_rd, go_wr):
                os.close(fd)
        assert asked == [child_pid]
        assert [(c.seconds, c.status) for c in b.per_class["interactive"]] == [(0.0045, "failed")]
        # once it has exited its reports cannot be attributed
        assert attribute(child_pid) is None


def test_receiver_with_cgroup_attributor_and_an_exited_sender(short_dir, proc):
    proc(os.getpid(), "0::/wlm/interactive\n")
    attr = CgroupAttributor({"interactive": "interactive"}, root="wlm", proc=proc.root)
    sock = f"{short_dir}/arm.sock"
    with ArmReceiver(sock, None, attribute=attr, reader=False) as r:
        client.configure(sock, f"{short_dir}/arm.jsonl")
        arm.report(None, 1)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(sock)
        s.send(b'{"ms":2,"pid":999999}\n')  # claims a pid that does not exist: falls back to the sender's
        s.send(b'{"ms":3,"pid":999998}\n{"ms":4}')
        b = r.drain()
        assert [c.seconds for c in b.per_class["interactive"]] == [0.001, 0.002, 0.003, 0.004]
        os.unlink(f"{proc.root}/{os.getpid()}/cgroup")  # as if the sender had exited
        s.send(b'{"ms":5}')
        b = r.drain()
        assert b.unattributed == 1 and not b.per_class
        s.close()
