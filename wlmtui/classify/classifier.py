"""The classifier: every process into its service class, by the policy's rules.

:class:`Classifier` is driven by the control loop — :meth:`Classifier.tick`
once per tick, :meth:`Classifier.reconfigure` when a policy is adopted — and
publishes a frozen :class:`ClassifyReport` per tick for the console and the
headless output.

Each tick (the periodic scan):

1. list ``/proc``; a process never seen before — or whose PID now names a
   new process (another start time) — is *new*; new processes are looked
   at oldest first, so a parent is classified before its children;
2. a new process is left alone when it is a kernel thread, PID 1, wlmtui
   itself, outside the scope, *sticky* (placed by ``wlmtui run`` or the
   console, or a descendant of such a process); otherwise the first rule in
   policy order that matches it gives its class;
3. a matching process is moved into its class's cgroup (every hierarchy on
   hybrid hosts) unless it is already there or lives in another
   container (PID or cgroup namespace other than wlmtui's). Its identity is
   checked again just before the write; one that exited meanwhile is
   simply forgotten.

A process is classified once — when first seen, again after it execs (the
proc connector's exec event, or, without the connector, a changed
``/proc/PID/exe`` seen by the scan) or changes uid/gid (connector), and
when a policy is loaded: :meth:`reconfigure` makes the next tick reclassify
every process. A process that matches no rule stays where it is.

With the proc connector (root, initial namespaces) a thread places
processes at exec time, between ticks; the scan remains the safety net.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

from wlmtui.classify.placer import PlaceError, Placer, ProcessGone
from wlmtui.classify.procfs import Ids, ProcFS, ProcSource, Stat
from wlmtui.classify.rules import Rule, RuleSet, ordered_rules
from wlmtui.classify.sticky import FileStickyStore, Key, StickyStore

#: ``scope(pid, start)``: may the classifier touch this process at all?
Scope = Callable[[int, int], bool]

# entry kinds
PROC, KTHREAD, INIT, ZOMBIE, OUT = "process", "kernel thread", "pid 1", "zombie", "out of scope"
TOP = 3
CMD_SHOWN = 200
#: seconds between reads of the class cgroups' membership (cgroup.procs) in
#: the control loop (``make_classifier``); moves made by the classifier itself
#: count at once. A bare Classifier reads it every tick unless told otherwise.
MEMBERS_EVERY = 1.0


# ---------------------------------------------------------------- the report

class ProcessInfo(NamedTuple):
    """One process as the classifier sees it (a named tuple: cheap to make
    thousands of per tick)."""

    pid: int
    start: int  # with pid, the process's identity (clock ticks since boot)
    exe: str  # executable path ("" when unreadable)
    cmdline: str  # arguments joined by spaces, at most 200 characters
    cls: str | None  # the class whose cgroup it is in now (None: none of ours)
    want: str | None  # the class the rules (or a sticky placement) give it
    rule: str | None  # the rule that matched: "web#1 exe=nginx"
    where: str | None  # that rule's place in the policy: "policy.yaml:21"
    sticky: bool  # placed by hand (wlmtui run, console); the classifier leaves it alone
    state: str  # in place | moved | would move | sticky … | no rule | excluded: … | failed: …
    cpu: float | None  # cores used over the last tick (None on first sight)

    def to_json(self) -> dict:
        return {"pid": self.pid, "start": self.start, "exe": self.exe, "cmdline": self.cmdline,
                "class": self.cls, "want": self.want, "rule": self.rule, "where": self.where,
                "sticky": self.sticky, "state": self.state,
                "cpu": None if self.cpu is None else round(self.cpu, 4)}


@dataclass(frozen=True, slots=True)
class ClassCount:
    name: str
    count: int  # processes in the class's cgroup now
    busiest: tuple[ProcessInfo, ...]  # up to three, most CPU first
    present: bool = True  # False: the cgroup could not be read (missing?)


class Move(NamedTuple):
    """A process put into a class (or that would be, in a dry run)."""

    pid: int
    exe: str
    cls: str
    rule: str | None  # None for a sticky placement (console)
    via: str  # scan | policy (load/reload) | rescan (exe changed) | exec/uid/gid event | console | unpin
    dry_run: bool = False

    def describe(self) -> str:
        name = os.path.basename(self.exe) or "?"
        verb = "would move" if self.dry_run else "moved"
        why = f"rule {self.rule}" if self.rule else "by hand (sticky)"
        return f"pid {self.pid} {name} {verb} to {self.cls}: {why} [{self.via}]"


@dataclass(frozen=True, slots=True)
class ClassifyReport:
    """What the classifier published for one tick (frozen; the UI only reads)."""

    time: float
    scan_ms: float
    scanned: int  # processes looked at
    new: int  # first seen this tick
    full: bool  # every process was reclassified (policy loaded or reloaded)
    moved: tuple[Move, ...]  # since the previous report (scan, exec events, console)
    classes: tuple[ClassCount, ...]  # policy order; classes with a cgroup
    processes: tuple[ProcessInfo, ...]  # in a class cgroup, or given a class by the rules; by class, CPU
    errors: tuple[str, ...]  # new since the previous report
    events: str  # "proc connector" or "scan only (…)"
    dry_run: bool = False
    rules: int = 0
    detail: bool = True  # False: per-process detail was not gathered (processes and busiest empty)

    def classes_json(self) -> list[dict]:
        return [{"name": c.name, "count": c.count, "present": c.present,
                 "busiest": [p.to_json() for p in c.busiest]} for c in self.classes]

    def by_class(self, name: str) -> tuple[ProcessInfo, ...]:
        return tuple(p for p in self.processes if p.cls == name)

    def event_lines(self) -> list[tuple[str, str]]:
        """``(kind, text)`` for the loop's event log: one per move and error."""
        return [("classify", m.describe()) for m in self.moved] + [("error", f"classify: {e}") for e in self.errors]

    def to_json(self, processes: bool = True, classes: bool = True) -> dict:
        """Plain types; ``processes=False`` leaves the per-process list out
        (headless JSON lines: counts, busiest, moves and errors only);
        ``classes=False`` leaves ``None`` where the counts go (for an encoder
        that puts in its own encoding of :meth:`classes_json`)."""
        return {
            "time": self.time, "scan_ms": round(self.scan_ms, 3), "scanned": self.scanned, "new": self.new,
            "full": self.full, "events": self.events, "dry_run": self.dry_run, "rules": self.rules,
            "classes": self.classes_json() if classes else None,
            "moved": [{"pid": m.pid, "exe": m.exe, "class": m.cls, "rule": m.rule, "via": m.via,
                       "dry_run": m.dry_run} for m in self.moved],
            "processes": [p.to_json() for p in self.processes] if processes else None,
            "errors": list(self.errors),
        }


