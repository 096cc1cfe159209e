"""CgroupV2Backend on a fake cgroupfs tree."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_cgroupfs import FakeCgroupFs, cpu_stat_text, pressure_text
from wlmtui.backends import cgroupfs
from wlmtui.backends.base import ActuatorError, BackendError
from wlmtui.backends.cgroupfs import (
    CgroupV2Backend,
    cpu_stat_usage,
    parse_cpu_stat,
    parse_pressure,
    pressure_line,
    pressure_totals,
)
from wlmtui.observation import CgroupCounters, PressureLine

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
    # the malformed "full" line is skipped: no cpu "full" figure for batch this time
    assert sample.classes["batch"] == CgroupCounters(usage_us=50, cpu_some_us=9, cpu_full_us=None)
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


# ---------------------------------------------------------------- fast paths

KERNEL_PSI = (b"some avg10=45.98 avg60=27.39 avg300=32.34 total=1701785693\n"
              b"full avg10=0.00 avg60=0.10 avg300=2.00 total=7\n")
KERNEL_STAT = (b"usage_usec 5662743670\nuser_usec 5157994279\nsystem_usec 504749390\nnice_usec 0\n"
               b"core_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")


def test_fast_paths_read_the_kernel_layout():
    assert pressure_totals(KERNEL_PSI) == (1701785693, 7)
    assert pressure_line(KERNEL_PSI) == PressureLine(1701785693, 7, (45.98, 27.39, 32.34), (0.0, 0.1, 2.0))
    some_only = KERNEL_PSI.split(b"full")[0]
    assert pressure_totals(some_only) == (1701785693, None)
    assert pressure_line(some_only) == parse_pressure(some_only.decode())[0]
    assert cpu_stat_usage(KERNEL_STAT) == 5662743670
    assert cpu_stat_usage(cpu_stat_text(12).encode()) == 12


@pytest.mark.parametrize("data", [
    b"",
    b"some avg10=0.00 avg60=0.00 avg300=0.00 total=9\nfull avg10=zz avg60=0 avg300=0 total=1\n",
    b"some avg10=0.00 avg60=0.00 avg300=0.00 total=9",            # no newline
    b"some  avg10=0.00 avg60=0.00 avg300=0.00 total=9\n",         # two spaces
    b"some avg10=0.00 avg60=0.00 avg300=0.00 total=9 \n",         # trailing space
    b"full avg10=0.00 avg60=0.00 avg300=0.00 total=9\n",          # no some line
    b"some total=9 avg10=0.00 avg60=0.00 avg300=0.00\n",          # other order
    b"some avg10=0.00 avg60=0.00 avg300=0.00 total=-9\n",
    KERNEL_PSI + KERNEL_PSI,                                       # a second some line
    KERNEL_PSI + b"\n",
])
def test_pressure_fast_path_refuses_other_layouts(data):
    with pytest.raises(ValueError):
        pressure_totals(data)
    with pytest.raises(ValueError):
        pressure_line(data)


@pytest.mark.parametrize("data", [
    b"",
    b"usage_usec 77\nuser_usec\n",
    b"user_usec 4\nusage_usec 10\n",          # usage not first
    b"usage_usec 10\nusage_usec 11\n",         # the line parser takes the last
    b"usage_usec  10\n",
    b"usage_usec\t10\n",
    b"usage_usec 10\n\nuser_usec 4\n",
    b"usage_usec 10\nuser_usec 4",
    b"usage_usec 10\nuser\x1cusec 4\n",        # a separator to str.split
    b"usage_usec 10\nuser\xffusec 4\n",
])
def test_cpu_stat_fast_path_refuses_other_layouts(data):
    with pytest.raises(ValueError):
        cpu_stat_usage(data)


_PIECES = [b"some", b"full", b"usage_usec", b"user_usec", b"x.y", b" ", b"  ", b"\t", b"\n", b"\r", b"\x0b",
           b"\x1c", b"\x85", b"\xff", b"avg10=", b"avg60=", b"avg300=", b"total=", b"=", b"0", b"42", b"0.10",
           b"12.5", b".", b"-", b"zz"]


def _psi_file(nums, full, junk):
    a, b, c, t, d, e, f, u = nums
    text = f"some avg10={a}.{b:02d} avg60={c}.00 avg300=0.{b:02d} total={t}\n"
    if full:
        text += f"full avg10={d}.{e:02d} avg60={f}.00 avg300=0.00 total={u}\n"
    data = text.encode()
    if junk is not None:  # one byte changed somewhere
        i, byte = junk
        i %= len(data)
        data = data[:i] + bytes([byte]) + data[i + 1:]
    return data


_psi_files = st.builds(_psi_file, st.lists(st.integers(0, 10**12), min_size=8, max_size=8), st.booleans(),
                       st.none() | st.tuples(st.integers(0, 200), st.integers(0, 255)))
_stat_files = st.builds(lambda vals, names: "".join(f"{n} {v}\n" for n, v in zip(["usage_usec", *names], vals)).encode(),
                        st.lists(st.integers(0, 10**15), min_size=1, max_size=6),
                        st.lists(st.sampled_from(["user_usec", "nice_usec", "usage_usec", "a.b", "x y", ""]), max_size=5))
_soup = st.lists(st.sampled_from(_PIECES), max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_psi_files, _soup, st.binary(max_size=120)))
def test_pressure_fast_path_agrees_with_the_line_parser(data):
    line, bad = parse_pressure(data.decode("ascii", "replace"))
    try:
        totals = pressure_totals(data)
    except ValueError:
        with pytest.raises(ValueError):
            pressure_line(data)
        return
    assert bad == [] and line is not None
    assert totals == (line.some_total_us, line.full_total_us)
    assert pressure_line(data) == line


@settings(max_examples=400, deadline=None)
@given(st.one_of(_stat_files, _soup, st.binary(max_size=120)))
def test_cpu_stat_fast_path_agrees_with_the_line_parser(data):
    usage, bad = parse_cpu_stat(data.decode("ascii", "replace"))
    try:
        fast = cpu_stat_usage(data)
    except ValueError:
        return
    assert bad == [] and fast == usage


def test_kernel_layout_is_read_without_the_line_parsers(fake, attached, monkeypatch):
    def refuse(text):
        raise AssertionError("line parser used on the kernel's layout")

    monkeypatch.setattr(cgroupfs, "parse_pressure", refuse)
    monkeypatch.setattr(cgroupfs, "parse_cpu_stat", refuse)
    fake.bump("wlm/batch", usage=1500, cpu=300, cpu_full=100, memory=20, io=7)
    (fake.proc_pressure / "cpu").write_text("some avg10=1.50 avg60=2.25 avg300=3.00 total=999\n"
                                            "full avg10=0.50 avg60=0.00 avg300=0.00 total=11\n")
    (fake.proc_pressure / "io").write_text("some avg10=0.10 avg60=0.20 avg300=0.30 total=40\n")
    sample = attached.sample(1.0)
    assert sample.classes["batch"] == CgroupCounters(1500, 300, 100, 20, 0, 7, 0)
    assert sample.system["cpu"] == PressureLine(999, 11, (1.5, 2.25, 3.0), (0.5, 0.0, 0.0))
    assert sample.system["io"] == PressureLine(40, None, (0.1, 0.2, 0.3), None)
    assert sample.errors == ()


def test_other_well_formed_layouts_fall_back_to_the_line_parsers(fake, attached):
    fake.write("wlm/batch", "cpu.stat", "user_usec 4\nusage_usec  10\n")
    fake.write("wlm/batch", "cpu.pressure", "some total=9 avg60=0.00 avg10=0.00 avg300=0.00\n")
    fake.write("wlm/batch", "io.pressure", "some avg10=0 avg60=0 avg300=0 total=3\r\nfull avg10=0 avg60=0 avg300=0 total=1\n")
    (fake.proc_pressure / "memory").write_text("some avg10=1 avg60=2 avg300=3 total=5\n")
    sample = attached.sample(1.0)
    assert sample.classes["batch"] == CgroupCounters(usage_us=10, cpu_some_us=9, cpu_full_us=None,
                                                     io_some_us=3, io_full_us=1)
    assert sample.system["memory"] == PressureLine(5, None, (1.0, 2.0, 3.0), None)
    assert sample.errors == () and attached.malformed == 0


def test_unlink_check_only_when_usage_did_not_move(fake, attached, monkeypatch):
    attached.sample(1.0)  # opens the descriptors
    real_fstat, calls = os.fstat, []
    monkeypatch.setattr(cgroupfs.os, "fstat", lambda fd: calls.append(fd) or real_fstat(fd))
    fake.bump("wlm/batch", usage=5)
    fake.bump("wlm/web", usage=5)
    attached.sample(2.0)
    assert calls == []
    fake.bump("wlm/batch", usage=5)
    attached.sample(3.0)
    assert len(calls) == 1  # web only: its usage_usec stood still
    fake.remove("wlm/web")
    assert attached.sample(4.0).classes["web"] is None


def test_vanished_idle_cgroup_reads_as_missing_until_recreated(fake, attached):
    fake.bump("wlm/batch", usage=100)
    attached.sample(1.0)
    attached.sample(2.0)  # idle: the same usage_usec
    fake.remove("wlm/batch")
    assert attached.sample(3.0).classes["batch"] is None
    assert attached.sample(4.0).classes["batch"] is None
    fake.add("wlm/batch")
    assert attached.sample(5.0).classes["batch"] == CgroupCounters(usage_us=0)
    assert attached.sample(6.0).classes["batch"] == CgroupCounters(usage_us=0)  # idle again, and kept


def _kernel_counter_files() -> list[str]:
    files = [f"/proc/pressure/{res}" for res in ("cpu", "memory", "io")]
    try:
        with open("/proc/self/mounts", encoding="ascii", errors="replace") as fh:
            mounts = [line.split()[1] for line in fh if line.split()[2:3] == ["cgroup2"]]
    except OSError:
        mounts = []
    for mount in mounts:
        files += [os.path.join(mount, name) for name in ("cpu.stat", "cpu.pressure", "memory.pressure", "io.pressure")]
    return [f for f in files if os.access(f, os.R_OK)]


def test_this_kernels_counter_files_take_the_fast_path():
    files = _kernel_counter_files()
    if not files:
        pytest.skip("no PSI or cgroup2 counter files readable here")
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read(cgroupfs.READ_SIZE)
        if path.endswith("cpu.stat"):
            assert cpu_stat_usage(data) == parse_cpu_stat(data.decode())[0], path
        else:
            assert pressure_line(data) == parse_pressure(data.decode())[0], path


def test_unchanged_counter_bytes_return_the_same_counters_and_changes_are_parsed(tmp_path):
    """With all four files kept open, a sample whose bytes did not change
    returns the previous CgroupCounters object; a change is parsed (same
    values as a fresh backend reads); an unlinked file (not cgroupfs) still
    reads as removed."""
    from fake_cgroupfs import FakeCgroupFs

    from wlmtui.backends.cgroupfs import CgroupV2Backend

    fs = FakeCgroupFs(tmp_path / "cg")
    fs.add("a")
    b = CgroupV2Backend(str(fs.root), proc_pressure=str(fs.proc_pressure))
    assert not b.on_cgroupfs
    b.attach({"a": "a"}, create=False)
    first = b.sample(0.0).classes["a"]
    second = b.sample(1.0).classes["a"]
    assert second is not None and second == first
    third = b.sample(2.0).classes["a"]
    assert third is second  # unchanged bytes: not parsed again
    stat = fs.path("a") / "cpu.stat"
    stat.write_text(stat.read_text().replace(f"usage_usec {first.usage_us}", f"usage_usec {first.usage_us + 500}"))
    moved = b.sample(3.0).classes["a"]
    assert moved.usage_us == first.usage_us + 500
    fresh = CgroupV2Backend(str(fs.root), proc_pressure=str(fs.proc_pressure))
    fresh.attach({"a": "a"}, create=False)
    assert fresh.sample(3.0).classes["a"] == moved
    fresh.close()
    for f in ("cpu.stat", "cpu.pressure", "memory.pressure", "io.pressure"):
        (fs.path("a") / f).unlink()
    assert b.sample(4.0).classes["a"] is None
    b.close()
