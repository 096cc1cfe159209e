"""Putting a process into its class's cgroup — in every hierarchy that counts.

On a pure cgroup v2 host a class is one directory; on a hybrid host it is
the same relative path below the v1 ``cpu`` mount (where the weight lives)
and below the unified mount (where PSI and ``cpu.stat`` come from), and a
process must be moved in both (:class:`CgroupPlacer`). A move is a write of
the PID to ``cgroup.procs``, which moves the whole process (all threads).

:func:`placer_for` builds the placer that matches a backend (``None`` on the
simulated host, where there are no processes to place).
"""

from __future__ import annotations

import errno
import os
from typing import Mapping, Protocol

_ROOT_HINT = "run as root"


class ProcessGone(Exception):
    """The process exited (or its PID was reused) before or during the move."""


class PlaceError(Exception):
    """The move failed for a reason worth reporting (cgroup missing, permission …)."""


class Placer(Protocol):
    label: str

    def configure(self, cgroups: Mapping[str, str]) -> list[str]:
        """Class name → cgroup path relative to the class root; returns warnings."""

    def place(self, pid: int, cls: str) -> None:
        """Move ``pid`` into ``cls``'s cgroup(s). Raises :class:`ProcessGone`
        or :class:`PlaceError`."""

    def members(self) -> dict[str, frozenset[int]]:
        """The PIDs in each class's cgroup (in every hierarchy); a class whose
        cgroup cannot be read is left out."""

    def location(self, pid: int) -> str | None:
        """The class whose cgroup(s) ``pid`` is in now (``None``: none of
        ours), read from the process itself — unlike a ``members()`` snapshot
        it cannot be fooled by a PID reused since. May raise
        ``NotImplementedError`` (then the classifier uses the snapshot)."""


def _clean(rel: str) -> str:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise PlaceError(f"cgroup path {rel!r} must name a cgroup below the cgroup root")
    return "/".join(parts)


def _inside(root: str, path: str) -> bool:
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _pids(data: bytes) -> frozenset[int]:
    return frozenset(int(x) for x in data.split() if x.isdigit())


def read_pids(path: str) -> frozenset[int]:
    """The PIDs in a ``cgroup.procs`` file; raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return _pids(b"".join(chunks))


def pread_all(fd: int, size: int = 65536) -> bytes:
    """The whole content of a kept-open file, read from offset 0."""
    data = os.pread(fd, size, 0)
    if len(data) < size:
        return data
    chunks = [data]
    offset = len(data)
    while chunk := os.pread(fd, size, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def hierarchies_of(roots: tuple[str, ...], mountinfo: str | None = None) -> tuple[tuple[str, str], ...] | None:
    """For each root, ``(kind, mount point)`` — kind ``"v2"`` (the unified
    mount) or ``"cpu"`` (the v1 mount carrying the cpu controller) — or
    ``None`` when a root lies in neither (a fake tree in tests)."""
    from wlmtui.backends.mounts import MOUNTINFO, find_cgroup_mounts

    try:
        mounts = find_cgroup_mounts(mountinfo or MOUNTINFO)
    except OSError:
        return None
    out = []
    for root in roots:
        if mounts.v2 and _under(root, mounts.v2):
            out.append(("v2", mounts.v2))
        elif mounts.v1_cpu and _under(root, mounts.v1_cpu):
            out.append(("cpu", mounts.v1_cpu))
        else:
            return None
    return tuple(out)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/PID/cgroup`` → ``{"v2": path, "cpu": path}`` (what is present)."""
    out = {}
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and controllers == "":
            out["v2"] = path
        elif "cpu" in controllers.split(","):
            out["cpu"] = path
    return out


