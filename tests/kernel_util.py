"""Real cgroups for ``kernel`` tests — uniquely named, always cleaned up.

::

    with kernel_cgroups(["fast", "slow"]) as kc:
        # kc.parent == "wlmtui-test-1a2b3c4d", relative to the cgroup mount(s):
        # use it as the policy's cgroup_root (classes "fast", "slow") or as a
        # prefix of class cgroups ("wlmtui-test-1a2b3c4d/fast").
        fast, slow = kc.spawn_busy(2)
        kc.move(fast.pid, kc.rel("fast"))
        backend = kc.backend()        # select_backend("auto") rooted at kc.parent

On a hybrid host the cgroups exist in both the v1 cpu hierarchy and the
unified (v2) one, and ``move`` writes to ``cgroup.procs`` in both. On exit —
also after a failure — the busy loops are killed and waited for, and every
directory below the parent is removed, children before parents. Only the
uniquely named parent and what lies below it is ever touched. Tests skip
(``cgroups not writable here: …``) when not root or nothing can be created.
"""

from __future__ import annotations

import errno
import os
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

import pytest

from wlmtui.backends.base import Backend
from wlmtui.backends.detect import cpu_controller_available, select_backend
from wlmtui.backends.mounts import find_cgroup_mounts
from wlmtui.policy import Policy

PREFIX = "wlmtui-test-"


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _hierarchies() -> tuple[str, ...]:
    """The mount points to build in: the v2 mount alone on a pure v2 host,
    the v1 cpu mount and the unified mount on a hybrid one."""
    mounts = find_cgroup_mounts()
    if mounts.v2 and cpu_controller_available(mounts.v2):
        return (mounts.v2,)
    if mounts.v2 and mounts.v1_cpu:
        return (mounts.v1_cpu, mounts.v2)
    pytest.skip("cgroups not writable here: no cgroup2 mount with cpu, and no hybrid v1 cpu + cgroup2")


class KernelCgroups:
    def __init__(self, parent: str, hierarchies: tuple[str, ...], pure_v2: bool) -> None:
        self.parent = parent
        self.hierarchies = hierarchies
        self.pure_v2 = pure_v2
        self.procs: list[subprocess.Popen] = []

    def rel(self, name: str) -> str:
        """A child's path relative to the mount(s)."""
        return f"{self.parent}/{name}"

    def paths(self, relpath: str) -> list[str]:
        """The directory of ``relpath`` in every hierarchy (refuses paths outside the parent)."""
        parts = relpath.strip("/").split("/")
        if parts[0] != self.parent or ".." in parts:
            raise ValueError(f"{relpath!r} is not below this test's cgroup {self.parent!r}")
        return [os.path.join(h, *parts) for h in self.hierarchies]

    def backend(self, kind: str = "auto") -> Backend:
        """A real backend whose cgroup root is the parent (attach class names as paths)."""
        return select_backend(kind, Policy(classes=(), cgroup_root=self.parent))

    def spawn_busy(self, n: int, cpu: int | None = None) -> list[subprocess.Popen]:
        """``n`` busy-looping Python processes pinned to one CPU (killed on exit):
        by default the highest CPU this test may use (benches pin their
        scenarios to CPU 0), and never one outside the test's own affinity."""
        allowed = os.sched_getaffinity(0)
        if cpu is None or cpu not in allowed:
            cpu = max(allowed)
        started = []
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            self.procs.append(proc)
            os.sched_setaffinity(proc.pid, {cpu})
            started.append(proc)
        return started

    def move(self, pid: int, relpath: str) -> None:
        """Move one process into ``relpath`` in every hierarchy."""
        for path in self.paths(relpath):
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def stop(self) -> None:
        """Kill the busy loops and wait until they are gone."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait(timeout=10)
        self.procs.clear()

    # -- setup and teardown
    def _create(self, names: Sequence[str]) -> None:
        for hierarchy in self.hierarchies:
            os.mkdir(os.path.join(hierarchy, self.parent))
            if self.pure_v2:  # children get cpu.weight only when the parent delegates cpu
                _write(os.path.join(hierarchy, self.parent, "cgroup.subtree_control"), "+cpu")
            for name in names:
                os.makedirs(os.path.join(hierarchy, self.parent, name))

    def _remove(self) -> list[str]:
        """rmdir everything below and including the parent, deepest first."""
        problems = []
        for hierarchy in self.hierarchies:
            top = os.path.join(hierarchy, self.parent)
            if not os.path.isdir(top):
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                problems.extend(_rmdir(dirpath))
        return problems


def _rmdir(path: str) -> list[str]:
    for _ in range(50):  # a just-reaped task may keep a cgroup busy for a moment
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


@contextmanager
def kernel_cgroups(names: Sequence[str] = ()) -> Iterator[KernelCgroups]:
    """Create ``wlmtui-test-<random>/<name>`` for each name in every hierarchy."""
    if os.geteuid() != 0:
        pytest.skip("cgroups not writable here: not running as root")
    hierarchies = _hierarchies()
    kc = KernelCgroups(PREFIX + secrets.token_hex(4), hierarchies, pure_v2=len(hierarchies) == 1)
    try:
        kc._create(names)
    except OSError as exc:
        kc._remove()
        pytest.skip(f"cgroups not writable here: {exc.filename or ''}: {exc.strerror}")
    try:
        yield kc
    finally:
        kc.stop()
        problems = kc._remove()
        if problems:
            raise RuntimeError(f"could not clean up test cgroups: {'; '.join(problems)}")
