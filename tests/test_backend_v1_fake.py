"""CgroupV1HybridBackend on fake trees: v1 cpu.shares + v2 counters."""

from __future__ import annotations

import pytest

from fake_cgroupfs import FakeCgroupFs
from wlmtui.backends.base import ActuatorError, BackendError
from wlmtui.backends.cgroupfs import CgroupV1HybridBackend, shares_to_weight, weight_to_shares
from wlmtui.observation import CgroupCounters


@pytest.fixture
def trees(tmp_path):
    return FakeCgroupFs(tmp_path / "cpu", flavour="v1"), FakeCgroupFs(tmp_path / "unified", controllers="")


@pytest.fixture
def backend(trees):
    cpu, unified = trees
    be = CgroupV1HybridBackend(str(cpu.root), str(unified.root), proc_pressure=str(unified.proc_pressure))
    yield be
    be.close()


# ---------------------------------------------------------------- mapping

@pytest.mark.parametrize(("weight", "shares"), [
    (100, 1024),      # the defaults correspond
    (1, 10),          # 10.24 rounds down
    (10, 102),        # 102.4
    (98, 1004),       # 1003.52 rounds up
    (977, 10004),
    (10000, 102400),
])
def test_weight_to_shares(weight, shares):
    assert weight_to_shares(weight) == shares


def test_weight_to_shares_clamps():
    assert weight_to_shares(0) == 2
    assert weight_to_shares(-5) == 2
    assert weight_to_shares(3_000_000) == 262144


@pytest.mark.parametrize(("shares", "weight"), [
    (1024, 100),
    (1000, 98),       # 97.66
    (100, 10),        # 9.77
    (128, 13),        # exactly 12.5: rounds half up, not to even
    (2, 1),           # 0.2 clamps up to 1
    (262144, 10000),  # 25600 clamps down to 10000
    (102400, 10000),
])
def test_shares_to_weight(shares, weight):
    assert shares_to_weight(shares) == weight


def test_every_weight_survives_the_round_trip():
    assert all(shares_to_weight(weight_to_shares(w)) == w for w in range(1, 10001))


# ---------------------------------------------------------------- backend

def test_create_makes_both_hierarchies_and_touches_no_subtree_control(trees, backend):
    cpu, unified = trees
    backend.attach({"batch": "wlm/batch"})
    assert (cpu.root / "wlm/batch").is_dir() and (unified.root / "wlm/batch").is_dir()
    assert unified.read("", "cgroup.subtree_control") == ""
    assert backend.kind == "v1"
    assert backend.label == f"hybrid: v1 cpu.shares + v2 PSI ({cpu.root}, {unified.root})"


def test_weights_go_to_cpu_shares_and_counters_come_from_unified(trees, backend):
    cpu, unified = trees
    cpu.add("wlm/batch")
    unified.add("wlm/batch")
    assert backend.attach({"batch": "wlm/batch"}) == []
    backend.set_weight("batch", 98)
    assert cpu.read("wlm/batch", "cpu.shares") == "1004\n"
    assert backend.read_weight("batch") == 98
    assert not (unified.root / "wlm/batch/cpu.weight").exists()
    unified.bump("wlm/batch", usage=900, cpu=40, memory=2)
    sample = backend.sample(1.0)
    assert sample.classes["batch"] == CgroupCounters(usage_us=900, cpu_some_us=40, mem_some_us=2)


def test_read_weight_maps_foreign_shares(trees, backend):
    cpu, unified = trees
    cpu.add("b")
    unified.add("b")
    backend.attach({"b": "b"})
    cpu.write("b", "cpu.shares", "2\n")
    assert backend.read_weight("b") == 1
    cpu.write("b", "cpu.shares", "262144\n")
    assert backend.read_weight("b") == 10000
    cpu.write("b", "cpu.shares", "lots\n")
    assert backend.read_weight("b") is None and backend.malformed == 1


def test_v1_cgroup_gone_while_unified_remains(trees, backend):
    cpu, unified = trees
    cpu.add("b")
    unified.add("b")
    backend.attach({"b": "b"})
    cpu.remove("b")
    assert backend.sample(1.0).classes["b"] is not None  # counters still there
    with pytest.raises(ActuatorError, match=f"^b: cgroup {cpu.root}/b is gone$"):
        backend.set_weight("b", 50)


def test_no_create_names_each_missing_hierarchy(trees, backend):
    cpu, unified = trees
    unified.add("b")
    [warning] = backend.attach({"b": "b"}, create=False)
    assert warning.startswith(f"b: cgroup {cpu.root}/b does not exist (not created: --no-create or --dry-run)")
    assert not (cpu.root / "b").exists()


def test_escape_in_either_hierarchy_is_refused(trees, backend, tmp_path):
    cpu, unified = trees
    (tmp_path / "outside").mkdir()
    (unified.root / "wlm").symlink_to(tmp_path / "outside")
    cpu.add("wlm")
    with pytest.raises(BackendError, match=r"batch \(.*unified/wlm/batch resolves to .*outside/batch\)"):
        backend.attach({"batch": "wlm/batch"})
    assert not (cpu.root / "wlm/batch").exists()


def test_unified_cgroup_gone_reads_as_missing_and_is_reopened(trees, backend):
    cpu, unified = trees
    cpu.add("b")
    unified.add("b")
    backend.attach({"b": "b"})
    unified.bump("b", usage=40, io=2)
    assert backend.sample(1.0).classes["b"] == CgroupCounters(usage_us=40, io_some_us=2)
    assert backend.sample(2.0).classes["b"] == CgroupCounters(usage_us=40, io_some_us=2)  # idle
    unified.remove("b")
    gone = backend.sample(3.0)
    assert gone.classes["b"] is None and gone.errors == ()
    unified.add("b")
    unified.bump("b", usage=3)
    assert backend.sample(4.0).classes["b"] == CgroupCounters(usage_us=3)
