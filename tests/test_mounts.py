"""Finding the cgroup mounts in mountinfo, and choosing the backend."""

from __future__ import annotations

import pytest

from wlmtui.backends.base import BackendError
from wlmtui.backends.cgroupfs import CgroupV1HybridBackend, CgroupV2Backend
from wlmtui.backends.detect import relative_root, select_backend
from wlmtui.backends.mounts import CgroupMounts, cgroup_mounts, find_cgroup_mounts, parse_mountinfo, unescape
from wlmtui.policy import Policy

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

PURE_V2 = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
27 23 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
28 23 0:26 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
"""


# ---------------------------------------------------------------- mountinfo

def test_hybrid_host_sample():
    mounts = parse_mountinfo(HYBRID)
    assert [m.fstype for m in mounts] == ["tmpfs", "cgroup", "cgroup", "cgroup", "cgroup2"]
    assert mounts[1].super_options == ("rw", "cpu")
    assert cgroup_mounts(mounts) == CgroupMounts(v2="/sys/fs/cgroup/unified", v1_cpu="/sys/fs/cgroup/cpu")


def test_pure_v2_sample_with_optional_fields():
    mounts = parse_mountinfo(PURE_V2)
    assert len(mounts) == 4
    assert mounts[2].mount_point == "/sys/fs/cgroup" and mounts[2].source == "cgroup2"
    assert cgroup_mounts(mounts) == CgroupMounts(v2="/sys/fs/cgroup", v1_cpu=None)


def test_cpu_must_be_a_whole_option():
    text = ("40 31 0:33 / /cg/acct rw - cgroup cgroup rw,cpuacct\n"
            "41 31 0:34 / /cg/set rw - cgroup cgroup rw,cpuset\n")
    assert cgroup_mounts(parse_mountinfo(text)).v1_cpu is None
    text += "42 31 0:35 / /cg/cpu,cpuacct rw,nosuid - cgroup cgroup rw,nosuid,cpu,cpuacct\n"
    assert cgroup_mounts(parse_mountinfo(text)).v1_cpu == "/cg/cpu,cpuacct"


def test_octal_escapes_in_paths():
    assert unescape(r"/mnt/my\040cgroups\011x\134y") == "/mnt/my cgroups\tx\\y"
    text = r"50 1 0:40 / /mnt/my\040cgroup2 rw shared:9 master:3 - cgroup2 none rw" + "\n"
    assert cgroup_mounts(parse_mountinfo(text)).v2 == "/mnt/my cgroup2"


def test_a_mount_of_the_hierarchy_root_beats_a_bind_mount():
    text = ("60 1 0:38 /container/x /srv/cg rw - cgroup2 cgroup2 rw\n"
            "61 1 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert cgroup_mounts(parse_mountinfo(text)).v2 == "/sys/fs/cgroup/unified"
    assert parse_mountinfo(text)[0].root == "/container/x"


def test_malformed_lines_are_skipped():
    text = "garbage\n1 2 3\n70 1 0:1 / /x rw shared:1 cgroup2 cgroup2 rw\n" + HYBRID
    assert len(parse_mountinfo(text)) == 5


def test_find_reads_an_injected_file(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_text(PURE_V2)
    assert find_cgroup_mounts(str(path)).v2 == "/sys/fs/cgroup"
    with pytest.raises(OSError):
        find_cgroup_mounts(str(tmp_path / "absent"))


# ---------------------------------------------------------------- select_backend

def host(tmp_path, *, v2_controllers: str | None, v1_cpu: bool) -> str:
    """A mountinfo naming cgroup mounts that are directories under tmp_path."""
    lines = [f"31 23 0:28 / {tmp_path} rw - tmpfs tmpfs rw"]
    if v1_cpu:
        (tmp_path / "cpu").mkdir()
        lines.append(f"32 31 0:29 / {tmp_path}/cpu rw - cgroup cgroup rw,cpu")
    if v2_controllers is not None:
        (tmp_path / "unified").mkdir()
        (tmp_path / "unified/cgroup.controllers").write_text(v2_controllers + "\n")
        lines.append(f"41 31 0:38 / {tmp_path}/unified rw - cgroup2 cgroup2 rw")
    path = tmp_path / "mountinfo"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def policy(**kw) -> Policy:
    return Policy(classes=(), **kw)


def test_auto_prefers_pure_v2_when_it_has_cpu(tmp_path):
    mi = host(tmp_path, v2_controllers="cpuset cpu io memory", v1_cpu=True)
    be = select_backend("auto", policy(), mountinfo=mi)
    assert isinstance(be, CgroupV2Backend) and be.kind == "v2"
    assert be.root == be.mount == f"{tmp_path}/unified"


def test_auto_falls_back_to_hybrid(tmp_path):
    mi = host(tmp_path, v2_controllers="hugetlb", v1_cpu=True)
    be = select_backend(None, policy(backend="auto", cgroup_root="wlm"), mountinfo=mi)
    assert isinstance(be, CgroupV1HybridBackend) and be.kind == "v1"
    assert (be.cpu_root, be.unified_root) == (f"{tmp_path}/cpu/wlm", f"{tmp_path}/unified/wlm")


@pytest.mark.parametrize(("v2", "v1", "detail"), [
    (None, False, "no cgroup2 mount (for PSI) and no cgroup v1 cpu mount"),
    (None, True, "no cgroup2 mount (for PSI)"),
    ("", False, "has no cpu controller and no cgroup v1 cpu mount"),
])
def test_auto_with_nothing_usable(tmp_path, v2, v1, detail):
    mi = host(tmp_path, v2_controllers=v2, v1_cpu=v1)
    with pytest.raises(BackendError) as info:
        select_backend("auto", policy(), mountinfo=mi)
    assert str(info.value).startswith("no usable cgroup hierarchy (")
    assert detail in str(info.value)
    assert str(info.value).endswith("try --backend sim or wlmtui --demo")


def test_explicit_v2_on_a_hybrid_host_says_why(tmp_path):
    mi = host(tmp_path, v2_controllers="", v1_cpu=True)
    with pytest.raises(BackendError, match="has no cpu controller .*use --backend v1 or auto"):
        select_backend("v2", policy(), mountinfo=mi)


def test_explicit_v1_needs_both_mounts(tmp_path):
    mi = host(tmp_path, v2_controllers="cpu", v1_cpu=False)
    with pytest.raises(BackendError, match="--backend v1: this host has no cgroup v1 cpu mount"):
        select_backend("v1", policy(), mountinfo=mi)


def test_explicit_v1_even_where_v2_has_cpu(tmp_path):
    mi = host(tmp_path, v2_controllers="cpu", v1_cpu=True)
    assert isinstance(select_backend("v1", policy(), mountinfo=mi), CgroupV1HybridBackend)


@pytest.mark.parametrize(("value", "expected"), [
    (None, ""), ("", ""), ("wlm", "wlm"), ("/wlm", "wlm"), ("wlm/./jobs/", "wlm/jobs"),
    ("/sys/fs/cgroup/wlm", "wlm"), ("/sys/fs/cgroup", ""),
])
def test_policy_cgroup_root_is_relative_to_the_mount(value, expected):
    assert relative_root(value, ("/sys/fs/cgroup",)) == expected


def test_policy_cgroup_root_may_not_climb_out():
    with pytest.raises(BackendError, match="escapes the cgroup mount"):
        relative_root("wlm/../..", ("/sys/fs/cgroup",))


def test_policy_root_absolute_inside_the_v2_mount(tmp_path):
    mi = host(tmp_path, v2_controllers="cpu", v1_cpu=False)
    be = select_backend("v2", policy(cgroup_root=f"{tmp_path}/unified/wlm"), mountinfo=mi)
    assert be.root == f"{tmp_path}/unified/wlm" and be.mount == f"{tmp_path}/unified"


def test_cli_cgroup_root_is_used_as_is(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    be = select_backend("auto", policy(cgroup_root="ignored"), cgroup_root=str(tree),
                        mountinfo=str(tmp_path / "no-mountinfo"))
    assert isinstance(be, CgroupV2Backend)
    assert be.root == be.mount == str(tree)
    assert be.label == f"cgroup v2 ({tree})"


def test_cli_cgroup_root_must_exist_outside_cgroupfs(tmp_path):
    with pytest.raises(BackendError, match="is not a directory"):
        select_backend("v2", policy(), cgroup_root=str(tmp_path / "nope"), mountinfo=str(tmp_path / "x"))


def test_cli_cgroup_root_inside_the_v2_mount_keeps_the_mount(tmp_path):
    mi = host(tmp_path, v2_controllers="cpu", v1_cpu=False)
    be = select_backend("v2", policy(), cgroup_root=f"{tmp_path}/unified/wlm", mountinfo=mi)
    assert be.root == f"{tmp_path}/unified/wlm" and be.mount == f"{tmp_path}/unified"


def test_cli_cgroup_root_with_v1(tmp_path):
    mi = host(tmp_path, v2_controllers="", v1_cpu=True)
    be = select_backend("v1", policy(), cgroup_root=f"{tmp_path}/cpu/wlm", mountinfo=mi)
    assert (be.cpu_root, be.unified_root) == (f"{tmp_path}/cpu/wlm", f"{tmp_path}/unified/wlm")
    with pytest.raises(BackendError, match="is not inside"):
        select_backend("v1", policy(), cgroup_root=str(tmp_path / "elsewhere"), mountinfo=mi)


def test_unreadable_mountinfo(tmp_path):
    with pytest.raises(BackendError, match=r"cannot read .*absent: no such file.*--backend sim"):
        select_backend("auto", policy(), mountinfo=str(tmp_path / "absent"))


def test_unknown_kind():
    with pytest.raises(BackendError, match="unknown backend 'v3'"):
        select_backend("v3", policy())


def test_sim_is_built_from_the_policy():
    pol = policy(backend="sim", sim_cpus=3.0)
    be = select_backend(None, pol, mountinfo="/nonexistent")
    assert be.kind == "sim" and be.policy is pol and be.cpus == 3.0
