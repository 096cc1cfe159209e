"""Real cgroups for the benches: uniquely named, always cleaned up.

::

    with bench_cgroups(["interactive", "batch"]) as bc:
        p = bc.spawn([sys.executable, "-c", "while True: pass"], into="batch", cpu=1)
        bc.set_weight("batch", 100)
        bc.usage_usec("batch")

The parent is ``wlmtui-bench-<random>`` directly below the cgroup mount(s):
on a pure v2 host below the cgroup2 mount, on a hybrid host below the v1
``cpu`` mount *and* the unified mount (the same relative path in both, as
wlmtui's hybrid backend expects). Only that parent and what lies below it is
ever created, written or removed.

On exit — normal, exception, Ctrl-C, or SIGTERM/SIGHUP (turned into
``SystemExit`` while the context is active) — every process the bench
started is killed and waited for, then every directory is removed deepest
first. ``python -m bench --cleanup`` removes what a SIGKILLed bench left
behind (processes in ``wlmtui-bench-*`` cgroups are killed first).
"""

from __future__ import annotations

import sys

import errno
import os
import secrets
import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from wlmtui.backends.cgroupfs import weight_to_shares
from wlmtui.backends.detect import cpu_controller_available
from wlmtui.backends.mounts import find_cgroup_mounts

PREFIX = "wlmtui-bench-"


class NoCgroups(Exception):
    """Real cgroups cannot be used here (not root, no suitable mounts)."""


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def layout() -> tuple[str, tuple[str, ...], str]:
    """``(kind, hierarchies, counter_mount)``: ``("v2", (v2,), v2)`` on a pure
    v2 host, ``("v1", (v1_cpu, v2), v2)`` on a hybrid one. Raises NoCgroups."""
    if os.geteuid() != 0:
        raise NoCgroups("not running as root")
    mounts = find_cgroup_mounts()
    if mounts.v2 and cpu_controller_available(mounts.v2):
        return "v2", (mounts.v2,), mounts.v2
    if mounts.v2 and mounts.v1_cpu:
        return "v1", (mounts.v1_cpu, mounts.v2), mounts.v2
    raise NoCgroups("no cgroup2 mount with the cpu controller, and no hybrid v1 cpu + cgroup2 pair")


def available() -> str | None:
    """``None`` when real cgroups can be used, else the reason why not."""
    try:
        layout()
    except NoCgroups as exc:
        return str(exc)
    return None


class BenchCgroups:
    def __init__(self, kind: str, hierarchies: tuple[str, ...], counter_mount: str) -> None:
        self.kind = kind
        self.hierarchies = hierarchies
        self.counter_mount = counter_mount
        self.parent = PREFIX + secrets.token_hex(4)
        self.procs: list[subprocess.Popen] = []

    # -- paths
    def dirs(self, name: str = "") -> list[str]:
        if ".." in name.split("/"):
            raise ValueError(name)
        return [os.path.join(h, self.parent, name) if name else os.path.join(h, self.parent) for h in self.hierarchies]

    def counter_dir(self, name: str) -> str:
        return os.path.join(self.counter_mount, self.parent, name)

    def weight_path(self, name: str) -> str:
        return os.path.join(self.hierarchies[0], self.parent, name, "cpu.weight" if self.kind == "v2" else "cpu.shares")

    # -- setup
    def create(self, names: Sequence[str]) -> None:
        for h in self.hierarchies:
            top = os.path.join(h, self.parent)
            if not os.path.isdir(top):
                os.mkdir(top)
                if self.kind == "v2":
                    _write(os.path.join(top, "cgroup.subtree_control"), "+cpu")
        for name in names:
            for d in self.dirs(name):
                os.makedirs(d, exist_ok=True)

    def move(self, pid: int, name: str) -> None:
        for d in self.dirs(name):
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def spawn(self, argv: list[str], *, into: str | None = None, cpu: int | None = None,
              **popen) -> subprocess.Popen:
        """Start a process (own session, so a terminal's Ctrl-C reaches only
        the bench, which then cleans up in order), pin it, move it."""
        popen.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, start_new_session=True, **popen)
        self.procs.append(proc)
        if cpu is not None:
            os.sched_setaffinity(proc.pid, {cpu})
        if into is not None:
            self.move(proc.pid, into)
        return proc

    def set_weight(self, name: str, weight: int) -> None:
        text = str(weight) if self.kind == "v2" else str(weight_to_shares(weight))
        _write(self.weight_path(name), text)

    def set_parent_weight(self, weight: int) -> None:
        """The parent's weight against its siblings (the rest of the host)."""
        name = "cpu.weight" if self.kind == "v2" else "cpu.shares"
        text = str(weight) if self.kind == "v2" else str(weight_to_shares(weight))
        _write(os.path.join(self.hierarchies[0], self.parent, name), text)

    def usage_usec(self, name: str) -> int:
        with open(os.path.join(self.counter_dir(name), "cpu.stat"), encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value)
        raise RuntimeError(f"no usage_usec in {self.counter_dir(name)}/cpu.stat")

    def pressure_usec(self, name: str, resource: str = "cpu") -> tuple[int, int]:
        """``some`` and ``full`` ``total=`` of the class's ``<resource>.pressure`` (µs)."""
        with open(os.path.join(self.counter_dir(name), f"{resource}.pressure"), encoding="ascii") as fh:
            lines = fh.read().splitlines()
        some = int(lines[0].rsplit("total=", 1)[1])
        full = int(lines[1].rsplit("total=", 1)[1]) if len(lines) > 1 and lines[1].startswith("full") else 0
        return some, full

    # -- teardown
    def stop(self, procs: Sequence[subprocess.Popen] | None = None) -> None:
        """Kill (SIGKILL) and reap the given processes (default: all started)."""
        targets = list(self.procs if procs is None else procs)
        for p in targets:
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in targets:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if p in self.procs:
                self.procs.remove(p)

    def remove(self) -> list[str]:
        problems: list[str] = []
        for top in self.dirs():
            problems.extend(remove_tree(top))
        return problems


