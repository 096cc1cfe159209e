"""Real cgroup backends: pure cgroup v2, and hybrid hosts (v1 ``cpu.shares``
for the weights, v2 PSI and ``cpu.stat`` for the counters).

Counter files stay open and are read with ``os.pread(fd, 4096, 0)`` — about
2 µs a read instead of about 14 µs for open+read. A cgroup that is removed
makes those reads fail (``ENODEV`` on cgroupfs; an unlinked file elsewhere,
as in test trees): its descriptors are dropped, the class reads as missing
(``None``) for that sample, and the next sample tries to open it again, so a
recreated cgroup is picked up by itself.

Per class and tick the counters are parsed from the bytes read, without
decoding: one regular-expression match per file that accepts only the
kernel's own layout and yields just the integers the class needs
(:func:`cpu_stat_usage`, :func:`pressure_totals`). Anything else — a
malformed or unusual line — falls back to the line-by-line parsers
(:func:`parse_cpu_stat`, :func:`parse_pressure`), which skip and count bad
lines; on the input the fast path accepts, both give the same numbers.

Class cgroups are confined below the backend's root after resolving
symlinks; nothing outside the attached cgroups is ever written.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from wlmtui.backends.base import ActuatorError, Backend, BackendError
from wlmtui.observation import RESOURCES, CgroupCounters, PressureLine, RawSample

WEIGHT_MIN, WEIGHT_MAX = 1, 10000
SHARES_MIN, SHARES_MAX = 2, 262144
PROC_PRESSURE = "/proc/pressure"
READ_SIZE = 4096

_GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.EBADF})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_ROOT_HINT = "run as root, or use --dry-run or --no-create"
_PRESSURE = tuple((res, f"{res}.pressure") for res in RESOURCES)
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC


# ---------------------------------------------------------------- parsing

def parse_cpu_stat(text: str) -> tuple[int | None, list[str]]:
    """``usage_usec`` from a ``cpu.stat`` file, and the malformed lines."""
    usage, bad = None, []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit():
            bad.append(line)
        elif fields[0] == "usage_usec":
            usage = int(fields[1])
    return usage, bad


def _pressure_fields(fields: list[str]) -> tuple[tuple[float, float, float], int]:
    values = dict(f.split("=", 1) for f in fields if "=" in f)
    avg = (float(values["avg10"]), float(values["avg60"]), float(values["avg300"]))
    total = values["total"]
    if not total.isdigit():
        raise ValueError(total)
    return avg, int(total)


def parse_pressure(text: str) -> tuple[PressureLine | None, list[str]]:
    """A ``*.pressure`` file as a :class:`PressureLine` (``None`` without a
    ``some`` line), and the malformed lines."""
    some = full = None
    bad = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            if fields[0] not in ("some", "full"):
                raise ValueError(fields[0])
            parsed = _pressure_fields(fields[1:])
        except (KeyError, ValueError):
            bad.append(line)
            continue
        if fields[0] == "some":
            some = parsed
        else:
            full = parsed
    if some is None:
        return None, bad
    return PressureLine(
        some_total_us=some[1],
        full_total_us=None if full is None else full[1],
        some_avg=some[0],
        full_avg=None if full is None else full[0],
    ), bad


# Fast paths: the kernel's exact layout, matched in one go from bytes.
# Possessive quantifiers: nothing here ever needs to backtrack. The name
# class [!-~] (printable ASCII but space) keeps out every byte that str.split
# or str.splitlines would treat as a separator, so a match is always input
# the line parsers read the same way, with no malformed line.
_STAT_FAST = re.compile(rb"usage_usec ([0-9]++)\n(?:(?!usage_usec )[!-~]++ [0-9]++\n)*+")
_DECIMAL = rb"[0-9]++\.[0-9]++"


def _psi_pattern(avg: bytes) -> re.Pattern[bytes]:
    line = rb" avg10=%s avg60=%s avg300=%s total=([0-9]++)\n" % (avg, avg, avg)
    return re.compile(rb"some" + line + rb"(?:full" + line + rb")?+")


_PSI_FAST = _psi_pattern(rb"(" + _DECIMAL + rb")")  # averages and totals
_PSI_TOTALS = _psi_pattern(_DECIMAL)  # totals only


def cpu_stat_usage(data: bytes) -> int:
    """``usage_usec`` from the bytes of a ``cpu.stat`` file laid out as the
    kernel writes it (``usage_usec`` first, one ``name value`` per line);
    ``ValueError`` for anything else — then use :func:`parse_cpu_stat`."""
    m = _STAT_FAST.fullmatch(data)
    if m is None:
        raise ValueError("cpu.stat not in the kernel's layout")
    return int(m[1])


def pressure_totals(data: bytes) -> tuple[int, int | None]:
    """The ``total=`` values of the ``some`` and ``full`` lines (``full``:
    ``None`` without one) from the bytes of a ``*.pressure`` file laid out as
    the kernel writes it; ``ValueError`` for anything else — then use
    :func:`parse_pressure`."""
    m = _PSI_TOTALS.fullmatch(data)
    if m is None:
        raise ValueError("pressure file not in the kernel's layout")
    some, full = m.groups()
    return int(some), None if full is None else int(full)


def pressure_line(data: bytes) -> PressureLine:
    """The whole :class:`PressureLine` (averages too) from the bytes of a
    ``*.pressure`` file laid out as the kernel writes it; ``ValueError`` for
    anything else — then use :func:`parse_pressure`."""
    m = _PSI_FAST.fullmatch(data)
    if m is None:
        raise ValueError("pressure file not in the kernel's layout")
    s10, s60, s300, some, f10, f60, f300, full = m.groups()
    if full is None:
        return PressureLine(int(some), None, (float(s10), float(s60), float(s300)), None)
    return PressureLine(int(some), int(full), (float(s10), float(s60), float(s300)),
                        (float(f10), float(f60), float(f300)))


def _fast_counters(raw: tuple[bytes, bytes, bytes, bytes]) -> CgroupCounters | None:
    """The counters from the four files' bytes in the kernel's layout (None:
    not that layout, or no cpu ``full`` line where the others have one —
    the full path handles those)."""
    try:
        usage = cpu_stat_usage(raw[0])
        cs, cf = pressure_totals(raw[1])
        ms, mf = pressure_totals(raw[2])
        is_, if_ = pressure_totals(raw[3])
    except ValueError:
        return None
    return CgroupCounters(usage, cs, cf, ms, 0 if mf is None else mf, is_, 0 if if_ is None else if_)


def errors_since(errors: list[str], name: str) -> bool:
    """Whether the messages include one about class ``name`` (its read was not clean)."""
    prefix = f"{name}:"
    return any(e.startswith(prefix) or e.startswith(f"{name} ") for e in errors)


def _on_cgroup2(path: str) -> bool:
    """Whether ``path`` lies in this host's cgroup2 mount (per mountinfo)."""
    from wlmtui.backends.mounts import find_cgroup_mounts

    try:
        v2 = find_cgroup_mounts().v2
    except (OSError, ValueError):
        return False
    real = os.path.realpath(path)
    return bool(v2) and (real == v2 or real.startswith(v2.rstrip("/") + "/"))


