"""Classes below wlmtui's own delegated cgroup, on a fake pure-v2 tree with a fake /proc/self/cgroup."""

from __future__ import annotations

import pytest

from fake_cgroupfs import FakeCgroupFs

from wlmtui.backends.base import BackendError
from wlmtui.backends.delegated import DelegatedV2Backend, own_cgroup
from wlmtui.backends.detect import select_backend
from wlmtui.policy import parse_policy

SERVICE = "system.slice/wlmtui.service"


def _policy(state_dir, cgroup_root: str | None = "delegated", cgroup: str = "web"):
    root = f"cgroup_root: {cgroup_root}\n" if cgroup_root else ""
    return parse_policy(
        f"{root}state_dir: {state_dir}\nservice_classes:\n"
        f"  - {{name: web, cgroup: {cgroup}, importance: 1, goal: {{type: velocity, target: 50}}}}\n"
        "  - {name: batch, cgroup: jobs/batch, importance: 4, goal: {type: velocity, target: 10}}\n", "p.yaml")


@pytest.fixture
def host(tmp_path):
    fs = FakeCgroupFs(tmp_path / "cg")
    fs.add("system.slice")
    fs.add(SERVICE)
    (fs.path(SERVICE) / "cgroup.procs").write_text("4242\n4243\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"27 23 0:25 / {fs.path()} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    proc_cgroup = tmp_path / "proc-self-cgroup"
    proc_cgroup.write_text(f"0::/{SERVICE}\n")
    return fs, str(mountinfo), str(proc_cgroup), tmp_path / "state"


def _select(host, policy, **kw):
    fs, mountinfo, proc_cgroup, _ = host
    return select_backend(None, policy, mountinfo=mountinfo, proc_pressure=str(fs.proc_pressure),
                          proc_self_cgroup=proc_cgroup, env={}, **kw)


def test_daemon_moves_into_supervisor_and_creates_classes_below_its_cgroup(host):
    fs, _, _, state = host
    be = _select(host, _policy(state), role="daemon")
    assert isinstance(be, DelegatedV2Backend)
    assert be.root == str(fs.path(SERVICE))
    assert be.moved == [4242, 4243]
    # every process of the service's cgroup was written to the leaf, one write each
    assert (fs.path(SERVICE) / "supervisor" / "cgroup.procs").read_text() == "4242\n4243\n"
    assert (state / "delegated-root").read_text() == f"{fs.path(SERVICE)}\n"
    fs.add(f"{SERVICE}/jobs")  # the fake cannot play the kernel's part for nested mkdirs
    be.attach({"web": "web", "batch": "jobs/batch"}, create=True)
    assert (fs.path(SERVICE) / "web").is_dir() and (fs.path(SERVICE) / "jobs" / "batch").is_dir()
    assert "cpu" in fs.read(SERVICE, "cgroup.subtree_control")
    assert not (fs.path() / "web").exists()  # nothing at the mount's top
    # nothing written above the delegated root: those cgroups are systemd's
    assert fs.read("", "cgroup.subtree_control") == "" and fs.read("system.slice", "cgroup.subtree_control") == ""
    be.close()
    assert fs.read(SERVICE, "cgroup.subtree_control") == "-cpu"  # handed back for the next start


def test_already_in_the_leaf_moves_nothing(host):
    fs, _, proc_cgroup, state = host
    (fs.path(SERVICE) / "supervisor").mkdir()
    open(proc_cgroup, "w").write(f"1:name=systemd:/{SERVICE}/supervisor\n0::/{SERVICE}/supervisor\n")
    be = _select(host, _policy(state), role="daemon")
    assert be.root == str(fs.path(SERVICE)) and be.moved == []
    assert not (fs.path(SERVICE) / "supervisor" / "cgroup.procs").exists()


def test_dry_run_looks_only(host):
    fs, _, _, state = host
    be = _select(host, _policy(state), role="observe")
    assert be.root == str(fs.path(SERVICE)) and be.moved == []
    assert not (fs.path(SERVICE) / "supervisor").exists() and not state.exists()


def test_other_commands_read_the_recorded_root(host):
    fs, _, proc_cgroup, state = host
    with pytest.raises(BackendError, match="start wlmtui.service first"):
        _select(host, _policy(state), role="tool")
    _select(host, _policy(state), role="daemon")
    open(proc_cgroup, "w").write("0::/user.slice/user-0.slice/session-1.scope\n")  # a login shell
    be = _select(host, _policy(state), role="tool")
    assert be.root == str(fs.path(SERVICE))


def test_a_login_shell_is_never_moved(host):
    fs, _, proc_cgroup, state = host
    fs.add("user.slice/session-1.scope")
    (fs.path("user.slice/session-1.scope") / "cgroup.procs").write_text("77\n")
    open(proc_cgroup, "w").write("0::/user.slice/session-1.scope\n")
    with pytest.raises(BackendError, match="not in a systemd service's cgroup"):
        _select(host, _policy(state), role="daemon")
    assert not (fs.path("user.slice/session-1.scope") / "supervisor").exists()
    open(proc_cgroup, "w").write("0::/\n")
    with pytest.raises(BackendError, match="runs in the root cgroup"):
        _select(host, _policy(state), role="daemon")
    open(proc_cgroup, "w").write("1:cpu:/\n")
    with pytest.raises(BackendError, match="needs cgroup v2"):
        _select(host, _policy(state), role="daemon")


def test_automatic_under_systemd_only_for_the_daemon_and_without_a_root(host):
    fs, mountinfo, proc_cgroup, state = host
    env = {"NOTIFY_SOCKET": "/run/systemd/notify"}
    common = dict(mountinfo=mountinfo, proc_pressure=str(fs.proc_pressure), proc_self_cgroup=proc_cgroup, env=env)
    be = select_backend(None, _policy(state, cgroup_root=None), role="daemon", **common)
    assert isinstance(be, DelegatedV2Backend)
    plain = select_backend(None, _policy(state, cgroup_root="wlm"), role="daemon", **common)
    assert not isinstance(plain, DelegatedV2Backend) and plain.root == str(fs.path("wlm"))
    assert not isinstance(select_backend(None, _policy(state, cgroup_root=None), role="daemon",
                                         **{**common, "env": {}}), DelegatedV2Backend)
    # --cgroup-root delegated asks for it as the policy key does
    cli = select_backend(None, _policy(state, cgroup_root=None), cgroup_root="delegated", role="observe",
                         **{**common, "env": {}})
    assert isinstance(cli, DelegatedV2Backend)


def test_reserved_names_and_hybrid_hosts_are_refused(host, tmp_path):
    _, _, _, state = host
    be = _select(host, _policy(state, cgroup="supervisor"), role="observe")
    with pytest.raises(BackendError, match="'supervisor' and '.control'"):
        be.attach({"web": "supervisor", "batch": "jobs/batch"})
    hybrid = FakeCgroupFs(tmp_path / "unified", controllers="")
    v1 = FakeCgroupFs(tmp_path / "cpu", flavour="v1")
    mi = tmp_path / "mi-hybrid"
    mi.write_text(f"32 31 0:29 / {v1.path()} rw - cgroup cgroup rw,cpu\n"
                  f"41 31 0:38 / {hybrid.path()} rw - cgroup2 cgroup2 rw\n")
    with pytest.raises(BackendError, match="pure cgroup-v2 hosts.*binds cpu to cgroup v1"):
        select_backend(None, _policy(state), mountinfo=str(mi), env={}, role="daemon")


def test_own_cgroup_reads_the_unified_line(tmp_path):
    f = tmp_path / "cgroup"
    f.write_text("12:cpu,cpuacct:/x\n0::/system.slice/wlmtui.service/supervisor\n")
    assert own_cgroup(str(f)) == "/system.slice/wlmtui.service/supervisor"
    with pytest.raises(BackendError, match="cannot read"):
        own_cgroup(str(tmp_path / "nope"))


def test_without_cpu_delegated_it_says_so(host):
    fs, _, _, state = host
    fs.write(SERVICE, "cgroup.controllers", "memory pids\n")
    be = _select(host, _policy(state), role="daemon")
    with pytest.raises(BackendError, match="cpu controller is not delegated to .*Delegate=yes"):
        be.attach({"web": "web"})
