"""Who is on the other end of the control socket, and may they edit?

The kernel tells us (``SO_PEERCRED``: pid, uid, gid at connect time); a
client cannot lie about it. Root, the daemon's own uid, and members of the
policy's ``control_group:`` may edit; everyone else reads only.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import Callable

_UCRED = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Verdict:
    edit: bool
    reason: str = ""  # why not, for a read-only peer


#: (peer, control_group or None) -> Verdict; injectable for tests
PermissionCheck = Callable[[Peer, "str | None"], Verdict]


def peer_of(sock: socket.socket) -> Peer:
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return Peer(pid, uid, gid)


def _groups_of_process(pid: int) -> set[int] | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:] if g.isdigit()}
    except OSError:
        return None
    return set()


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def default_check(peer: Peer, control_group: str | None) -> Verdict:
    """Root, the daemon's own uid, or a member of ``control_group`` may edit."""
    if peer.uid == 0 or peer.uid == os.geteuid():
        return Verdict(True)
    if control_group:
        try:
            gid = grp.getgrnam(control_group).gr_gid
        except KeyError:
            gid = None
        if gid is not None:
            if peer.gid == gid:
                return Verdict(True)
            groups = _groups_of_process(peer.pid)
            if groups is None:  # the process is gone: fall back to the group database
                groups = set()
                if _user_name(peer.uid) in grp.getgrgid(gid).gr_mem:
                    groups.add(gid)
            if gid in groups:
                return Verdict(True)
        where = f"root or in group {control_group}"
    else:
        where = f"root or the daemon's user ({_user_name(os.geteuid())}); set control_group: in the policy to allow a group"
    return Verdict(False, f"read-only: your uid {peer.uid} is not {where}")
