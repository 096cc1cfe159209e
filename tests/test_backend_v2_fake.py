"""CgroupV2Backend on a fake cgroupfs tree."""

from __future__ import annotations

import errno
import os

import pytest

from fake_cgroupfs import FakeCgroupFs, pressure_text
from wlmtui.backends import cgroupfs
from wlmtui.backends.base import ActuatorError, BackendError
from wlmtui.backends.cgroupfs import CgroupV2Backend, parse_cpu_stat, parse_pressure
from wlmtui.observation import CgroupCounters

CLASSES = {"batch": "wlm/batch", "web": "wlm/web"}


@pytest.fixture
def fake(tmp_path):
    return FakeCgroupFs(tmp_path / "cg")


@pytest.fixture
def backend(fake):
    be = CgroupV2Backend(str(fake.root), proc_pressure=str(fake.proc_pressure))
    yield be
    be.close()


@pytest.fixture
def attached(fake, backend):
    for rel in CLASSES.values():
        fake.add(rel)
    assert backend.attach(CLASSES) == []
    return backend


def fds_under(path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path) + "/"):
            found.append(target)
    return found


def failing_open(monkeypatch, suffix: str, err: int):
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if str(path).endswith(suffix):
            raise OSError(err, os.strerror(err), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(cgroupfs.os, "open", fake_open)


# ---------------------------------------------------------------- attach / create

def test_create_makes_cgroups_and_enables_cpu_in_each_ancestor(fake, backend):
    fake.add("wlm")  # on cgroupfs mkdir makes the control files; the fake needs a hand
    warnings = backend.attach(CLASSES)
    assert (fake.root / "wlm/batch").is_dir() and (fake.root / "wlm/web").is_dir()
    assert fake.read("", "cgroup.subtree_control") == "+cpu"
    assert fake.read("wlm", "cgroup.subtree_control") == "+cpu"
    # The class cgroups are leaves: nothing is delegated below them.
    assert not (fake.root / "wlm/batch/cgroup.subtree_control").exists()
    # A fake tree cannot grow cpu.weight by itself; the backend says so.
    assert len(warnings) == 2 and all("no cpu.weight" in w for w in warnings)


def test_create_leaves_an_enabled_controller_alone(fake, backend):
    fake.write("", "cgroup.subtree_control", "cpu io memory\n")
    backend.attach({"batch": "batch"})
    assert fake.read("", "cgroup.subtree_control") == "cpu io memory\n"


def test_root_below_the_mount_enables_cpu_from_the_mount_down(fake):
    fake.add("wlm")
    be = CgroupV2Backend(str(fake.root / "wlm"), mount=str(fake.root), proc_pressure=str(fake.proc_pressure))
    be.attach({"batch": "batch"})
    assert (fake.root / "wlm/batch").is_dir()
    assert fake.read("", "cgroup.subtree_control") == "+cpu"
    assert fake.read("wlm", "cgroup.subtree_control") == "+cpu"
    assert be.label == f"cgroup v2 ({fake.root / 'wlm'})" and be.kind == "v2"


def test_subtree_control_failure_is_one_clear_error(fake, backend, monkeypatch):
    failing_open(monkeypatch, "cgroup.subtree_control", errno.EBUSY)
    with pytest.raises(BackendError, match=r"batch: cannot enable the cpu controller in .*/cg/cgroup.subtree_control: busy"):
        backend.attach({"batch": "batch"})


def test_creating_below_a_directory_that_is_no_cgroup(fake, backend):
    (fake.root / "plain").mkdir()
    with pytest.raises(BackendError, match=r"^batch: .*/plain is not a cgroup v2 directory"):
        backend.attach({"batch": "plain/batch"})


def test_permission_denied_while_creating(fake, backend, monkeypatch):
    def denied(path, mode=0o777):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(cgroupfs.os, "mkdir", denied)
    with pytest.raises(BackendError) as info:
        backend.attach({"batch": "wlm/batch"})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("batch: cannot create cgroup ")
    assert "permission denied" in message and "root" in message
    assert "--dry-run" in message and "--no-create" in message


def test_no_create_warns_and_creates_nothing(fake, backend):
    fake.add("wlm/web")
    warnings = backend.attach(CLASSES, create=False)
    assert len(warnings) == 1 and warnings[0].startswith("batch: cgroup ")
    assert "--no-create" in warnings[0]
    assert not (fake.root / "wlm/batch").exists()
    assert fake.read("", "cgroup.subtree_control") == ""
    sample = backend.sample(1.0)
    assert sample.classes["batch"] is None and sample.classes["web"] is not None


def test_missing_class_appears_later(fake, backend):
    backend.attach({"batch": "batch"}, create=False)
    assert backend.sample(1.0).classes["batch"] is None
    fake.add("batch")
    fake.bump("batch", usage=7)
    assert backend.sample(2.0).classes["batch"] == CgroupCounters(usage_us=7)


def test_symlink_escaping_the_root_is_refused(fake, backend, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (fake.root / "wlm").symlink_to(outside)
    with pytest.raises(BackendError, match=r"^cgroup paths leave the cgroup root \(symlink\?\): batch \(.*/wlm/batch resolves to .*/elsewhere/batch\)") as info:
        backend.attach(CLASSES)
    assert "web (" in str(info.value)
    assert list(outside.iterdir()) == []  # nothing created or written outside


def test_symlink_inside_the_root_is_fine(fake, backend):
    fake.add("real/batch")
    (fake.root / "alias").symlink_to(fake.root / "real")
    assert backend.attach({"batch": "alias/batch"}, create=False) == []


def test_dotdot_is_refused(backend):
    with pytest.raises(BackendError, match="batch: cgroup path '../x'"):
        backend.attach({"batch": "../x"})


def test_failed_reattach_keeps_the_previous_classes(fake, attached):
    with pytest.raises(BackendError):
        attached.attach({"batch": "../x"})
    fake.bump("wlm/batch", usage=5)
    assert attached.sample(1.0).classes["batch"].usage_us == 5


# ---------------------------------------------------------------- weights

def test_weights_are_written_and_read_as_is(fake, attached):
    attached.set_weight("batch", 250)
    attached.set_weight("web", 10000)
    assert fake.read("wlm/batch", "cpu.weight") == "250\n"
    assert attached.read_weight("batch") == 250
    assert attached.read_weight("web") == 10000
    assert attached.read_weight("nobody") is None


def test_weight_out_of_range_or_unknown_class(attached):
    with pytest.raises(ActuatorError, match="batch: weight 0 is outside 1–10000"):
        attached.set_weight("batch", 0)
    with pytest.raises(ActuatorError, match="nobody: no cgroup attached"):
        attached.set_weight("nobody", 100)


def test_read_only_weight_file(fake, attached, monkeypatch):
    weight = fake.root / "wlm/batch/cpu.weight"
    weight.chmod(0o444)
    if os.geteuid() == 0:  # root writes through file modes: make the kernel's answer explicit
        failing_open(monkeypatch, "batch/cpu.weight", errno.EACCES)
    with pytest.raises(ActuatorError) as info:
        attached.set_weight("batch", 300)
    assert str(info.value) == (f"batch: cannot write {weight}: permission denied (run as root, or use --dry-run)")
    attached.set_weight("web", 300)  # the others carry on
    assert fake.read("wlm/web", "cpu.weight") == "300\n"


def test_missing_weight_file_is_not_reported_as_gone(fake, backend):
    fake.add("batch")
    os.unlink(fake.root / "batch/cpu.weight")
    [warning] = backend.attach({"batch": "batch"}, create=False)
    assert warning.startswith("batch: no cpu.weight in ")
    with pytest.raises(ActuatorError, match="batch: .*/batch/cpu.weight does not exist"):
        backend.set_weight("batch", 5)


# ---------------------------------------------------------------- sampling

def test_sample_reads_counters_and_system_pressure(fake, attached):
    fake.bump("wlm/batch", usage=1500, cpu=300, cpu_full=100, memory=20, io=7)
    fake.set_system("cpu", some=999, full=11)
    sample = attached.sample(42.0)
    assert sample.t == 42.0
    assert sample.classes["batch"] == CgroupCounters(usage_us=1500, cpu_some_us=300, cpu_full_us=100,
                                                     mem_some_us=20, mem_full_us=0, io_some_us=7, io_full_us=0)
    assert sample.classes["web"] == CgroupCounters(usage_us=0)
    assert set(sample.system) == {"cpu", "memory", "io"}
    assert sample.system["cpu"].some_total_us == 999 and sample.system["cpu"].full_total_us == 11
    assert sample.errors == ()


def test_counters_are_read_through_kept_open_descriptors(fake, attached, monkeypatch):
    attached.sample(1.0)
    assert len(fds_under(fake.root)) == 8  # 2 classes × cpu.stat + 3 pressure files
    failing_open(monkeypatch, "", errno.EMFILE)  # any further open() would fail
    fake.bump("wlm/batch", usage=10)
    fake.bump("wlm/batch", usage=5, io=3)
    sample = attached.sample(2.0)
    assert sample.classes["batch"] == CgroupCounters(usage_us=15, io_some_us=3)
    assert sample.errors == ()


def test_close_and_reattach_release_descriptors(fake, attached):
    attached.sample(1.0)
    attached.attach({"web": "wlm/web"})
    assert len(fds_under(fake.root)) == 0  # reopened lazily at the next sample
    attached.sample(2.0)
    assert len(fds_under(fake.root)) == 4 and len(fds_under(fake.proc_pressure)) == 3
    attached.close()
    assert fds_under(fake.root) == [] and fds_under(fake.proc_pressure) == []


def test_vanishing_cgroup_reads_as_missing_and_others_carry_on(fake, attached):
    fake.bump("wlm/batch", usage=100)
    assert attached.sample(1.0).classes["batch"].usage_us == 100
    fake.remove("wlm/batch")
    fake.bump("wlm/web", usage=3)
    sample = attached.sample(2.0)
    assert sample.classes["batch"] is None
    assert sample.classes["web"].usage_us == 3
    assert sample.errors == ()
    with pytest.raises(ActuatorError) as info:
        attached.set_weight("batch", 200)
    assert str(info.value) == f"batch: cgroup {fake.root / 'wlm/batch'} is gone"
    assert attached.read_weight("batch") is None


def test_recreated_cgroup_is_reopened(fake, attached):
    fake.bump("wlm/batch", usage=100)
    attached.sample(1.0)
    fake.remove("wlm/batch")
    fake.add("wlm/batch")  # recreated before the next sample: old fds are stale
    fake.bump("wlm/batch", usage=4)
    assert attached.sample(2.0).classes["batch"] is None
    assert attached.sample(3.0).classes["batch"] == CgroupCounters(usage_us=4)


def test_malformed_lines_are_counted_and_skipped(fake, attached):
    fake.bump("wlm/batch", usage=50, cpu=9)
    fake.write("wlm/batch", "cpu.pressure",
               "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\nfull avg10=zz avg60=0 avg300=0 total=1\n")
    fake.write("wlm/web", "cpu.stat", "usage_usec 77\nuser_usec\n")
    fake.write("wlm/web", "io.pressure", "garbage\n")
    sample = attached.sample(1.0)
    assert sample.classes["batch"] == CgroupCounters(usage_us=50, cpu_some_us=9)
    assert sample.classes["web"] == CgroupCounters(usage_us=77)
    assert attached.malformed == 3
    assert len(sample.errors) == 3
    assert any(e.startswith("batch cpu.pressure: skipped 1 malformed") for e in sample.errors)
    assert any(e.startswith("web cpu.stat: skipped 1 malformed") for e in sample.errors)


def test_cpu_stat_without_usage_makes_the_class_missing(fake, attached):
    fake.write("wlm/batch", "cpu.stat", "user_usec 5\n")
    sample = attached.sample(1.0)
    assert sample.classes["batch"] is None and sample.classes["web"] is not None
    assert attached.malformed == 1
    assert any("has no usage_usec" in e for e in sample.errors)


def test_missing_class_pressure_files_count_as_zero_reported_once(fake, attached):
    os.unlink(fake.root / "wlm/batch/memory.pressure")
    first = attached.sample(1.0)
    assert first.classes["batch"] == CgroupCounters(usage_us=0)
    assert len(first.errors) == 1 and "memory.pressure unreadable" in first.errors[0]
    assert attached.sample(2.0).errors == ()


def test_system_pressure_absent_is_omitted_and_reported_once(fake, attached):
    for res in ("cpu", "memory", "io"):
        os.unlink(fake.proc_pressure / res)
    first = attached.sample(1.0)
    assert first.system == {}
    assert len(first.errors) == 1 and "system pressure unavailable" in first.errors[0]
    second = attached.sample(2.0)
    assert second.system == {} and second.errors == ()
    assert first.classes["batch"] is not None


def test_malformed_system_pressure(fake, attached):
    (fake.proc_pressure / "io").write_text("some avg10=1 avg60=2 total=5\n")
    sample = attached.sample(1.0)
    assert "io" not in sample.system and "cpu" in sample.system
    assert attached.malformed == 1


# ---------------------------------------------------------------- parsers

def test_parse_pressure_with_and_without_full_line():
    line, bad = parse_pressure(pressure_text(some=12, full=3, avg10=1.5))
    assert bad == [] and line.some_total_us == 12 and line.full_total_us == 3
    assert line.some_avg == (1.5, 0.0, 0.0) and line.full_avg == (0.0, 0.0, 0.0)
    line, bad = parse_pressure("some avg10=0.10 avg60=0.20 avg300=0.30 total=40\n")
    assert line.full_total_us is None and line.full_avg is None and line.some_avg == (0.1, 0.2, 0.3)
    assert parse_pressure("") == (None, [])


def test_parse_cpu_stat():
    assert parse_cpu_stat("usage_usec 10\nuser_usec 4\n\n") == (10, [])
    assert parse_cpu_stat("usage_usec -1\nnice_usec x\n") == (None, ["usage_usec -1", "nice_usec x"])