# ---------------------------------------------------------------- weights

def weight_to_shares(weight: int) -> int:
    """systemd's mapping: ``clamp(round(w·1024/100), 2, 262144)`` (half up)."""
    return max(SHARES_MIN, min(SHARES_MAX, (weight * 1024 + 50) // 100))


def shares_to_weight(shares: int) -> int:
    """The inverse: ``clamp(round(shares·100/1024), 1, 10000)`` (half up)."""
    return max(WEIGHT_MIN, min(WEIGHT_MAX, (shares * 100 + 512) // 1024))


# ---------------------------------------------------------------- files

def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)  # never O_CREAT: only existing files
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read(READ_SIZE)


def _inside(root: str, path: str) -> bool:
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _clean_relative(name: str, rel: str) -> str:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise BackendError(f"{name}: cgroup path {rel!r} must name a cgroup below the cgroup root")
    return "/".join(parts)


@dataclass(eq=False)
class _Cgroup:
    """One attached class: where its weight and counters live, open fds."""

    name: str
    weight_dir: str
    counter_dir: str
    fds: dict[str, int] = field(default_factory=dict)
    #: usage_usec of the last sample read through the kept cpu.stat fd
    last_usage: int | None = None
    #: the four kept descriptors (cpu.stat, cpu/memory/io.pressure) once all are open
    quad: tuple[int, int, int, int] | None = None
    #: the bytes they gave last, and the counters parsed from them
    raw: tuple[bytes, ...] = ()
    counters: CgroupCounters | None = None

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
        self.last_usage = None
        self.forget()

    def forget(self) -> None:
        self.quad, self.raw, self.counters = None, (), None


# ---------------------------------------------------------------- backends

class _CgroupFsBackend(Backend):
    """What the v2 and the hybrid backend share; they differ in where the
    weight lives, how it is encoded and how cgroups are created."""

    weight_file = ""

    def __init__(self, weight_root: str, counter_root: str, *, proc_pressure: str = PROC_PRESSURE,
                 counters_on_cgroupfs: bool | None = None) -> None:
        self.weight_root = os.path.abspath(weight_root)
        self.counter_root = os.path.abspath(counter_root)
        self.proc_pressure = proc_pressure
        #: on cgroupfs a removed cgroup's reads fail (ENODEV); elsewhere (test
        #: trees) an unlinked file still reads, and fstat must tell
        self.on_cgroupfs = _on_cgroup2(self.counter_root) if counters_on_cgroupfs is None else counters_on_cgroupfs
        #: malformed counter lines seen (and skipped) since start
        self.malformed = 0
        self._classes: dict[str, _Cgroup] = {}
        self._system_fds: dict[str, int] = {}
        self._reported: set[str] = set()

    # subclass hooks
    def _encode(self, weight: int) -> str:
        raise NotImplementedError

    def _decode(self, text: str) -> int:
        raise NotImplementedError

    def _create(self, cg: _Cgroup) -> None:
        raise NotImplementedError

    # -- attach
    def attach(self, cgroups: Mapping[str, str], *, create: bool = True) -> list[str]:
        new: dict[str, _Cgroup] = {}
        escapes = []
        for name, rel in cgroups.items():
            rel = _clean_relative(name, rel)
            cg = _Cgroup(name, os.path.join(self.weight_root, rel), os.path.join(self.counter_root, rel))
            for root, path in {(self.weight_root, cg.weight_dir), (self.counter_root, cg.counter_dir)}:
                if not _inside(root, path):
                    escapes.append(f"{name} ({path} resolves to {os.path.realpath(path)})")
            new[name] = cg
        if escapes:
            raise BackendError(f"cgroup paths leave the cgroup root (symlink?): {', '.join(sorted(escapes))}")
        warnings = []
        for cg in new.values():
            if create:
                self._create(cg)
            warnings.extend(self._check(cg, create))
        self._close_classes()
        self._classes = new
        return warnings

    def _check(self, cg: _Cgroup, create: bool) -> list[str]:
        missing = sorted({d for d in (cg.weight_dir, cg.counter_dir) if not os.path.isdir(d)})
        if missing:
            how = "(not created: --no-create or --dry-run)" if not create else "(could not be created)"
            return [f"{cg.name}: cgroup {' and '.join(missing)} does not exist {how}; "
                    "the class shows as missing until it appears"]
        if not os.path.exists(os.path.join(cg.weight_dir, self.weight_file)):
            return [f"{cg.name}: no {self.weight_file} in {cg.weight_dir} "
                    "(cpu controller not enabled for this cgroup?); weights cannot be set"]
        return []

    @staticmethod
    def _makedirs(name: str, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            where = exc.filename or path
            hint = f" ({_ROOT_HINT})" if exc.errno in _DENIED else ""
            raise BackendError(f"{name}: cannot create cgroup {where}: {_why(exc)}{hint}") from None

    # -- sampling
    def sample(self, now: float) -> RawSample:
        errors: list[str] = []
        classes = {name: self._read_class(cg, errors) for name, cg in self._classes.items()}
        system = self._read_system(errors)
        return RawSample(t=now, classes=classes, system=system, errors=tuple(errors))

    def _once(self, errors: list[str], key: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            errors.append(message)

    def _malformed(self, errors: list[str], where: str, bad: list[str]) -> None:
        if bad:
            self.malformed += len(bad)
            errors.append(f"{where}: skipped {len(bad)} malformed line(s), e.g. {bad[0][:60]!r}")

    def _read_class(self, cg: _Cgroup, errors: list[str]) -> CgroupCounters | None:
        quad = cg.quad
        if quad is not None:  # all four kept open: the bytes alone say whether anything moved
            try:
                raw = (os.pread(quad[0], READ_SIZE, 0), os.pread(quad[1], READ_SIZE, 0),
                       os.pread(quad[2], READ_SIZE, 0), os.pread(quad[3], READ_SIZE, 0))
            except OSError:
                cg.forget()  # the full path below finds out what happened
            else:
                if raw == cg.raw:
                    if self.on_cgroupfs or os.fstat(quad[0]).st_nlink:
                        return cg.counters  # the same object: nothing moved
                    cg.close()  # an unlinked file (not cgroupfs) still reads: removed
                    return None
                counters = _fast_counters(raw)
                if counters is not None:
                    cg.raw, cg.counters, cg.last_usage = raw, counters, counters.usage_us
                    return counters
                cg.forget()  # not the kernel's layout: the full path parses and reports it
        counters = self._read_class_full(cg, errors)
        if counters is not None and len(cg.fds) == 4 and not errors_since(errors, cg.name):
            fds = cg.fds
            cg.quad = (fds["cpu.stat"], fds["cpu.pressure"], fds["memory.pressure"], fds["io.pressure"])
            try:
                raw = tuple(os.pread(fd, READ_SIZE, 0) for fd in cg.quad)
            except OSError:
                cg.forget()
            else:
                if _fast_counters(raw) == counters:  # the next sample compares against these bytes
                    cg.raw, cg.counters = raw, counters
                else:
                    cg.forget()
        return counters

    def _read_class_full(self, cg: _Cgroup, errors: list[str]) -> CgroupCounters | None:
        fds = cg.fds
        try:
            fd = fds.get("cpu.stat")
            kept = fd is not None
            if not kept:
                fd = fds["cpu.stat"] = os.open(os.path.join(cg.counter_dir, "cpu.stat"), _OPEN_FLAGS)
            data = os.pread(fd, READ_SIZE, 0)
            try:
                usage, bad = cpu_stat_usage(data), None
            except ValueError:
                usage, bad = parse_cpu_stat(data.decode("ascii", "replace"))
            # An unlinked ordinary file still reads (cgroupfs answers ENODEV
            # instead); it never changes, so look only when the counter has not.
            if kept and (usage is None or usage == cg.last_usage) and os.fstat(fd).st_nlink == 0:
                raise OSError(errno.ENOENT, "cgroup removed")
        except OSError as exc:
            cg.close()
            if exc.errno not in _GONE:
                errors.append(f"{cg.name}: cannot read {cg.counter_dir}/cpu.stat: {_why(exc)}")
            return None
        if bad:
            self._malformed(errors, f"{cg.name} cpu.stat", bad)
        if usage is None:
            self.malformed += 1
            errors.append(f"{cg.name}: {cg.counter_dir}/cpu.stat has no usage_usec")
            return None
        cg.last_usage = usage
        counters = [usage]
        for res, fname in _PRESSURE:
            try:
                fd = fds.get(fname)
                if fd is None:
                    fd = fds[fname] = os.open(os.path.join(cg.counter_dir, fname), _OPEN_FLAGS)
                data = os.pread(fd, READ_SIZE, 0)
            except OSError as exc:
                fd = fds.pop(fname, None)
                if fd is not None:
                    os.close(fd)
                if exc.errno == errno.ENODEV or not os.path.isdir(cg.counter_dir):  # removed meanwhile
                    cg.close()
                    return None
                self._once(errors, f"{cg.counter_dir}/{fname}",
                           f"{cg.name}: {cg.counter_dir}/{fname} unreadable ({_why(exc)}); "
                           f"{res} pressure counts as 0 (PSI disabled?)")
                counters += (0, 0)
                continue
            try:
                some, full = pressure_totals(data)
            except ValueError:
                line, bad = parse_pressure(data.decode("ascii", "replace"))
                self._malformed(errors, f"{cg.name} {fname}", bad)
                some, full = (0, 0) if line is None else (line.some_total_us, line.full_total_us)
            # a kernel without the cgroup cpu "full" line: None, so the PI proxy uses "some"
            counters += (some, full if full is not None or res != "cpu" else None)
        return CgroupCounters(*(0 if v is None and i != 2 else v for i, v in enumerate(counters)))

    def _read_system(self, errors: list[str]) -> dict[str, PressureLine]:
        system = {}
        for res in RESOURCES:
            path = os.path.join(self.proc_pressure, res)
            try:
                fd = self._system_fds.get(res)
                if fd is None:
                    fd = self._system_fds[res] = os.open(path, _OPEN_FLAGS)
                data = os.pread(fd, READ_SIZE, 0)
            except OSError as exc:
                fd = self._system_fds.pop(res, None)
                if fd is not None:
                    os.close(fd)
                self._once(errors, "system-psi",
                           f"system pressure unavailable ({path}: {_why(exc)}); is PSI enabled (psi=1)?")
                continue
            try:
                line = pressure_line(data)
            except ValueError:
                line, bad = parse_pressure(data.decode("ascii", "replace"))
                self._malformed(errors, f"system {res} pressure", bad)
            if line is not None:
                system[res] = line
        return system

    # -- weights
    def read_weight(self, name: str) -> int | None:
        cg = self._classes.get(name)
        if cg is None:
            return None
        try:
            return self._decode(_read(os.path.join(cg.weight_dir, self.weight_file)))
        except OSError:
            return None
        except ValueError:
            self.malformed += 1
            return None

    def set_weight(self, name: str, weight: int) -> None:
        cg = self._classes.get(name)
        if cg is None:
            raise ActuatorError(f"{name}: no cgroup attached for this class")
        if not WEIGHT_MIN <= weight <= WEIGHT_MAX:
            raise ActuatorError(f"{name}: weight {weight} is outside {WEIGHT_MIN}–{WEIGHT_MAX}")
        path = os.path.join(cg.weight_dir, self.weight_file)
        try:
            _write(path, self._encode(weight))
        except OSError as exc:
            raise ActuatorError(self._write_error(cg, path, exc)) from None

    @staticmethod
    def _write_error(cg: _Cgroup, path: str, exc: OSError) -> str:
        if exc.errno == errno.ENODEV or (exc.errno == errno.ENOENT and not os.path.isdir(cg.weight_dir)):
            return f"{cg.name}: cgroup {cg.weight_dir} is gone"
        if exc.errno == errno.ENOENT:
            return f"{cg.name}: {path} does not exist (cpu controller not enabled for this cgroup?)"
        if exc.errno in _DENIED:
            return f"{cg.name}: cannot write {path}: permission denied (run as root, or use --dry-run)"
        return f"{cg.name}: cannot write {path}: {_why(exc)}"

    # -- teardown
    def _close_classes(self) -> None:
        for cg in self._classes.values():
            cg.close()

    def close(self) -> None:
        self._close_classes()
        for fd in self._system_fds.values():
            os.close(fd)
        self._system_fds.clear()


class CgroupV2Backend(_CgroupFsBackend):
    """Pure cgroup v2: ``cpu.weight`` (1–10000) and the counters side by side.

    ``root`` is the directory class cgroups live under; ``mount`` (default:
    ``root``) is the cgroup2 mount it lies in. Creating a class enables
    ``+cpu`` in the ``cgroup.subtree_control`` of every cgroup from the mount
    down to the class's parent.
    """

    kind = "v2"
    weight_file = "cpu.weight"

    def __init__(self, root: str, *, mount: str | None = None, proc_pressure: str = PROC_PRESSURE) -> None:
        super().__init__(root, root, proc_pressure=proc_pressure)
        self.root = self.weight_root
        self.mount = os.path.abspath(mount) if mount else self.root
        if not (self.root == self.mount or self.root.startswith(self.mount.rstrip("/") + "/")):
            raise BackendError(f"cgroup root {self.root} is not inside the cgroup2 mount {self.mount}")
        self.label = f"cgroup v2 ({self.root})"

    def _encode(self, weight: int) -> str:
        return f"{weight}\n"

    def _decode(self, text: str) -> int:
        return int(text.strip())

    def _create(self, cg: _Cgroup) -> None:
        self._makedirs(cg.name, cg.weight_dir)
        parts = os.path.relpath(cg.weight_dir, self.mount).split(os.sep)
        ancestor = self.mount
        for part in parts:
            self._enable_cpu(cg.name, ancestor)
            ancestor = os.path.join(ancestor, part)

    @staticmethod
    def _enable_cpu(name: str, directory: str) -> None:
        path = os.path.join(directory, "cgroup.subtree_control")
        try:
            enabled = {c.lstrip("+") for c in _read(path).split()}
        except FileNotFoundError:
            raise BackendError(f"{name}: {directory} is not a cgroup v2 directory (no cgroup.subtree_control)") from None
        except OSError:
            enabled = set()  # let the write below tell what is wrong
        if "cpu" in enabled:
            return
        try:
            _write(path, "+cpu")
        except OSError as exc:
            if exc.errno in _DENIED:
                why = f"permission denied ({_ROOT_HINT})"
            elif exc.errno == errno.EBUSY:
                why = "busy (a cgroup holding processes cannot pass controllers to children)"
            elif exc.errno in (errno.ENOENT, errno.EINVAL, errno.ENOTSUP):
                why = "the cpu controller is not available there (bound to cgroup v1, or not enabled above?)"
            else:
                why = _why(exc)
            raise BackendError(f"{name}: cannot enable the cpu controller in {path}: {why}") from None


class CgroupV1HybridBackend(_CgroupFsBackend):
    """Hybrid host: weights as v1 ``cpu.shares`` under ``cpu_root``, PSI and
    ``cpu.stat`` from the same relative path under ``unified_root`` (v2).

    Weights map with systemd's rule (:func:`weight_to_shares`).
    """

    kind = "v1"
    weight_file = "cpu.shares"

    def __init__(self, cpu_root: str, unified_root: str, *, proc_pressure: str = PROC_PRESSURE) -> None:
        super().__init__(cpu_root, unified_root, proc_pressure=proc_pressure)
        self.cpu_root, self.unified_root = self.weight_root, self.counter_root
        self.label = f"hybrid: v1 cpu.shares + v2 PSI ({self.cpu_root}, {self.unified_root})"

    def _encode(self, weight: int) -> str:
        return f"{weight_to_shares(weight)}\n"

    def _decode(self, text: str) -> int:
        return shares_to_weight(int(text.strip()))

    def _create(self, cg: _Cgroup) -> None:
        # No subtree_control: v1 needs none, and the cpu controller is not
        # available on the unified mount of a hybrid host.
        self._makedirs(cg.name, cg.weight_dir)
        self._makedirs(cg.name, cg.counter_dir)
