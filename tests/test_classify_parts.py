"""The classifier's parts without the kernel: the cgroup placer on fake
trees, /proc parsing, sticky records on disk, proc-connector messages."""

from __future__ import annotations

import json
import os
import struct

import pytest

from wlmtui.classify import connector as cn
from wlmtui.classify.placer import CgroupPlacer, PlaceError, parse_proc_cgroup, placer_for
from wlmtui.classify.procfs import PF_KTHREAD, ProcFS, parse_stat, parse_status
from wlmtui.classify.sticky import FileStickyStore


def tree(tmp_path, roots=("cpu", "unified"), classes=("web", "batch")):
    out = []
    for r in roots:
        for c in classes:
            d = tmp_path / r / "wlm" / c
            d.mkdir(parents=True)
            (d / "cgroup.procs").write_text("")
        out.append(str(tmp_path / r / "wlm"))
    return out


def test_placer_writes_the_pid_in_every_hierarchy(tmp_path):
    roots = tree(tmp_path)
    placer = CgroupPlacer(roots, hierarchies=None)
    assert placer.configure({"web": "web", "batch": "/batch/"}) == []
    placer.place(4242, "web")
    assert [open(os.path.join(r, "web", "cgroup.procs")).read() for r in roots] == ["4242\n", "4242\n"]
    assert open(os.path.join(roots[0], "batch", "cgroup.procs")).read() == ""


def test_placer_members_are_in_every_hierarchy(tmp_path):
    roots = tree(tmp_path)
    for r, pids in zip(roots, ("1\n2\n3\n", "2\n3\n4\n")):
        open(os.path.join(r, "web", "cgroup.procs"), "w").write(pids)
    placer = CgroupPlacer(roots, hierarchies=None)
    placer.configure({"web": "web", "batch": "batch", "gone": "gone"})
    assert placer.members() == {"web": frozenset({2, 3}), "batch": frozenset()}  # "gone" has no cgroup
    with pytest.raises(NotImplementedError):
        placer.location(2)


def test_placer_errors_say_what_is_wrong(tmp_path):
    roots = tree(tmp_path, roots=("v2",))
    placer = CgroupPlacer(roots, hierarchies=None)
    placer.configure({"web": "web", "missing": "missing"})
    with pytest.raises(PlaceError, match=r"missing: cgroup .*/missing does not exist"):
        placer.place(1, "missing")
    with pytest.raises(PlaceError, match="no cgroup to move processes into"):
        placer.place(1, "nobody")
    os.chmod(os.path.join(roots[0], "web", "cgroup.procs"), 0o444)
    if os.geteuid() != 0:  # root writes read-only files anyway
        with pytest.raises(PlaceError, match="permission denied"):
            placer.place(1, "web")


def test_placer_refuses_cgroups_escaping_the_root(tmp_path):
    roots = tree(tmp_path, roots=("v2",))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, os.path.join(roots[0], "evil"))
    placer = CgroupPlacer(roots, hierarchies=None)
    warnings = placer.configure({"evil": "evil", "up": "../x", "web": "web"})
    assert len(warnings) == 2 and "leaves the cgroup root" in warnings[0] and "below the cgroup root" in warnings[1]
    assert placer.members() == {"web": frozenset()}


def test_location_reads_proc_pid_cgroup(tmp_path):
    proc = tmp_path / "proc"
    for pid, cpu, v2 in ((10, "/wlm/web", "/wlm/web"), (11, "/wlm/web", "/"), (12, "/", "/wlm/batch")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cgroup").write_text(
            f"9:name=systemd:/\n4:memory:/x\n2:cpu,cpuacct:{cpu}\n0::{v2}\n")
    placer = CgroupPlacer(["/sys/fs/cgroup/cpu/wlm", "/sys/fs/cgroup/unified/wlm"], proc=str(proc),
                          hierarchies=(("cpu", "/sys/fs/cgroup/cpu"), ("v2", "/sys/fs/cgroup/unified")))
    placer.configure({"web": "web", "batch": "batch"})
    assert placer.location(10) == "web"
    assert placer.location(11) is None  # half placed: not in the class
    assert placer.location(12) is None
    assert placer.location(13) is None  # gone


