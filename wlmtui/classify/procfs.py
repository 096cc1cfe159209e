"""Reading processes from ``/proc`` — cheaply, one attribute at a time.

The classifier reads ``/proc`` directly rather than through psutil: per
process, ``psutil.process_iter`` with the attributes a rule needs costs
about 100 µs here, reading just the files needed about 3–15 µs (see
``bench/classify_scan.py``), and most processes fail a rule on the first,
cheapest attribute (``exe``: one ``readlink``).

A process's identity is ``(pid, start)``: ``start`` is the start time in
clock ticks since boot (field 22 of ``/proc/PID/stat``), so a PID the kernel
hands out again is never taken for the process it used to name. Between
ticks, a known process is recognised by its *token* — the inode number of
its ``/proc/PID`` directory, which ``readdir`` reports for free
(:meth:`ProcFS.scan`): a new process behind the same PID gets a new inode
(the old one's dentries are invalidated when it is reaped); a changed token
only means "read ``stat`` again and compare the start time". Nothing is
ever *written* on the strength of a token: the start time is checked again
just before a process is moved.

Every reader returns ``None`` when the process is gone or the file cannot
be read (another user's process without privileges, a kernel thread's
``exe``); none raises.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Protocol

PF_KTHREAD = 0x00200000  # include/linux/sched.h


class Stat(NamedTuple):
    start: int  # clock ticks since boot
    ppid: int
    comm: str
    state: str  # R S D Z T …
    flags: int
    cpu: int  # utime + stime, clock ticks

    @property
    def kernel_thread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)


class Ids(NamedTuple):
    euid: int
    egid: int
    groups: frozenset[int]  # supplementary
    ns_depth: int  # entries in NSpid: 1 in the initial PID namespace, more inside containers


class ProcSource(Protocol):
    """What the classifier reads about processes (real: :class:`ProcFS`;
    tests and benches: :class:`wlmtui.classify.fake.FakeProcTable`)."""

    ticks_per_second: float

    def scan(self) -> list[tuple[int, int | None]]: ...  # (pid, token) of every process
    def token(self, pid: int) -> int | None: ...
    def stat(self, pid: int) -> Stat | None: ...
    def exe(self, pid: int) -> str | None: ...
    def cmdline(self, pid: int) -> str | None: ...
    def ids(self, pid: int) -> Ids | None: ...
    def env(self, pid: int, name: str) -> str | None: ...
    def namespaces(self, pid: int) -> tuple[str, str] | None: ...


def parse_stat(data: bytes) -> Stat | None:
    """``/proc/PID/stat`` → :class:`Stat` (``comm`` may hold spaces and parens)."""
    try:
        open_ = data.index(b"(")
        close = data.rindex(b")")
        fields = data[close + 2:].split()
        return Stat(start=int(fields[19]), ppid=int(fields[1]),
                    comm=data[open_ + 1:close].decode("utf-8", "replace"),
                    state=fields[0].decode("ascii", "replace"), flags=int(fields[6]),
                    cpu=int(fields[11]) + int(fields[12]))
    except (ValueError, IndexError):
        return None


def _field(text: str, key: str) -> str | None:
    at = text.find("\n" + key + ":")
    if at < 0:
        return None
    at += len(key) + 2
    end = text.find("\n", at)
    return text[at:] if end < 0 else text[at:end]


def parse_status(text: str) -> Ids | None:
    """``/proc/PID/status`` → effective uid and gid, supplementary groups,
    and the depth of PID namespaces (entries in ``NSpid``)."""
    text = "\n" + text
    uid, gid = _field(text, "Uid"), _field(text, "Gid")
    if uid is None or gid is None:
        return None
    groups = _field(text, "Groups")
    nspid = _field(text, "NSpid")
    return Ids(int(uid.split()[1]), int(gid.split()[1]),
               frozenset(int(g) for g in groups.split()) if groups else frozenset(),
               max(1, len(nspid.split())) if nspid else 1)


def _read(path: str, size: int = 4096) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, size)
            chunks.append(chunk)
            if len(chunk) < size:  # these /proc files fill a read until their end
                break
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


class ProcFS:
    """The real process table (``root`` is ``/proc``)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root
        self.ticks_per_second = float(os.sysconf("SC_CLK_TCK"))

    def scan(self) -> list[tuple[int, int | None]]:
        """Every process as ``(pid, token)``; the token (inode) comes with readdir."""
        with os.scandir(self.root) as entries:
            return [(int(e.name), e.inode()) for e in entries if e.name.isdigit()]

    def pids(self) -> list[int]:
        return [int(name) for name in os.listdir(self.root) if name.isdigit()]

    def token(self, pid: int) -> int | None:
        try:
            return os.stat(f"{self.root}/{pid}").st_ino
        except OSError:
            return None

    def stat(self, pid: int) -> Stat | None:
        data = _read(f"{self.root}/{pid}/stat", 1024)
        return None if data is None else parse_stat(data)

    def exe(self, pid: int) -> str | None:
        try:
            path = os.readlink(f"{self.root}/{pid}/exe")
        except OSError:
            return None
        return path[:-10] if path.endswith(" (deleted)") else path

    def cmdline(self, pid: int) -> str | None:
        data = _read(f"{self.root}/{pid}/cmdline", 65536)
        if data is None:
            return None
        return data.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")

    def ids(self, pid: int) -> Ids | None:
        data = _read(f"{self.root}/{pid}/status")
        if data is None:
            return None
        try:
            return parse_status(data.decode("utf-8", "replace"))
        except (ValueError, IndexError):
            return None

    def env(self, pid: int, name: str) -> str | None:
        data = _read(f"{self.root}/{pid}/environ", 65536)
        if data is None:
            return None
        prefix = name.encode() + b"="
        if data.startswith(prefix):
            at = len(prefix)
        else:
            at = data.find(b"\0" + prefix)
            if at < 0:
                return None
            at += len(prefix) + 1
        end = data.find(b"\0", at)
        return data[at:].decode("utf-8", "replace") if end < 0 else data[at:end].decode("utf-8", "replace")

    def namespaces(self, pid: int) -> tuple[str, str] | None:
        """``(cgroup namespace, PID namespace)`` links, ``None`` when unreadable."""
        try:
            return (os.readlink(f"{self.root}/{pid}/ns/cgroup"), os.readlink(f"{self.root}/{pid}/ns/pid"))
        except OSError:
            return None


def own_start() -> int:
    """This process's start time (clock ticks since boot)."""
    st = ProcFS().stat(os.getpid())
    if st is None:
        raise OSError("cannot read /proc/self/stat")
    return st.start
