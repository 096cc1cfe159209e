"""Which class a process reports for: its cgroup, read from ``/proc/PID/cgroup``.

A report without ``class`` is attributed to the class whose cgroup holds the
sending process (the receiver learns the pid from the socket credentials,
or from the report's ``pid``). ``/proc/PID/cgroup`` lists one line per
hierarchy; the unified (v2) one is ``0::/path``, and on hybrid hosts the v1
``cpu`` controller has its own line (``4:cpu,cpuacct:/path``). The v2 line
is tried first, then the ``cpu`` line; a path that lies below a class's
cgroup (a sub-cgroup) belongs to that class. A process that has exited, or
whose file cannot be read, is not attributed (``None``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from wlmtui.policy import Policy

_DELETED = " (deleted)"


def proc_cgroup_paths(text: str) -> tuple[str | None, str | None]:
    """``/proc/PID/cgroup`` text → ``(v2 path, v1 cpu path)``; ``None`` where absent."""
    v2 = cpu = None
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, sep, path = rest.partition(":")
        if not sep:
            continue
        if path.endswith(_DELETED):
            path = path[: -len(_DELETED)]
        if hid == "0" and controllers == "":
            v2 = path
        elif cpu is None and "cpu" in controllers.split(","):
            cpu = path
    return v2, cpu


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p and p != ".")


class CgroupAttributor:
    """``attribute(pid) -> class name | None`` by the process's cgroup.

    ``class_cgroups`` maps class names to their cgroups, relative to the
    cgroup root (``ServiceClass.cgroup``; ``wlmtui.loop.cgroup_map(policy)``).
    ``root`` is the cgroup root relative to the cgroup mount, as
    ``/proc/PID/cgroup`` writes paths (``"wlm"`` for classes in
    ``/sys/fs/cgroup/wlm/<cgroup>``; ``""`` for classes directly under the
    mount); then a process matches a class when its path is
    ``/<root>/<cgroup>`` or lies below it. ``root=None`` (root unknown, e.g.
    inside a container's cgroup namespace) matches a class whose cgroup is
    the *end* of the process's path or of one of its ancestors — the deepest
    ancestor first, the longest class path first. ``proc`` is the procfs
    root (tests pass a fake tree).
    """

    def __init__(self, class_cgroups: Mapping[str, str], *, root: str | None = None, proc: str = "/proc"):
        self.proc = proc
        self.root: tuple[str, ...] | None = None
        self._by_path: dict[tuple[str, ...], str] = {}
        self._depth = 0
        self.configure(class_cgroups, root=root)

    def configure(self, class_cgroups: Mapping[str, str], *, root: str | None | object = ...) -> None:
        """New classes (after a policy reload); ``root`` unchanged unless given."""
        if root is not ...:
            self.root = None if root is None else _parts(str(root))
        by_path: dict[tuple[str, ...], str] = {}
        for name, rel in class_cgroups.items():
            parts = _parts(rel or "")
            if parts and ".." not in parts:
                by_path[(self.root or ()) + parts if self.root is not None else parts] = name
        self._by_path = by_path
        self._depth = max((len(p) for p in by_path), default=0)

    @classmethod
    def from_policy(cls, policy: Policy, *, proc: str = "/proc", mountinfo: str | None = None) -> CgroupAttributor:
        """The classes of ``policy``, with its ``cgroup_root`` made relative to the mount.

        An absolute ``cgroup_root`` outside every cgroup mount (a fake tree)
        leaves the root unknown (``root=None``).
        """
        classes = {c.name: c.cgroup for c in policy.classes if c.cgroup}
        raw = policy.cgroup_root
        root: str | None = "" if not raw else raw
        if raw == "delegated":  # below the daemon's own cgroup: match by suffix
            root = None
        elif raw and raw.startswith("/"):
            root = None
            try:
                from wlmtui.backends.detect import relative_root
                from wlmtui.backends.mounts import MOUNTINFO, find_cgroup_mounts

                mounts = find_cgroup_mounts(mountinfo or MOUNTINFO)
                present = tuple(m for m in (mounts.v2, mounts.v1_cpu) if m)
                if any(os.path.normpath(raw) == m or os.path.normpath(raw).startswith(m.rstrip("/") + "/")
                       for m in present):
                    root = relative_root(raw, present)
            except Exception:  # noqa: BLE001 - fall back to matching by suffix
                root = None
        return cls(classes, root=root, proc=proc)

    def lookup(self, path: str) -> str | None:
        """The class of a cgroup path as ``/proc/PID/cgroup`` writes it."""
        parts = _parts(path)
        by_path = self._by_path
        if self.root is not None:
            for end in range(min(len(parts), self._depth), 0, -1):
                name = by_path.get(parts[:end])
                if name is not None:
                    return name
            return None
        for end in range(len(parts), 0, -1):
            for start in range(max(0, end - self._depth), end):
                name = by_path.get(parts[start:end])
                if name is not None:
                    return name
        return None

    def __call__(self, pid: int) -> str | None:
        try:
            with open(f"{self.proc}/{int(pid)}/cgroup", "rb") as fh:
                text = fh.read(65536).decode("utf-8", "replace")
        except (OSError, ValueError):
            return None
        for path in proc_cgroup_paths(text):
            if path is not None:
                name = self.lookup(path)
                if name is not None:
                    return name
        return None