def test_parse_proc_cgroup_pure_v2_and_hybrid():
    assert parse_proc_cgroup("0::/wlm/web\n") == {"v2": "/wlm/web"}
    assert parse_proc_cgroup("3:cpuset:/\n1:cpu:/a\n2:cpuacct:/b\n0::/c\n") == {"cpu": "/a", "v2": "/c"}


def test_placer_for_backends():
    class V2:
        kind, root = "v2", "/sys/fs/cgroup/wlm"

    class V1:
        kind, cpu_root, unified_root = "v1", "/sys/fs/cgroup/cpu/wlm", "/sys/fs/cgroup/unified/wlm"

    class Sim:
        kind = "sim"

    assert placer_for(V2()).roots == ("/sys/fs/cgroup/wlm",)
    assert placer_for(V1()).roots == ("/sys/fs/cgroup/cpu/wlm", "/sys/fs/cgroup/unified/wlm")
    assert placer_for(Sim()) is None


# ---------------------------------------------------------------- /proc

def test_parse_stat_with_awkward_comm():
    fields = ["S", "77", "3", "3", "0", "-1", str(PF_KTHREAD | 0x40), "0", "0", "0", "0", "150", "25",
              "0", "0", "20", "0", "1", "0", "123456", "0"]
    st = parse_stat(b"42 (a (b) c) " + " ".join(fields).encode())
    assert (st.comm, st.ppid, st.state, st.start, st.cpu, st.kernel_thread) == ("a (b) c", 77, "S", 123456, 175, True)
    assert parse_stat(b"garbage") is None


def test_parse_status_ids_and_pid_namespace_depth():
    text = "Name:\tx\nUid:\t1000\t1001\t1001\t1001\nGid:\t100\t27\t27\t27\nGroups:\t4 24 27\nNSpid:\t4242\t7\n"
    ids = parse_status(text)
    assert (ids.euid, ids.egid, ids.groups, ids.ns_depth) == (1001, 27, frozenset({4, 24, 27}), 2)


def test_procfs_reads_this_process():
    procs = ProcFS()
    pid = os.getpid()
    st = procs.stat(pid)
    assert st.ppid == os.getppid() and not st.kernel_thread and procs.token(pid) is not None
    assert procs.exe(pid) == os.path.realpath(os.readlink("/proc/self/exe"))
    assert "pytest" in procs.cmdline(pid) or "python" in procs.cmdline(pid)
    assert procs.ids(pid).euid == os.geteuid() and procs.ids(pid).ns_depth >= 1
    assert procs.env(pid, "PATH") == os.environ.get("PATH") or procs.env(pid, "PATH") is not None
    assert procs.stat(2**22 + 1) is None and procs.exe(2**22 + 1) is None and procs.token(2**22 + 1) is None


# ---------------------------------------------------------------- sticky records

def test_sticky_records_on_disk(tmp_path):
    store = FileStickyStore(str(tmp_path / "state"))
    assert store.load() == {}  # no directory yet: nothing sticky
    store.mark(100, 5000, "batch", "wlmtui run", ["make", "-j8"])
    store.mark(101, 5001, None, "wlmtui run (wrapper)")
    (tmp_path / "state" / "sticky" / "junk").write_text("x")
    (tmp_path / "state" / "sticky" / "102-5002").write_text("not json")
    assert store.load() == {(100, 5000): "batch", (101, 5001): None, (102, 5002): None}
    record = json.loads((tmp_path / "state" / "sticky" / "100-5000").read_text())
    assert record["class"] == "batch" and record["argv"] == ["make", "-j8"] and record["by"] == "wlmtui run"
    assert store.contains(100, 5000) and not store.contains(100, 5001)
    store.remove(100, 5000)
    store.remove(100, 5000)  # twice is fine
    assert (100, 5000) not in FileStickyStore(str(tmp_path / "state")).load()


# ---------------------------------------------------------------- connector messages

