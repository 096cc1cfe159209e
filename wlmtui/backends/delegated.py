"""Classes below wlmtui's own delegated cgroup (pure cgroup v2 under systemd).

systemd owns the cgroup tree and expects one writer per subtree: a service
with ``Delegate=yes`` gets its own cgroup (``/system.slice/wlmtui.service``)
to manage, and nothing else. So under systemd the classes live there:

    <mount>/system.slice/wlmtui.service/            the delegated root
    <mount>/system.slice/wlmtui.service/supervisor  wlmtui itself
    <mount>/system.slice/wlmtui.service/<class>     each class (cpu enabled)

cgroup v2 lets no cgroup hold processes while it passes controllers to
children, so wlmtui first moves every process of its own cgroup into the
``supervisor`` leaf, then enables ``+cpu`` in the root's subtree_control
(the backend does that when it creates a class). If wlmtui already runs in
a leaf called ``supervisor`` (systemd 254+ ``DelegateSubgroup=supervisor``)
the root is its parent and nothing needs moving.

Only the daemon moves anything, and only from a systemd service's cgroup
(one whose name ends in ``.service``): run from a login shell it refuses
rather than move the shell. It records the root in ``<state_dir>/
delegated-root``; the other commands (``wlmtui classify``, ``wlmtui run``)
read it there instead of looking at their own cgroup.

On exit the root's ``cpu`` controller is handed back (``-cpu``), so systemd
can start the next instance in the unit's cgroup again; class processes
keep running (``KillMode=process``), unweighted until wlmtui is back.
"""

from __future__ import annotations

import errno
import os

from wlmtui.backends.base import BackendError
from wlmtui.backends.cgroupfs import CgroupV2Backend

PROC_SELF_CGROUP = "/proc/self/cgroup"
LEAF = "supervisor"
#: the spellings that ask for the delegated root (policy ``cgroup_root:`` or ``--cgroup-root``)
DELEGATED = "delegated"


