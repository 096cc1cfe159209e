"""An in-memory process table, for tests and benches (no process is touched).

:class:`FakeProcTable` implements the classifier's process source over
plain records; :meth:`spawn`, :meth:`exec`, :meth:`exit` and
:meth:`setuid` change it like the kernel would, including handing out a PID
again after its process exited (``pid_max`` small makes that frequent).
``chaos``, when set, is called before every read with the PID being read —
property tests use it to make a PID's process exit and its PID be reused in
the middle of a classification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from wlmtui.classify.procfs import PF_KTHREAD, Ids, Stat

ROOT_NS = ("cgroup:[4026531835]", "pid:[4026531836]")


@dataclass
class FakeProc:
    pid: int
    start: int
    ppid: int = 1
    exe: str | None = "/usr/bin/true"
    cmdline: str = ""
    euid: int = 0
    egid: int = 0
    groups: frozenset[int] = frozenset()
    env: dict[str, str] = field(default_factory=dict)
    kernel_thread: bool = False
    ns_depth: int = 1
    ns: tuple[str, str] | None = ROOT_NS
    cpu: int = 0
    state: str = "S"
    comm: str = ""
    token: int = 0

    def __post_init__(self) -> None:
        if not self.comm:
            self.comm = (self.exe or "").rsplit("/", 1)[-1][:15] or "?"


class FakeProcTable:
    ticks_per_second = 100.0

    def __init__(self, pid_max: int = 4_194_304) -> None:
        self.procs: dict[int, FakeProc] = {}
        self.pid_max = pid_max
        self.clock = 1000  # start times, clock ticks
        self._next_pid = 2
        self._tokens = 0
        self.chaos: Callable[[int], None] | None = None
        self.reads = 0

    # -- changing the table
    def _new_token(self) -> int:
        self._tokens += 1
        return self._tokens

    def _alloc(self, pid: int | None) -> int:
        if pid is not None:
            if pid in self.procs:
                raise ValueError(f"pid {pid} is in use")
            return pid
        for _ in range(self.pid_max):
            candidate = self._next_pid
            self._next_pid = candidate + 1 if candidate + 1 < self.pid_max else 2
            if candidate not in self.procs:
                return candidate
        raise RuntimeError("pid space exhausted")

    def spawn(self, exe: str | None = "/usr/bin/true", *, pid: int | None = None, **attrs) -> int:
        """A new process (a fresh start time, so a reused PID is a new identity)."""
        pid = self._alloc(pid)
        self.clock += 1
        self.procs[pid] = FakeProc(pid=pid, start=self.clock, exe=exe, token=self._new_token(), **attrs)
        return pid

    def exec(self, pid: int, exe: str, cmdline: str = "", env: dict[str, str] | None = None) -> None:
        p = self.procs[pid]
        p.exe, p.cmdline = exe, cmdline
        p.comm = exe.rsplit("/", 1)[-1][:15]
        if env is not None:
            p.env = dict(env)

    def setuid(self, pid: int, uid: int) -> None:
        self.procs[pid].euid = uid

    def exit(self, pid: int) -> None:
        self.procs.pop(pid, None)

    def reuse(self, pid: int, exe: str | None = "/usr/bin/true", **attrs) -> int:
        """``pid`` exits and a new process gets the same PID at once."""
        self.exit(pid)
        return self.spawn(exe, pid=pid, **attrs)

    # -- the process source
    def _get(self, pid: int) -> FakeProc | None:
        self.reads += 1
        if self.chaos is not None:
            self.chaos(pid)
        return self.procs.get(pid)

    def pids(self) -> list[int]:
        return sorted(self.procs)

    def scan(self) -> list[tuple[int, int | None]]:
        return [(pid, self.procs[pid].token) for pid in sorted(self.procs)]

    def token(self, pid: int) -> int | None:
        p = self._get(pid)
        return None if p is None else p.token

    def stat(self, pid: int) -> Stat | None:
        p = self._get(pid)
        if p is None:
            return None
        return Stat(start=p.start, ppid=p.ppid, comm=p.comm, state=p.state,
                    flags=PF_KTHREAD if p.kernel_thread else 0, cpu=p.cpu)

    def exe(self, pid: int) -> str | None:
        p = self._get(pid)
        return None if p is None or p.kernel_thread else p.exe

    def cmdline(self, pid: int) -> str | None:
        p = self._get(pid)
        return None if p is None else p.cmdline

    def ids(self, pid: int) -> Ids | None:
        p = self._get(pid)
        return None if p is None else Ids(p.euid, p.egid, p.groups, p.ns_depth)

    def env(self, pid: int, name: str) -> str | None:
        p = self._get(pid)
        return None if p is None else p.env.get(name)

    def namespaces(self, pid: int) -> tuple[str, str] | None:
        p = self._get(pid)
        return None if p is None else p.ns
