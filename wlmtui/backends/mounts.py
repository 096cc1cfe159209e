"""Find the cgroup hierarchies from ``/proc/self/mountinfo``.

Mount points are never hard-coded: a host may mount cgroup v2 at
``/sys/fs/cgroup`` (pure v2), at ``/sys/fs/cgroup/unified`` (hybrid) or
anywhere else. Each mountinfo line reads::

    36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)  (4)    (5)         (6)        (7)    (8) (9)    (10)       (11)

with zero or more optional fields (7) ended by a lone ``-``. Paths escape
space, tab, newline and backslash as octal (``\\040`` …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    root: str  # the directory of the filesystem mounted here
    mount_point: str
    fstype: str
    source: str
    super_options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CgroupMounts:
    """The hierarchies wlmtui can use (``None`` where the host has none)."""

    v2: str | None  # the cgroup2 (unified) mount point
    v1_cpu: str | None  # the cgroup v1 mount carrying the ``cpu`` controller


def unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Every well-formed line of a mountinfo file; others are skipped."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        mounts.append(Mount(
            root=unescape(fields[3]),
            mount_point=unescape(fields[4]),
            fstype=fields[sep + 1],
            source=unescape(fields[sep + 2]),
            super_options=tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else (),
        ))
    return mounts


def cgroup_mounts(mounts: list[Mount]) -> CgroupMounts:
    """Pick the cgroup2 mount and the v1 mount whose options name ``cpu``.

    When a hierarchy is mounted more than once, a mount of the hierarchy's
    own root (``/``) wins over a bind mount of a sub-directory.
    """

    def first(candidates: list[Mount]) -> str | None:
        candidates = sorted(candidates, key=lambda m: m.root != "/")  # stable: keeps file order
        return candidates[0].mount_point if candidates else None

    v2 = [m for m in mounts if m.fstype == "cgroup2"]
    v1_cpu = [m for m in mounts if m.fstype == "cgroup" and "cpu" in m.super_options]
    return CgroupMounts(v2=first(v2), v1_cpu=first(v1_cpu))


def find_cgroup_mounts(path: str = MOUNTINFO) -> CgroupMounts:
    """Read ``path`` (``/proc/self/mountinfo``) and find the cgroup mounts.

    Raises :class:`OSError` when the file cannot be read.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return cgroup_mounts(parse_mountinfo(fh.read()))