# ---------------------------------------------------------------- scopes

class AllowSet:
    """A scope of exactly the processes added (by identity, so a PID reused
    by someone else's process is out). For tests and benches."""

    def __init__(self, procs: ProcSource | None = None) -> None:
        self.procs = procs or ProcFS()
        self.keys: set[Key] = set()

    def add(self, pid: int) -> None:
        st = self.procs.stat(pid)
        if st is not None:
            self.keys.add((pid, st.start))

    def __call__(self, pid: int, start: int) -> bool:
        return (pid, start) in self.keys


def descendants_of(root: int, procs: ProcSource | None = None) -> Scope:
    """A scope of the processes descending from ``root`` (not ``root`` itself)."""
    procs = procs or ProcFS()
    st = procs.stat(root)
    if st is None:
        raise ValueError(f"no process {root}")
    root_start = st.start

    def scope(pid: int, start: int) -> bool:
        if start < root_start:
            return False
        current = procs.stat(pid)
        for _ in range(64):
            if current is None or current.ppid <= 0:
                return False
            if current.ppid == root:
                return True
            current = procs.stat(current.ppid)
        return False

    return scope


# ---------------------------------------------------------------- internals

_UNSET = object()


class _View:
    """A process's attributes, each read at most once, only when a rule asks."""

    __slots__ = ("procs", "pid", "_ppid", "_exe", "_cmd", "_ids", "_pexe", "_env")

    def __init__(self, procs: ProcSource, pid: int, ppid: int | None = None) -> None:
        self.procs, self.pid, self._ppid = procs, pid, ppid
        self._exe = self._cmd = self._ids = self._pexe = _UNSET
        self._env: dict[str, str | None] = {}

    @property
    def exe(self) -> str | None:
        if self._exe is _UNSET:
            self._exe = self.procs.exe(self.pid)
        return self._exe

    @property
    def cmdline(self) -> str | None:
        if self._cmd is _UNSET:
            self._cmd = self.procs.cmdline(self.pid)
        return self._cmd

    @property
    def ids(self) -> Ids | None:
        if self._ids is _UNSET:
            self._ids = self.procs.ids(self.pid)
        return self._ids

    @property
    def euid(self) -> int | None:
        ids = self.ids
        return None if ids is None else ids.euid

    @property
    def gids(self) -> frozenset[int] | None:
        ids = self.ids
        return None if ids is None else ids.groups | {ids.egid}

    @property
    def parent_exe(self) -> str | None:
        if self._pexe is _UNSET:
            ppid = self._ppid
            if ppid is None:
                st = self.procs.stat(self.pid)
                ppid = None if st is None else st.ppid
            self._pexe = self.procs.exe(ppid) if ppid else None
        return self._pexe

    def env(self, name: str) -> str | None:
        if name not in self._env:
            self._env[name] = self.procs.env(self.pid, name)
        return self._env[name]