def own_cgroup(proc_self_cgroup: str = PROC_SELF_CGROUP) -> str | None:
    """This process's cgroup-v2 path (the ``0::`` line), or None without one."""
    try:
        with open(proc_self_cgroup, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                hid, _, rest = line.rstrip("\n").partition(":")
                controllers, _, path = rest.partition(":")
                if hid == "0" and controllers == "":
                    return path
    except OSError as exc:
        raise BackendError(f"cgroup_root: delegated: cannot read {proc_self_cgroup}: "
                           f"{(exc.strerror or str(exc)).lower()}") from None
    return None


RECORD = "delegated-root"


def delegated_root(mount: str, proc_self_cgroup: str = PROC_SELF_CGROUP) -> tuple[str, bool]:
    """The delegated root directory, and whether wlmtui still has to move into its leaf."""
    own = own_cgroup(proc_self_cgroup)
    if own is None:
        raise BackendError(f"cgroup_root: delegated needs cgroup v2 (no '0::' line in {proc_self_cgroup})")
    own = own.removesuffix(" (deleted)")
    if own in ("", "/"):
        raise BackendError("cgroup_root: delegated: wlmtui runs in the root cgroup, which nobody delegated to it; "
                           "start it from its systemd unit (Delegate=yes) or set cgroup_root")
    parts = [p for p in own.split("/") if p]
    in_leaf = parts[-1] == LEAF
    rel = "/".join(parts[:-1] if in_leaf else parts)
    if not rel.endswith(".service"):
        raise BackendError(f"cgroup_root: delegated: wlmtui runs in {own}, not in a systemd service's cgroup; "
                           "start it from wlmtui.service (Delegate=yes) or set cgroup_root")
    return os.path.join(mount, rel), not in_leaf


def record(state_dir: str, root: str) -> None:
    """Write the root for the other commands (temp + rename)."""
    path = os.path.join(state_dir, RECORD)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(state_dir, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(root + "\n")
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def recorded_root(state_dir: str, mount: str) -> str:
    path = os.path.join(state_dir, RECORD)
    try:
        with open(path, encoding="utf-8") as fh:
            root = fh.read().strip()
    except OSError:
        raise BackendError(f"cgroup_root: delegated: {path} does not tell where the daemon keeps the classes; "
                           "start wlmtui.service first") from None
    if not (root == mount or root.startswith(mount.rstrip("/") + "/")) or not os.path.isdir(root):
        raise BackendError(f"cgroup_root: delegated: {path} names {root!r}, which is not a cgroup under {mount}")
    return root


def move_into_leaf(root: str) -> list[int]:
    """Move every process of ``root`` into ``root/supervisor``; returns the pids moved."""
    leaf = os.path.join(root, LEAF)
    try:
        os.makedirs(leaf, exist_ok=True)
        with open(os.path.join(root, "cgroup.procs"), encoding="ascii") as fh:
            pids = [int(p) for p in fh.read().split()]
    except OSError as exc:
        raise BackendError(f"cgroup_root: delegated: cannot prepare {leaf}: {(exc.strerror or str(exc)).lower()} "
                           "(is Delegate=yes set in the unit?)") from None
    moved = []
    for pid in pids:
        try:
            with open(os.path.join(leaf, "cgroup.procs"), "a", encoding="ascii") as fh:
                fh.write(f"{pid}\n")
            moved.append(pid)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                continue  # it exited meanwhile
            raise BackendError(f"cgroup_root: delegated: cannot move process {pid} into {leaf}: "
                               f"{(exc.strerror or str(exc)).lower()}") from None
    return moved


class DelegatedV2Backend(CgroupV2Backend):
    """The v2 backend rooted at wlmtui's delegated cgroup; it hands ``cpu`` back on close."""

    def __init__(self, root: str, *, mount: str, proc_pressure: str, moved: list[int]) -> None:
        super().__init__(root, mount=mount, proc_pressure=proc_pressure)
        self.moved = moved
        self.label = f"cgroup v2, delegated ({self.root})"

    def attach(self, cgroups, *, create: bool = True) -> list[str]:
        clash = sorted(n for n, rel in cgroups.items() if rel.strip("/").split("/")[0] in (LEAF, ".control"))
        if clash:
            raise BackendError(f"class(es) {', '.join(clash)}: the cgroups '{LEAF}' and '.control' below the "
                               "delegated root belong to wlmtui and systemd; choose another cgroup path")
        return super().attach(cgroups, create=create)

    def _create(self, cg) -> None:
        """Like the v2 backend, but never writes above the delegated root: the
        cgroups above it are systemd's, and Delegate=yes has enabled cpu there."""
        try:
            with open(os.path.join(self.root, "cgroup.controllers"), encoding="ascii") as fh:
                delegated = fh.read().split()
        except OSError as exc:
            raise BackendError(f"{cg.name}: cannot read {self.root}/cgroup.controllers: "
                               f"{(exc.strerror or str(exc)).lower()}") from None
        if "cpu" not in delegated:
            raise BackendError(f"{cg.name}: the cpu controller is not delegated to {self.root} "
                               "(set Delegate=yes in the unit)")
        self._makedirs(cg.name, cg.weight_dir)
        ancestor = self.root
        for part in os.path.relpath(cg.weight_dir, self.root).split(os.sep):
            self._enable_cpu(cg.name, ancestor)
            ancestor = os.path.join(ancestor, part)

    def close(self) -> None:
        super().close()
        path = os.path.join(self.root, "cgroup.subtree_control")
        try:
            with open(path, encoding="ascii") as fh:
                enabled = {c.lstrip("+") for c in fh.read().split()}  # a fake tree keeps "+cpu"
            if "cpu" in enabled:
                with open(path, "w", encoding="ascii") as fh:
                    fh.write("-cpu")
        except OSError:
            pass  # best effort: a class may still pass cpu on; systemd then reports why it cannot start us


#: who asks: the daemon (moves itself, records the root), the daemon in a
#: dry run (looks only), or another command (reads the record)
ROLES = ("daemon", "observe", "tool")


def select_delegated(mount: str, proc_pressure: str, *, state_dir: str, role: str = "tool",
                     proc_self_cgroup: str = PROC_SELF_CGROUP) -> DelegatedV2Backend:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "tool":
        return DelegatedV2Backend(recorded_root(state_dir, mount), mount=mount, proc_pressure=proc_pressure,
                                  moved=[])
    root, must_move = delegated_root(mount, proc_self_cgroup)
    moved = []
    if role == "daemon":
        if must_move:
            moved = move_into_leaf(root)
        record(state_dir, root)
    return DelegatedV2Backend(root, mount=mount, proc_pressure=proc_pressure, moved=moved)