def _msg(what: int, *data: int) -> bytes:
    body = struct.pack("=IIQ", what, 0, 12345) + struct.pack(f"={len(data)}I", *data)
    cnmsg = struct.pack("=IIIIHH", cn.CN_IDX_PROC, cn.CN_VAL_PROC, 0, 0, len(body), 0)
    return struct.pack("=IHHII", 16 + len(cnmsg) + len(body), 3, 0, 0, 0) + cnmsg + body


def test_connector_messages_parse():
    assert cn.parse(_msg(cn.PROC_EVENT_EXEC, 4243, 4242)) == [cn.ProcEvent("exec", 4242, 12345)]
    assert cn.parse(_msg(cn.PROC_EVENT_UID, 7, 7, 0, 1000)) == [cn.ProcEvent("uid", 7, 12345)]
    assert cn.parse(_msg(cn.PROC_EVENT_FORK, 1, 1, 50, 50)) == [cn.ProcEvent("fork", 50, 12345)]
    assert cn.parse(_msg(cn.PROC_EVENT_FORK, 1, 1, 51, 50)) == []  # a new thread, not a process
    assert cn.parse(_msg(cn.PROC_EVENT_NONE, 1)) == [cn.ProcEvent("ack", 1, 12345)]
    two = _msg(cn.PROC_EVENT_EXEC, 1, 1) + _msg(cn.PROC_EVENT_EXIT, 2, 2, 0, 0, 1, 1)
    assert [e.kind for e in cn.parse(two)] == ["exec", "exit"]
    assert cn.parse(b"\x00" * 10) == [] and cn.parse(_msg(cn.PROC_EVENT_EXEC, 1, 1)[:-4]) == []


def test_members_kept_open_on_v2_and_fresh_on_v1_and_tree(tmp_path):
    """cgroup.procs descriptors are kept only on a cgroup2 mount (a fresh list
    per pread); v1 and test trees are opened afresh. Either way members() reads
    the current content, and a removed cgroup drops out."""
    from wlmtui.classify.placer import CgroupPlacer

    for hierarchies, kept in (((("v2", str(tmp_path / "a")),), 1), (None, 0), ((("cpu", str(tmp_path / "a")),), 0)):
        root = tmp_path / "a"
        (root / "web").mkdir(parents=True, exist_ok=True)
        (root / "web" / "cgroup.procs").write_text("1\n2\n")
        placer = CgroupPlacer([str(root)], hierarchies=hierarchies)
        placer.configure({"web": "web"})
        assert placer.members() == {"web": frozenset({1, 2})}
        assert len(placer._fds) == kept
        (root / "web" / "cgroup.procs").write_text("7\n")  # same inode: a kept fd sees it
        assert placer.members() == {"web": frozenset({7})}
        placer.close()
        assert placer._fds == {}
        (root / "web" / "cgroup.procs").unlink()
        assert placer.members() == {}


def test_classifier_reads_membership_at_most_every_members_every():
    from wlmtui.classify.classifier import Classifier
    from wlmtui.classify.placer import RecordingPlacer

    class Counting(RecordingPlacer):
        reads = 0

        def members(self):
            self.reads += 1
            return super().members()

    from wlmtui.policy import parse_policy

    policy = parse_policy("service_classes:\n  - name: web\n    cgroup: web\n    goal: {type: velocity, target: 20}\n")
    now = [0.0]
    placer = Counting()
    clf = Classifier(policy, placer, events=False, clock=lambda: now[0], members_every=1.0, detail=False,
                     sticky=_NoSticky(), own_ns=None)
    for _ in range(20):  # 20 ticks of 50 ms: one read at start, one after a second
        clf.tick(now[0])
        now[0] += 0.05
    assert placer.reads == 1
    clf.tick(now[0])
    assert placer.reads == 2
    clf.reconfigure(policy)  # a reload reads at once
    clf.tick(now[0])
    assert placer.reads == 3


class _NoSticky:
    dir = None

    def load(self):
        return {}

    def contains(self, pid, start):
        return False

    def remove(self, pid, start):
        pass

    def mark(self, pid, start, cls, by):
        pass