def _kill_members(directory: str) -> None:
    for dirpath, _dirs, _files in os.walk(directory):
        try:
            with open(os.path.join(dirpath, "cgroup.procs"), encoding="ascii") as fh:
                pids = [int(x) for x in fh.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _rmdir(path: str) -> list[str]:
    for _ in range(100):  # a just-reaped task may keep a cgroup busy for a moment
        try:
            os.rmdir(path)
            return []
        except FileNotFoundError:
            return []
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return [f"{path}: {exc.strerror}"]
            time.sleep(0.02)
    return [f"{path}: still busy"]


def remove_tree(top: str) -> list[str]:
    """rmdir ``top`` and everything below it, deepest first."""
    if not os.path.isdir(top):
        return []
    problems: list[str] = []
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        problems.extend(_rmdir(dirpath))
    return problems


def leftovers() -> list[str]:
    """Every ``wlmtui-bench-*`` cgroup directory left on this host."""
    try:
        _kind, hierarchies, _ = layout()
    except NoCgroups:
        return []
    found = []
    for h in hierarchies:
        try:
            found += [os.path.join(h, n) for n in sorted(os.listdir(h)) if n.startswith(PREFIX)]
        except OSError:
            pass
    return found


def cleanup_leftovers() -> list[str]:
    """Kill processes in, and remove, ``wlmtui-bench-*`` cgroups (what a
    SIGKILLed bench left behind). Returns what was removed."""
    tops = leftovers()
    for top in tops:
        _kill_members(top)
    time.sleep(0.1)
    problems = []
    for top in tops:
        problems += remove_tree(top)
    if problems:
        raise RuntimeError("; ".join(problems))
    return tops


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise SystemExit so ``finally`` runs."""
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, _exit)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def bench_cgroups(names: Sequence[str] = ()) -> Iterator[BenchCgroups]:
    """Create ``wlmtui-bench-<random>/<name>`` in every hierarchy; remove it all on exit."""
    kind, hierarchies, counter_mount = layout()
    bc = BenchCgroups(kind, hierarchies, counter_mount)
    with terminate_as_exit():
        try:
            bc.create(names)
            yield bc
        finally:
            # Signals arriving during cleanup must not abort it.
            old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            try:
                bc.stop()
                problems = bc.remove()
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
            if problems:
                raise RuntimeError(f"could not clean up bench cgroups: {'; '.join(problems)}")


def run_bench(main, argv=None) -> int:
    """Run a bench's ``main``; Ctrl-C ends it cleanly (its cgroups are gone by then)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted: processes stopped and bench cgroups removed", file=sys.stderr)
        return 130


def run_quietly(name: str, once, args, span: str):
    """Run one strategy (``once(attempt) -> (run, result)``) until other tenants
    leave the pinned CPU alone, at most ``args.retries`` more times; the last
    try is kept and marked NOISY when none was quiet."""
    import time

    for attempt in range(1, args.retries + 2):
        run, r = once(attempt)
        r["noisy"] = r["foreign_max"] > args.max_foreign
        if not r["noisy"]:
            break
        print(f"  {name}: other tenants took {r['foreign_max']:.0%} of CPU {args.cpu} in {span} "
              f"(> {args.max_foreign:.0%})" + ("; retrying in 15 s" if attempt <= args.retries else
                                              "; keeping this run, marked NOISY"), flush=True)
        if attempt <= args.retries:
            time.sleep(15)
    return run, r