class CgroupPlacer:
    """Writes PIDs to ``<root>/<class cgroup>/cgroup.procs`` under each root.

    ``roots`` are the directories class cgroups live under — one on a pure
    v2 host, the v1 ``cpu`` one and the unified one on a hybrid host (the
    order is the order of the writes). Paths are confined below the roots
    after resolving symlinks; nothing else is ever written. ``hierarchies``
    (default: found in ``/proc/self/mountinfo``) says which mount each root
    is in, so that :meth:`location` can read ``/proc/PID/cgroup``.
    """

    def __init__(self, roots: list[str] | tuple[str, ...], label: str = "", *,
                 hierarchies: tuple[tuple[str, str], ...] | None | object = ...,
                 proc: str = "/proc") -> None:
        if not roots:
            raise ValueError("a placer needs at least one cgroup root")
        self.roots = tuple(os.path.abspath(r) for r in roots)
        self.label = label or " + ".join(self.roots)
        self.proc = proc
        self.hierarchies = hierarchies_of(self.roots) if hierarchies is ... else hierarchies
        self._dirs: dict[str, tuple[str, ...]] = {}
        self._where: dict[tuple[str, ...], str] = {}  # /proc/PID/cgroup paths -> class
        #: kept-open cgroup.procs descriptors, by path (see :meth:`members`)
        self._fds: dict[str, int] = {}
        # Kept open only on the cgroup2 mount, where every read from offset 0
        # lists the cgroup anew. v1 keeps one cached PID list per open file,
        # reloaded only once the cache has been idle for a second (a kept
        # v1 descriptor reads stale), and a file removed from a test tree
        # still reads its old content: those are opened afresh each time.
        self._keep = tuple(kind == "v2" for kind, _mount in self.hierarchies) if self.hierarchies else \
            tuple(False for _ in self.roots)

    def configure(self, cgroups: Mapping[str, str]) -> list[str]:
        dirs: dict[str, tuple[str, ...]] = {}
        warnings = []
        for name, rel in cgroups.items():
            try:
                rel = _clean(rel)
            except PlaceError as exc:
                warnings.append(f"{name}: {exc}")
                continue
            paths = tuple(os.path.join(root, rel) for root in self.roots)
            escaping = [p for root, p in zip(self.roots, paths) if not _inside(root, p)]
            if escaping:
                warnings.append(f"{name}: cgroup {', '.join(escaping)} leaves the cgroup root (symlink?); "
                                "processes are not moved into it")
                continue
            dirs[name] = paths
        self._dirs = dirs
        self.close()
        self._where = {}
        if self.hierarchies is not None:
            for name, paths in dirs.items():  # as /proc/PID/cgroup writes them
                key = tuple("/" + os.path.relpath(p, mount) for p, (_kind, mount) in zip(paths, self.hierarchies))
                self._where[key] = name
        return warnings

    def location(self, pid: int) -> str | None:
        if self.hierarchies is None:
            raise NotImplementedError("class cgroups are not in a cgroup mount")
        try:
            with open(f"{self.proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
                paths = parse_proc_cgroup(fh.read())
        except OSError:
            return None
        key = tuple(paths.get(kind, "") for kind, _mount in self.hierarchies)
        return self._where.get(key)

    def dirs(self, cls: str) -> tuple[str, ...]:
        return self._dirs.get(cls, ())

    def place(self, pid: int, cls: str) -> None:
        paths = self._dirs.get(cls)
        if not paths:
            raise PlaceError(f"{cls}: no cgroup to move processes into")
        data = f"{pid}\n".encode()
        for directory in paths:
            target = os.path.join(directory, "cgroup.procs")
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)  # never O_CREAT
            except OSError as exc:
                raise PlaceError(self._why(cls, directory, target, exc)) from None
            try:
                os.write(fd, data)
            except OSError as exc:
                if exc.errno == errno.ESRCH:
                    raise ProcessGone(pid) from None
                raise PlaceError(self._why(cls, directory, target, exc)) from None
            finally:
                os.close(fd)

    @staticmethod
    def _why(cls: str, directory: str, target: str, exc: OSError) -> str:
        if exc.errno in (errno.ENOENT, errno.ENODEV) and not os.path.isdir(directory):
            return f"{cls}: cgroup {directory} does not exist (created when wlmtui attaches the class)"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"{cls}: cannot write {target}: permission denied ({_ROOT_HINT})"
        if exc.errno == errno.EBUSY:
            return (f"{cls}: {target} refused the process: the cgroup passes controllers to child cgroups "
                    "(cgroup v2 allows processes only in leaves)")
        if exc.errno == errno.EINVAL:
            return (f"{cls}: {target} refused the process (EINVAL): a realtime process without "
                    "cpu.rt_runtime_us in that cgroup, or a kernel thread")
        return f"{cls}: cannot write {target}: {(exc.strerror or str(exc)).lower()}"

    def _read_members(self, directory: str, keep: bool) -> frozenset[int]:
        path = os.path.join(directory, "cgroup.procs")
        if not keep:
            return read_pids(path)
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return _pids(pread_all(fd))
        except OSError:
            del self._fds[path]  # removed (ENODEV): the next call opens it again
            os.close(fd)
            raise

    def members(self) -> dict[str, frozenset[int]]:
        """Read from kept-open descriptors with ``pread`` where the kernel
        gives a fresh list on each read (cgroup v2), opened afresh on v1."""
        out: dict[str, frozenset[int]] = {}
        keep = self._keep
        # the kept (v2) side first: where it is empty the intersection is too,
        # and the v1 side need not be opened at all
        order = sorted(range(len(keep)), key=lambda i: not keep[i])
        for name, paths in self._dirs.items():
            try:
                pids = self._read_members(paths[order[0]], keep[order[0]])
                for i in order[1:]:
                    if not pids:
                        break
                    pids = pids & self._read_members(paths[i], keep[i])
            except (OSError, ValueError):
                continue
            out[name] = pids
        return out

    def close(self) -> None:
        """Release the kept-open ``cgroup.procs`` descriptors."""
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()