class _Entry:
    """What the classifier remembers about one process (one identity)."""

    __slots__ = ("pid", "start", "token", "ppid", "kind", "exe", "cmd", "cls", "rule", "sticky", "state")

    def __init__(self, pid: int, start: int, token: int | None, ppid: int, kind: str) -> None:
        self.pid, self.start, self.token, self.ppid, self.kind = pid, start, token, ppid, kind
        self.exe: str | None = None
        self.cmd: str | None = None
        self.cls: str | None = None
        self.rule: tuple[str, Rule, str, str] | None = None  # (class, rule, label, where)
        self.sticky = False
        self.state = "new"


@dataclass
class _Pass:
    """Outputs collected while classifying (one tick, or between ticks)."""

    moves: list[Move] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the classifier

class Classifier:
    """Rule-based classification of processes into service classes.

    ``placer`` moves processes (:func:`wlmtui.classify.placer.placer_for`);
    ``procs`` reads them (default: ``/proc``); ``scope`` limits which
    processes may be touched at all (tests: only their own); ``sticky`` is
    where hand placements are recorded (default: ``<state_dir>/sticky`` of
    the policy); ``events``: use the proc connector (``None``: when
    available, ``False``: never); ``dry_run``: decide and report, move
    nothing.

    Thread safety: :meth:`tick`, :meth:`reconfigure`, :meth:`pin`,
    :meth:`unpin` and the connector thread serialise on one lock.
    """

    def __init__(self, policy, placer: Placer, *, procs: ProcSource | None = None, scope: Scope | None = None,
                 sticky: StickyStore | None = None, events: bool | None = None, dry_run: bool = False,
                 self_pid: int | None = None, own_ns: tuple[str, str] | None | object = _UNSET,
                 clock: Callable[[], float] = time.monotonic, top: int = TOP, detail: bool = True,
                 members_every: float = 0.0) -> None:
        self.placer = placer
        self.procs: ProcSource = procs or ProcFS()
        self.scope = scope
        self.dry_run = dry_run
        self.self_pid = os.getpid() if self_pid is None else self_pid
        self.clock = clock
        self.top = top
        #: gather per-process detail (CPU, command line) for the report; costs
        #: one /proc read per process in a class per tick. May be switched at
        #: any time (the console's process view on, headless off).
        self.detail = detail
        self._sticky_given = sticky is not None
        self.sticky: StickyStore = sticky if sticky is not None else FileStickyStore(policy.state_dir)
        self._events_wanted = events
        own = self.procs.ids(self.self_pid)
        self._own_depth = own.ns_depth if own is not None else 1
        self._own_ns = self.procs.namespaces(self.self_pid) if own_ns is _UNSET else own_ns
        self._lock = threading.RLock()
        self._known: dict[int, _Entry] = {}
        self._pinned: dict[Key, str | None] = {}
        self._sticky_records: dict[Key, str | None] = {}
        self._members: dict[str, set[int]] = {}
        self._member_of: dict[int, str] = {}
        #: membership is read at most this often (seconds; 0: every tick)
        self.members_every = members_every
        self._members_at: float | None = None  # clock() of the last membership read
        self._members_version = 0  # bumped whenever the membership changes
        self._counts: tuple | None = None  # (version, policy, detail, top, ClassCount tuple) of the last report
        self._cpu: dict[int, tuple[int, int, float]] = {}  # pid -> (start, cpu ticks, clock)
        self._fresh_stat: dict[int, Stat] = {}  # stat read during this tick's scan (reused by the report)
        self._info: dict[int, tuple[int, str, str]] = {}  # pid -> (start, exe, cmdline) for non-entries
        self._pending = _Pass()
        self._reported: set[str] = set()
        self._full = True
        self._overrun = False
        self._connector = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._events_status = "scan only (proc connector not started)"
        self.last: ClassifyReport | None = None
        self.policy = policy
        self._rules = RuleSet(())
        self.reconfigure(policy)

    # -- configuration
    def reconfigure(self, policy) -> None:
        """Adopt a (re)loaded policy: the next tick reclassifies every process."""
        with self._lock:
            self.policy = policy
            self._rules = RuleSet(ordered_rules(policy.classes))
            cgroups = {c.name: c.cgroup for c in policy.classes if getattr(c, "cgroup", None)}
            for warning in self.placer.configure(cgroups):
                self._error(self._pending, warning)
            if not self._sticky_given and getattr(self.sticky, "dir", None) != os.path.join(policy.state_dir, "sticky"):
                self.sticky = FileStickyStore(policy.state_dir)
            self._full = True
            self._members_at = None  # new cgroups: read them at the next tick
            self._reported.clear()
        self._update_events()

    @property
    def events_active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _update_events(self) -> None:
        want = bool(self._rules) and not self.dry_run and self._events_wanted is not False
        if want and not self.events_active:
            self._start_events()
        elif not want:
            self._stop_events()
            self._events_status = ("scan only (no rules)" if not self._rules else
                                   "scan only (dry run)" if self.dry_run else "scan only (proc connector off)")

    def _start_events(self) -> None:
        from wlmtui.classify.connector import ConnectorUnavailable, ProcConnector

        try:
            self._connector = ProcConnector()
        except ConnectorUnavailable as exc:
            self._events_status = f"scan only (proc connector: {exc})"
            if self._events_wanted:
                self._error(self._pending, f"proc connector unavailable: {exc}; placing at each tick only")
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._event_loop, name="wlmtui-classify-events", daemon=True)
        self._thread.start()
        self._events_status = "proc connector"

    def _stop_events(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._connector is not None:
            self._connector.close()
            self._connector = None

    def close(self) -> None:
        self._stop_events()
        if hasattr(self.placer, "close"):
            self.placer.close()

    # -- the connector thread
    def _event_loop(self) -> None:
        conn = self._connector
        while not self._stop.is_set():
            try:
                events = conn.read(0.25)
            except OSError as exc:
                with self._lock:
                    self._error(self._pending, f"proc connector failed ({exc}); placing at each tick only")
                    self._events_status = f"scan only (proc connector failed: {exc})"
                return
            for ev in events:
                # (exits need nothing: the scan forgets vanished PIDs, and a
                # reused PID is a new identity by its start time)
                if ev.kind in ("exec", "uid", "gid"):
                    self.on_event(ev.pid, f"{ev.kind} event")
                elif ev.kind == "overrun":
                    self._overrun = True  # events were lost: the next scan rechecks every exe

    def on_event(self, pid: int, via: str = "exec event") -> None:
        """Classify one process now (it exec'd, or changed uid/gid)."""
        if pid == self.self_pid:
            return
        with self._lock:
            token = self.procs.token(pid)  # before stat: a token never belongs to a newer process than the stat
            st = self.procs.stat(pid)
            if st is None:
                return
            e = self._known.get(pid)
            if e is None or e.start != st.start:
                e = self._new_entry(pid, st, token)
            if e.kind != PROC:
                return
            key = (pid, st.start)
            if key not in self._sticky_records and key not in self._pinned and self.sticky.contains(*key):
                self._load_sticky(self._pending)  # just started by `wlmtui run`
            self._evaluate(e, self._sticky_records, via, self._pending)

    # -- the tick
    def tick(self, now: float | None = None) -> ClassifyReport:
        """One scan: classify new (and, after a reload, all) processes; report."""
        started = time.perf_counter()
        with self._lock:
            out, self._pending = self._pending, _Pass()
            self._fresh_stat.clear()
            full, self._full = self._full, False
            overrun, self._overrun = self._overrun, False
            self._refresh_members(full)
            sticky = self._load_sticky(out)
            scanned = new = 0
            if self._rules or sticky or self._pinned or full:
                scanned, new = self._scan(full, overrun, sticky, out)
            report = self._report(time.time() if now is None else now, started, scanned, new, full, out)
            self._fresh_stat.clear()
        self.last = report
        return report

    def _refresh_members(self, full: bool) -> None:
        """Read the class cgroups' membership — at most every
        :attr:`members_every` seconds, and after a (re)load."""
        mono = self.clock()
        if not full and self._members_at is not None and mono - self._members_at < self.members_every:
            return
        self._members_at = mono
        members = {c: set(p) for c, p in self.placer.members().items()}
        if members != self._members:
            self._members = members
            self._member_of = {pid: cls for cls, pids in members.items() for pid in pids}
            self._members_version += 1

    def _scan(self, full: bool, overrun: bool, sticky: dict[Key, str | None], out: _Pass) -> tuple[int, int]:
        procs = self.procs
        listing = procs.scan()
        alive = {pid for pid, _token in listing}
        for pid in [p for p in self._known if p not in alive]:
            del self._known[pid]
        exec_check = full or overrun or not self.events_active
        fresh: list[tuple[int, int, Stat, int | None]] = []
        recheck: list[_Entry] = []
        scanned = 0
        for pid, token in listing:
            if pid == self.self_pid:
                continue
            e = self._known.get(pid)
            if e is None or token is None or e.token != token:
                st = procs.stat(pid)
                if st is None:
                    self._known.pop(pid, None)
                    continue
                if e is None or e.start != st.start:
                    fresh.append((st.start, pid, st, token))
                    continue
                e.token = token
            if e.kind == OUT:
                continue
            scanned += 1
            if e.kind == PROC and (full or (exec_check and procs.exe(pid) != e.exe)
                                   or (sticky and not e.sticky and (pid, e.start) in sticky)):
                recheck.append(e)
        fresh.sort()
        new = 0
        fresh_stat = self._fresh_stat
        for _start, pid, st, token in fresh:
            fresh_stat[pid] = st
            e = self._new_entry(pid, st, token)
            if e.kind == OUT:
                continue
            scanned += 1
            new += 1
            if e.kind == PROC:
                self._evaluate(e, sticky, "policy" if full else "scan", out)
        for e in recheck:
            if self._known.get(e.pid) is e:
                self._evaluate(e, sticky, "policy" if full else "rescan", out)
        if not self.dry_run:
            self._prune_sticky(sticky, alive)
        return scanned, new

    def _new_entry(self, pid: int, st: Stat, token: int | None) -> _Entry:
        if self.scope is not None and not self.scope(pid, st.start):
            kind = OUT
        elif st.kernel_thread:
            kind = KTHREAD
        elif pid == 1:
            kind = INIT
        elif st.state in ("Z", "X"):
            kind = ZOMBIE
        else:
            kind = PROC
        e = _Entry(pid, st.start, token, st.ppid, kind)
        e.state = "excluded: " + kind if kind != PROC else "new"
        self._known[pid] = e
        return e

    def _sticky_class(self, e: _Entry, sticky: Mapping[Key, str | None]) -> tuple[bool, str | None, str]:
        key = (e.pid, e.start)
        if key in self._pinned:
            return True, self._pinned[key], "sticky (placed by hand)"
        if key in sticky:
            return True, sticky[key], "sticky (wlmtui run)"
        if e.sticky:
            return True, e.cls, e.state
        parent = self._known.get(e.ppid)
        if parent is not None and parent.sticky and parent.start <= e.start:
            return True, parent.cls, f"sticky (child of {parent.pid})"
        return False, None, ""

    def _evaluate(self, e: _Entry, sticky: Mapping[Key, str | None], via: str, out: _Pass) -> None:
        view = _View(self.procs, e.pid, e.ppid)
        e.exe = view.exe
        e.cmd = None
        parent = self._known.get(e.ppid)
        if sticky or self._pinned or e.sticky or (parent is not None and parent.sticky):
            is_sticky, cls, state = self._sticky_class(e, sticky)
            if is_sticky:
                e.sticky, e.cls, e.rule, e.state = True, cls, None, state
                return
        if parent is not None and parent.kind == PROC and parent.exe is not None and parent.start <= e.start:
            view._pexe = parent.exe  # known already: no readlink
        match = self._rules.first_match(view)
        if match is None:
            e.cls, e.rule, e.state = None, None, "unmatched"
            return
        e.cls, e.rule = match[0], match
        if view._cmd is not _UNSET:  # read for a rule: keep it for the report
            e.cmd = (view._cmd or "")[:CMD_SHOWN]
        why = self._foreign(view)
        if why:
            e.state = f"excluded: {why}"
            return
        if self._in_place(e.pid, e.cls):
            e.state = "in place"
            return
        self._move(e, via, out)

    def _in_place(self, pid: int, cls: str) -> bool:
        """Whether ``pid`` is in ``cls``'s cgroup(s) now: asked of the
        process itself where possible, since the tick's membership snapshot
        may predate a reuse of the PID."""
        try:
            return self.placer.location(pid) == cls
        except (NotImplementedError, AttributeError):
            return pid in self._members.get(cls, ())

    def _foreign(self, view: _View) -> str | None:
        """Why a process belongs to someone else (another container), or None."""
        ids = view.ids
        if ids is None:
            return "cannot be inspected"
        if ids.ns_depth > self._own_depth:
            return "in a container (its own PID namespace)"
        if self._own_ns is not None:
            ns = self.procs.namespaces(view.pid)
            if ns is None:
                return "namespaces unreadable"
            if ns[0] != self._own_ns[0]:
                return "in another cgroup namespace"
            if ns[1] != self._own_ns[1]:
                return "in another PID namespace"
        return None

    def _move(self, e: _Entry, via: str, out: _Pass) -> None:
        cls = e.cls
        label = e.rule[2] if e.rule else None
        if self.dry_run:
            e.state = "would move"
            out.moves.append(Move(e.pid, e.exe or "", cls, label, via, dry_run=True))
            return
        # Identity again, immediately before the write: a PID reused since we
        # read the attributes must not be moved on the old process's account.
        st = self.procs.stat(e.pid)
        if st is None or st.start != e.start:
            self._forget(e)
            return
        self._fresh_stat[e.pid] = st
        if self.sticky.contains(e.pid, e.start):  # `wlmtui run` raced the scan
            e.sticky, e.rule, e.state = True, None, "sticky (wlmtui run)"
            return
        try:
            self.placer.place(e.pid, cls)
        except ProcessGone:
            self._forget(e)
            return
        except PlaceError as exc:
            e.state = f"failed: {exc}"
            self._error(out, str(exc))
            return
        e.state = "moved"
        self._note_member(e.pid, cls)
        out.moves.append(Move(e.pid, e.exe or "", cls, label, via))

    def _note_member(self, pid: int, cls: str) -> None:
        old = self._member_of.get(pid)
        if old is not None:
            self._members[old].discard(pid)
        self._members.setdefault(cls, set()).add(pid)
        self._member_of[pid] = cls
        self._members_version += 1

    def _forget(self, e: _Entry) -> None:
        if self._known.get(e.pid) is e:
            del self._known[e.pid]

    def _error(self, out: _Pass, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            out.errors.append(message)

    # -- stickiness
    def _load_sticky(self, out: _Pass) -> dict[Key, str | None]:
        try:
            self._sticky_records = self.sticky.load()
        except OSError as exc:
            self._error(out, f"cannot read sticky placements in {getattr(self.sticky, 'dir', '?')}: {exc}")
        return self._sticky_records

    def _prune_sticky(self, sticky: Mapping[Key, str | None], alive: set[int]) -> None:
        for key in list(sticky) + list(self._pinned):
            pid, start = key
            e = self._known.get(pid)
            if pid not in alive or (e is not None and e.start != start):
                self._pinned.pop(key, None)
                if key in sticky:
                    try:
                        self.sticky.remove(pid, start)
                    except OSError:
                        pass

    def pin(self, pid: int, cls: str, *, start: int | None = None, by: str = "console") -> str:
        """Move a process into ``cls`` by hand and make it sticky (the
        console's move key). ``start`` guards against a reused PID. Returns
        a line for the event log; raises ValueError when refused."""
        with self._lock:
            target = self.policy.get(cls)
            if target is None or not getattr(target, "cgroup", None):
                raise ValueError(f"no class {cls!r} with a cgroup")
            token = self.procs.token(pid)  # before stat (see on_event)
            st = self.procs.stat(pid)
            if st is None:
                raise ValueError(f"process {pid} has exited")
            if start is not None and st.start != start:
                raise ValueError(f"PID {pid} now names another process")
            if pid == self.self_pid or pid == 1 or st.kernel_thread:
                raise ValueError(f"process {pid} is {'wlmtui itself' if pid == self.self_pid else 'PID 1' if pid == 1 else 'a kernel thread'}; not moved")
            view = _View(self.procs, pid, st.ppid)
            why = self._foreign(view)
            if why:
                raise ValueError(f"process {pid} is {why}; not moved")
            if not self.dry_run:
                try:
                    self.placer.place(pid, cls)
                except ProcessGone:
                    raise ValueError(f"process {pid} has exited") from None
                except PlaceError as exc:
                    raise ValueError(str(exc)) from None
            key = (pid, st.start)
            self._pinned[key] = cls
            note = ""
            if not self.dry_run:
                try:
                    self.sticky.mark(pid, st.start, cls, by)
                except OSError as exc:
                    note = f" (not recorded on disk: {exc}; sticky until wlmtui restarts)"
            e = self._known.get(pid)
            if e is None or e.start != st.start:
                e = self._new_entry(pid, st, token)
            e.exe = view.exe
            e.sticky, e.cls, e.rule, e.state = True, cls, None, "sticky (placed by hand)"
            self._note_member(pid, cls)
            move = Move(pid, e.exe or "", cls, None, by, dry_run=self.dry_run)
            self._pending.moves.append(move)
            return move.describe() + note

    def unpin(self, pid: int) -> str:
        """Release a hand placement: the rules apply again (at once)."""
        with self._lock:
            st = self.procs.stat(pid)
            if st is None:
                raise ValueError(f"process {pid} has exited")
            key = (pid, st.start)
            self._pinned.pop(key, None)
            self._sticky_records.pop(key, None)
            if not self.dry_run:
                try:
                    self.sticky.remove(pid, st.start)
                except OSError as exc:
                    raise ValueError(f"cannot remove the sticky record: {exc}") from None
            e = self._known.get(pid)
            if e is not None and e.start == st.start and e.kind == PROC:
                e.sticky = False
                e.state = "new"
                self._evaluate(e, self._sticky_records, "unpin", self._pending)
                return f"pid {pid}: released; {e.state}{f' ({e.cls})' if e.cls else ''}"
            return f"pid {pid}: released"

    # -- the report
    def _cpu_of(self, pid: int, now: float) -> tuple[float | None, Stat | None]:
        st = self._fresh_stat.get(pid) or self.procs.stat(pid)
        if st is None:
            self._cpu.pop(pid, None)
            return None, None
        prev = self._cpu.get(pid)
        self._cpu[pid] = (st.start, st.cpu, now)
        if prev is None or prev[0] != st.start or now <= prev[2]:
            return None, st
        return max(0.0, (st.cpu - prev[1]) / self.procs.ticks_per_second / (now - prev[2])), st

    def _describe(self, pid: int, st: Stat | None) -> tuple[str, str]:
        e = self._known.get(pid)
        if e is not None and st is not None and e.start == st.start:
            if e.exe is None and e.kind != KTHREAD:
                e.exe = self.procs.exe(pid)
            if e.cmd is None:
                e.cmd = (self.procs.cmdline(pid) or "")[:CMD_SHOWN]
            return e.exe or "", e.cmd
        cached = self._info.get(pid)
        start = st.start if st is not None else -1
        if cached is None or cached[0] != start:
            cached = (start, self.procs.exe(pid) or "", (self.procs.cmdline(pid) or "")[:CMD_SHOWN])
            self._info[pid] = cached
        return cached[1], cached[2]

    def _report(self, now: float, started: float, scanned: int, new: int, full: bool, out: _Pass) -> ClassifyReport:
        member_of = self._member_of
        infos: list[ProcessInfo] = []
        if self.detail:
            mono = self.clock()
            wanted = [pid for pid, e in self._known.items() if e.cls is not None and e.kind == PROC]
            for pid in set(member_of).union(wanted):
                cpu, st = self._cpu_of(pid, mono)
                if st is None:
                    continue
                exe, cmd = self._describe(pid, st)
                e = self._known.get(pid)
                if e is not None and e.start != st.start:
                    e = None
                if e is None:
                    infos.append(ProcessInfo(pid, st.start, exe, cmd, member_of.get(pid), None, None, None,
                                             False, "no rule", cpu))
                    continue
                match = e.rule
                infos.append(ProcessInfo(
                    pid, st.start, exe, cmd, member_of.get(pid), e.cls,
                    match[2] if match else None, match[3] if match else None,
                    e.sticky, "no rule" if e.state == "unmatched" else e.state, cpu))
            keep = set(member_of).union(wanted)
            for cache in (self._cpu, self._info):
                for pid in [p for p in cache if p not in keep]:
                    del cache[pid]
            order = {c.name: i for i, c in enumerate(self.policy.classes)}
            last = len(order)
            infos.sort(key=lambda p: (order.get(p.cls or p.want or "", last), -(p.cpu or 0.0), p.pid))
        by_class: dict[str, list[ProcessInfo]] = {}
        for info in infos:  # already most CPU first within a class
            if info.cls is not None:
                by_class.setdefault(info.cls, []).append(info)
        key = (self._members_version, self.policy, self.top)
        if not self.detail and self._counts is not None and self._counts[0] == key:
            classes = self._counts[1]  # counts only, and the membership did not change
        else:
            classes = []
            for c in self.policy.classes:
                if not getattr(c, "cgroup", None):
                    continue
                mine = by_class.get(c.name, [])
                count = len(mine) if self.detail else len(self._members.get(c.name, ()))
                classes.append(ClassCount(c.name, count, tuple(mine[: self.top]), present=c.name in self._members))
            classes = tuple(classes)
            self._counts = None if self.detail else (key, classes)
        return ClassifyReport(
            time=now, scan_ms=(time.perf_counter() - started) * 1000.0, scanned=scanned, new=new, full=full,
            moved=tuple(out.moves), classes=classes, processes=tuple(infos), errors=tuple(out.errors),
            events=self._events_status, dry_run=self.dry_run, rules=len(self._rules), detail=self.detail)
