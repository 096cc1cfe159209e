"""Choose the backend for this host.

Where class cgroups live (``class.cgroup`` is always relative):

* pure v2: ``<cgroup2 mount>/<policy.cgroup_root>/<class.cgroup>``
* hybrid (v1): weights in ``<v1 cpu mount>/<root>/<class.cgroup>``, counters
  in ``<cgroup2 mount>/<root>/<class.cgroup>`` — the same relative path in
  both hierarchies.
* ``--cgroup-root DIR`` (the CLI's ``cgroup_root``) overrides the policy and
  is an absolute directory: with ``v2``/``auto`` classes live in
  ``DIR/<class.cgroup>`` — DIR may be any directory laid out like cgroupfs
  (tests use fake trees). With ``v1`` DIR must lie inside one of the two
  mounts; its path relative to that mount is then used in both.

``cgroup_root: delegated`` (or ``--cgroup-root delegated``) puts the classes
below wlmtui's own cgroup, as systemd's ``Delegate=yes`` hands it over (pure
v2 only; see :mod:`wlmtui.backends.delegated`). It is also chosen by itself
when systemd started wlmtui as a notify service (``$NOTIFY_SOCKET`` set),
the policy names no ``cgroup_root``, no ``--cgroup-root`` is given and the
host is pure v2: classes at the mount's top would break systemd's
single-writer rule there.

``policy.cgroup_root`` is relative to the mount (``wlm`` and ``/wlm`` both
mean ``<mount>/wlm``, as cgroup paths in ``/proc/PID/cgroup`` are written),
unless it is an absolute path inside the mount in question
(``/sys/fs/cgroup/wlm`` on a pure-v2 host), which is used as is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from wlmtui.backends.base import Backend, BackendError
from wlmtui.backends.cgroupfs import PROC_PRESSURE, CgroupV1HybridBackend, CgroupV2Backend
from wlmtui.backends.mounts import MOUNTINFO, CgroupMounts, find_cgroup_mounts

if TYPE_CHECKING:
    from wlmtui.policy import Policy

KINDS = ("auto", "v2", "v1", "sim")
_FALLBACK = "try --backend sim or wlmtui --demo"


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def relative_root(value: str | None, mounts: tuple[str, ...]) -> str:
    """``policy.cgroup_root`` as a path relative to the mount(s) (see module doc)."""
    if not value:
        return ""
    path = os.path.normpath(value)
    if os.path.isabs(path):
        for mount in mounts:
            if _under(path, mount):
                rel = os.path.relpath(path, mount)
                return "" if rel == "." else rel
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BackendError(f"cgroup_root {value!r} escapes the cgroup mount ('..' is not allowed)")
    return "/".join(parts)


def cpu_controller_available(v2_mount: str) -> bool:
    """Whether the cgroup2 mount offers the ``cpu`` controller (pure v2)."""
    try:
        with open(os.path.join(v2_mount, "cgroup.controllers"), encoding="ascii") as fh:
            return "cpu" in fh.read().split()
    except OSError:
        return False


def _mounts(mountinfo: str) -> CgroupMounts:
    try:
        return find_cgroup_mounts(mountinfo)
    except OSError as exc:
        raise BackendError(f"cannot read {mountinfo}: {(exc.strerror or str(exc)).lower()}; {_FALLBACK}") from None


def _v2(mounts: CgroupMounts, rel: str, proc_pressure: str) -> CgroupV2Backend:
    assert mounts.v2 is not None
    return CgroupV2Backend(os.path.join(mounts.v2, rel) if rel else mounts.v2,
                           mount=mounts.v2, proc_pressure=proc_pressure)


def _v1(mounts: CgroupMounts, rel: str, proc_pressure: str) -> CgroupV1HybridBackend:
    assert mounts.v1_cpu is not None and mounts.v2 is not None
    join = (lambda m: os.path.join(m, rel)) if rel else (lambda m: m)
    return CgroupV1HybridBackend(join(mounts.v1_cpu), join(mounts.v2), proc_pressure=proc_pressure)


def _explicit_root(kind: str, root: str, mountinfo: str, proc_pressure: str) -> Backend:
    root = os.path.abspath(root)
    if kind == "v1":
        mounts = _mounts(mountinfo)
        if mounts.v1_cpu is None or mounts.v2 is None:
            raise BackendError("--backend v1 needs a cgroup v1 cpu mount and a cgroup2 mount; "
                               f"this host lacks {'the v1 cpu mount' if mounts.v1_cpu is None else 'cgroup2'}")
        inside = tuple(m for m in (mounts.v1_cpu, mounts.v2) if _under(root, m))
        if not inside:
            raise BackendError(f"--cgroup-root {root} is not inside {mounts.v1_cpu} or {mounts.v2}")
        return _v1(mounts, relative_root(root, inside), proc_pressure)
    try:
        v2_mount = _mounts(mountinfo).v2
    except BackendError:
        v2_mount = None
    mount = v2_mount if v2_mount and _under(root, v2_mount) else None
    if mount is None and not os.path.isdir(root):
        raise BackendError(f"--cgroup-root {root} is not a directory")
    return CgroupV2Backend(root, mount=mount or root, proc_pressure=proc_pressure)


def wants_delegated(policy: Policy, cgroup_root: str | None, env=None, role: str = "tool") -> bool:
    from wlmtui.backends.delegated import DELEGATED

    if cgroup_root is not None:
        return cgroup_root == DELEGATED
    if policy.cgroup_root is not None:
        return policy.cgroup_root == DELEGATED
    return role != "tool" and bool((os.environ if env is None else env).get("NOTIFY_SOCKET"))


def select_backend(kind: str | None, policy: Policy, *, cgroup_root: str | None = None,
                   mountinfo: str = MOUNTINFO, proc_pressure: str = PROC_PRESSURE,
                   proc_self_cgroup: str | None = None, env=None, role: str = "tool") -> Backend:
    """The backend for ``kind`` (``None``: the policy's ``backend``).

    ``auto`` picks pure v2 when a cgroup2 mount offers the cpu controller,
    else the hybrid backend when a v1 cpu mount and a cgroup2 mount exist.
    ``role`` says who asks, for ``cgroup_root: delegated``: ``daemon``
    (moves itself into its leaf), ``observe`` (a dry run: looks only) or
    ``tool`` (another command: reads where the daemon recorded the root).
    The backend is not attached yet. Raises :class:`BackendError` with a
    one-line reason when nothing fits.
    """
    kind = kind or policy.backend or "auto"
    if kind not in KINDS:
        raise BackendError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "sim":
        from wlmtui.backends.sim import SimHost

        return SimHost(policy)
    delegated = wants_delegated(policy, cgroup_root, env, role)
    explicit = (cgroup_root or policy.cgroup_root) == "delegated"
    if cgroup_root and not delegated:
        return _explicit_root(kind, cgroup_root, mountinfo, proc_pressure)

    mounts = _mounts(mountinfo)
    present = tuple(m for m in (mounts.v2, mounts.v1_cpu) if m)
    v2_cpu = mounts.v2 is not None and cpu_controller_available(mounts.v2)
    if delegated and v2_cpu and kind in ("auto", "v2"):
        from wlmtui.backends.delegated import PROC_SELF_CGROUP, select_delegated

        return select_delegated(mounts.v2, proc_pressure, state_dir=policy.state_dir, role=role,
                                proc_self_cgroup=proc_self_cgroup or PROC_SELF_CGROUP)
    if explicit:
        raise BackendError("cgroup_root: delegated is for pure cgroup-v2 hosts with the v2 backend; "
                           + ("this host binds cpu to cgroup v1" if not v2_cpu else f"not with --backend {kind}")
                           + " (name a cgroup_root instead)")
    if kind == "v2":
        if mounts.v2 is None:
            raise BackendError(f"--backend v2: no cgroup2 mount in {mountinfo}; {_FALLBACK}")
        if not v2_cpu:
            raise BackendError(f"--backend v2: the cgroup2 mount {mounts.v2} has no cpu controller "
                               "(it is bound to cgroup v1 here); use --backend v1 or auto")
        return _v2(mounts, relative_root(policy.cgroup_root, (mounts.v2,)), proc_pressure)
    if kind == "v1" or not v2_cpu:
        if mounts.v2 is None or mounts.v1_cpu is None:
            lacking = " and ".join(x for x, m in (("no cgroup2 mount (for PSI)", mounts.v2),
                                                  ("no cgroup v1 cpu mount", mounts.v1_cpu)) if m is None)
            if kind == "v1":
                raise BackendError(f"--backend v1: this host has {lacking}; {_FALLBACK}")
            detail = lacking if mounts.v2 is None else f"{mounts.v2} has no cpu controller and {lacking}"
            raise BackendError(f"no usable cgroup hierarchy ({detail}); {_FALLBACK}")
        return _v1(mounts, relative_root(policy.cgroup_root, present), proc_pressure)
    return _v2(mounts, relative_root(policy.cgroup_root, (mounts.v2,)), proc_pressure)