class RecordingPlacer:
    """Places in memory only (tests, benches, previews).

    With ``procs`` (a process source) a placement is remembered with the
    process's start time, so a PID reused by a new process is not counted as
    a member — as in the kernel, where an exited process leaves its cgroup.
    """

    label = "in memory"

    def __init__(self, procs=None) -> None:
        self.procs = procs
        self.classes: set[str] = set()
        self.where: dict[int, tuple[str, int | None]] = {}
        self.moves: list[tuple[int, str]] = []
        #: called as ``check(pid, cls)`` before each move (property tests assert there)
        self.check = None

    def configure(self, cgroups: Mapping[str, str]) -> list[str]:
        self.classes = set(cgroups)
        return []

    def _start(self, pid: int) -> int | None:
        if self.procs is None:
            return None
        st = self.procs.procs.get(pid) if hasattr(self.procs, "procs") else None
        return None if st is None else st.start

    def place(self, pid: int, cls: str) -> None:
        if cls not in self.classes:
            raise PlaceError(f"{cls}: no cgroup to move processes into")
        if self.check is not None:
            self.check(pid, cls)
        if self.procs is not None and self._start(pid) is None:
            raise ProcessGone(pid)
        self.where[pid] = (cls, self._start(pid))
        self.moves.append((pid, cls))

    def location(self, pid: int) -> str | None:
        return self.cls_of(pid)

    def cls_of(self, pid: int) -> str | None:
        entry = self.where.get(pid)
        if entry is None or (self.procs is not None and entry[1] != self._start(pid)):
            return None
        return entry[0]

    def members(self) -> dict[str, frozenset[int]]:
        out: dict[str, set[int]] = {c: set() for c in self.classes}
        for pid in list(self.where):
            cls = self.cls_of(pid)
            if cls is None:
                if self.procs is not None:
                    del self.where[pid]
            elif cls in out:
                out[cls].add(pid)
        return {c: frozenset(p) for c, p in out.items()}


def placer_for(backend) -> CgroupPlacer | None:
    """The placer for an (attached or not) cgroup backend; ``None`` for ``sim``."""
    kind = getattr(backend, "kind", "")
    if kind == "v2":
        return CgroupPlacer([backend.root], label=f"cgroup v2 ({backend.root})")
    if kind == "v1":
        return CgroupPlacer([backend.cpu_root, backend.unified_root],
                            label=f"hybrid ({backend.cpu_root} + {backend.unified_root})")
    return None
