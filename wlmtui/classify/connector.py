"""The Linux proc connector: exec (and uid/gid change) events as they happen.

A ``NETLINK_CONNECTOR`` socket subscribed to ``CN_IDX_PROC`` receives a
``struct proc_event`` for every fork, exec, id change and exit on the host.
The classifier listens for exec, uid and gid events (when CKRM classified
a task) and places the process at once; the periodic scan stays the safety
net for everything the connector cannot deliver (missed events when the
socket buffer overflows, or no connector at all: it needs CAP_NET_ADMIN and
the initial PID namespace).

Layout (``include/uapi/linux/cn_proc.h``, native byte order)::

    nlmsghdr   16 bytes  len u32, type u16, flags u16, seq u32, pid u32
    cn_msg     20 bytes  idx u32, val u32, seq u32, ack u32, len u16, flags u16
    proc_event           what u32, cpu u32, timestamp_ns u64, event_data …
        exec:            process_pid u32, process_tgid u32
        uid/gid:         process_pid, process_tgid, real id, effective id
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from typing import NamedTuple

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

PROC_EVENT_NONE = 0x0
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_UID = 0x4
PROC_EVENT_GID = 0x40
PROC_EVENT_EXIT = 0x80000000

_NLMSG = struct.Struct("=IHHII")
_CNMSG = struct.Struct("=IIIIHH")
_EVHEAD = struct.Struct("=IIQ")
_PAIR = struct.Struct("=II")
_HEAD = _NLMSG.size + _CNMSG.size  # 36
_DATA = _HEAD + _EVHEAD.size  # 52
RCVBUF = 4 << 20

KINDS = {PROC_EVENT_EXEC: "exec", PROC_EVENT_UID: "uid", PROC_EVENT_GID: "gid",
         PROC_EVENT_FORK: "fork", PROC_EVENT_EXIT: "exit"}


class ConnectorUnavailable(Exception):
    """No proc connector here (permission, namespace, kernel); says why."""


class ProcEvent(NamedTuple):
    kind: str  # exec / uid / gid / fork / exit / overrun
    pid: int  # the process (thread group id); for fork: the child
    ts_ns: int = 0


def _control(op: int) -> bytes:
    payload = struct.pack("=I", op)
    cn = _CNMSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0)
    return _NLMSG.pack(_NLMSG.size + len(cn) + len(payload), NLMSG_DONE, 0, 0, 0) + cn + payload


def parse(data: bytes) -> list[ProcEvent]:
    """Every event in one datagram (a datagram may carry several messages)."""
    out = []
    offset = 0
    while offset + _DATA <= len(data):
        length = _NLMSG.unpack_from(data, offset)[0]
        if length < _DATA or offset + length > len(data):
            break
        idx, val = _CNMSG.unpack_from(data, offset + _NLMSG.size)[:2]
        if (idx, val) == (CN_IDX_PROC, CN_VAL_PROC):
            what, _cpu, ts = _EVHEAD.unpack_from(data, offset + _HEAD)
            body = offset + _DATA
            if what == PROC_EVENT_FORK and length >= _DATA + 16:
                _ppid, _ptgid, child_pid, child_tgid = struct.unpack_from("=IIII", data, body)
                if child_pid == child_tgid:  # a new process, not a new thread
                    out.append(ProcEvent("fork", child_tgid, ts))
            elif what in KINDS and length >= _DATA + 8:
                _pid, tgid = _PAIR.unpack_from(data, body)
                out.append(ProcEvent(KINDS[what], tgid, ts))
            elif what == PROC_EVENT_NONE and length >= _DATA + 4:
                err = struct.unpack_from("=I", data, body)[0]  # event_data.ack.err
                out.append(ProcEvent("ack", err, ts))
        offset += (length + 3) & ~3
    return out


class ProcConnector:
    """A subscribed proc-connector socket. :meth:`read` waits for events."""

    def __init__(self, *, ack_timeout: float = 1.0) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except (OSError, AttributeError) as exc:
            raise ConnectorUnavailable(f"no netlink connector socket: {_why(exc)}") from None
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind((0, CN_IDX_PROC))
            sock.send(_control(PROC_CN_MCAST_LISTEN))
            self._wait_ack(sock, ack_timeout)
        except ConnectorUnavailable:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise ConnectorUnavailable(f"cannot subscribe to process events: {_why(exc)}") from None
        self.sock = sock
        self.overruns = 0

    @staticmethod
    def _wait_ack(sock: socket.socket, timeout: float) -> None:
        sock.settimeout(timeout)
        try:
            while True:
                for ev in parse(sock.recv(65536)):
                    if ev.kind == "ack":
                        if ev.pid:
                            raise ConnectorUnavailable(f"subscription refused: {os.strerror(ev.pid).lower()} "
                                                       "(needs CAP_NET_ADMIN in the initial namespaces)")
                        return
                    return  # events are flowing: subscribed (an old kernel may not ack)
        except socket.timeout:
            raise ConnectorUnavailable("no answer to the subscription (not in the initial PID namespace?)") from None
        finally:
            sock.settimeout(None)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, timeout: float | None = None) -> list[ProcEvent]:
        """Events available within ``timeout`` seconds (``[]`` on timeout).
        A socket overflow yields one ``overrun`` event: some were lost."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return []
        out: list[ProcEvent] = []
        while True:
            try:
                data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    out.append(ProcEvent("overrun", 0))
                    continue
                raise
            out.extend(parse(data))

    def close(self) -> None:
        try:
            self.sock.send(_control(PROC_CN_MCAST_IGNORE))
        except OSError:
            pass
        self.sock.close()


def _why(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc)).lower()
