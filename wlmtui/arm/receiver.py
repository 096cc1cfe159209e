"""The loop's side of ARM: collect the transactions applications reported.

::

    rx = ArmReceiver(f"{policy.state_dir}/arm.sock", f"{policy.state_dir}/arm.jsonl",
                     attribute=CgroupAttributor.from_policy(policy))
    rx.set_classes(c.name for c in policy.classes)
    batch = rx.drain(now)          # once per tick: ArmBatch, never raises
    batch.per_class["interactive"] # (Completion(seconds, status, ts), ...)
    rx.close()

**Socket.** A Unix datagram socket, bound here (a stale socket file is
replaced; a live receiver's is not), mode ``0666`` so applications of every
user can report, ``SO_PASSCRED`` so each datagram carries the sender's pid.
Linux queues only ``net.unix.max_dgram_qlen`` datagrams on a Unix datagram
socket — 10 by default, 512 where systemd sets it — whatever ``SO_RCVBUF``
says, and a non-blocking client whose datagram does not fit goes to the
fallback file. So a **reader thread** (``reader=True``, the default) takes
datagrams off the socket as they arrive, parses them and holds the
completions until :meth:`ArmReceiver.drain` (so a drain costs little more
than a swap); when it holds ``max_per_drain`` reports it stops reading until
the next drain, the kernel queue fills, and clients write to the fallback
file instead: back-pressure, not loss. ``attribute`` is called from that
thread.
:meth:`drain` also reads the socket itself until ``EAGAIN`` (the only reading
with ``reader=False``).

**Fallback file.** Tailed every drain by :class:`wlmtui.arm.tail.FallbackTail`
(history skipped at start-up and counted as ``dropped``; rotated by the
receiver once read).

**Parsing** (:mod:`wlmtui.arm.wire`): a fast path for the shapes clients
write, :func:`json.loads` for the rest; every line is counted exactly once as
a completion, ``malformed``, ``unknown_class`` or ``unattributed``.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from wlmtui.arm.tail import FallbackTail
from wlmtui.arm.wire import _STATUS_OF, MAX_MS, NOT_FAST, TS_LIMIT, Completion, _fast_match, _names, parse_line_fast, \
    parse_line_slow

SUN_PATH_MAX = 107  # bytes of a Unix socket path (108 with the terminating NUL)
RCVBUF = 4 << 20
RECV_SIZE = 1 << 16  # bytes per datagram read; a longer datagram is malformed
BURST = 512  # datagrams the reader thread reads before handing them over
UNKNOWN_NAMES_KEPT = 16
_ANC = socket.CMSG_SPACE(12)  # struct ucred: pid, uid, gid
_CLASS_FIRST = (b'{"class":"', b'{"class": "')
_new = tuple.__new__


class ArmError(Exception):
    """The receiver cannot start (one line, fit for a warning); run without ARM."""


@dataclass(frozen=True, slots=True)
class ArmBatch:
    """What one :meth:`ArmReceiver.drain` collected.

    ``received`` counts report lines read (socket and file); each is either a
    completion in ``per_class``, or ``malformed``, ``unknown_class`` (a class
    not in :meth:`ArmReceiver.set_classes`) or ``unattributed`` (no class and
    no class cgroup holds the sender). ``dropped`` counts reports lost before
    they could be read: lines the fallback file held when the receiver started.
    """

    per_class: Mapping[str, tuple[Completion, ...]] = field(default_factory=lambda: MappingProxyType({}))
    malformed: int = 0
    unknown_class: int = 0
    unattributed: int = 0
    received: int = 0
    dropped: int = 0
    from_file: int = 0  # of ``received``: lines read from the fallback file
    unknown_names: tuple[tuple[str, int], ...] = ()  # a few unknown class names and their counts
    events: tuple[str, ...] = ()  # fallback file: created, opened, replaced, truncated, rotated
    error: str | None = None  # a problem reading (the socket or the fallback file), for the log

    @property
    def completions(self) -> int:
        return sum(len(v) for v in self.per_class.values())

    def seconds(self, cls: str) -> tuple[float, ...]:
        """Response times (s) of ``cls``'s completions, any status."""
        return tuple(c.seconds for c in self.per_class.get(cls, ()))


def _creds_pid(ancdata: list) -> int | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder, signed=True)
    return None


def _is_live(path: str) -> bool:
    """Whether a receiver is bound at ``path``: a datagram connect succeeds (refused: stale)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        probe.connect(path)
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError as exc:
        raise ArmError(f"cannot tell whether the ARM socket {path} is in use: {_why(exc)}") from None
    finally:
        probe.close()


def _why(exc: OSError) -> str:
    return (exc.strerror or exc.__class__.__name__).lower()


class ArmReceiver:
    """Receives transaction reports (see the module doc).

    ``attribute(pid) -> class | None`` attributes reports without a class
    (:class:`wlmtui.arm.attribute.CgroupAttributor`); ``None`` leaves them
    unattributed. ``classes`` (or :meth:`set_classes`) names the known
    classes; ``None`` accepts any. Raises :class:`ArmError` when the socket
    cannot be bound; a fallback file that cannot be used is only reported
    (in the batches' ``error``).
    """

    def __init__(self, socket_path: str, fallback_file: str | None = None, *,
                 attribute: Callable[[int], str | None] | None = None, max_per_drain: int = 200_000,
                 classes: Iterable[str] | None = None, reader: bool = True):
        self.socket_path = os.fspath(socket_path)
        self.fallback_file = None if fallback_file is None else os.fspath(fallback_file)
        self.attribute = attribute
        self.max_per_drain = max(1, int(max_per_drain))
        self._known: frozenset[str] | None = None if classes is None else frozenset(classes)
        self.totals = dict.fromkeys(("received", "completions", "malformed", "unknown_class", "unattributed",
                                     "dropped", "from_file"), 0)
        self._cond = threading.Condition()
        self._acc = _Acc(attribute)
        self._error: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._startup_dropped = 0
        self._startup_events: tuple[str, ...] = ()
        self._startup_error: str | None = None
        self.tail: FallbackTail | None = None
        self._sock, self._ident = self._bind(self.socket_path)
        try:
            if self.fallback_file:
                self.tail = FallbackTail(self.fallback_file)
                started = self.tail.start()
                self._startup_dropped = self.tail.skipped
                self._startup_events = tuple(started.events)
                self._startup_error = started.error
            if reader:
                self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._thread = threading.Thread(target=self._read_loop, name="wlmtui-arm-reader", daemon=True)
                self._thread.start()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ binding

    @staticmethod
    def _bind(path: str) -> tuple[socket.socket, tuple[int, int]]:
        encoded = os.fsencode(path)
        if len(encoded) > SUN_PATH_MAX:
            raise ArmError(f"ARM socket path {path} is {len(encoded)} bytes; Unix sockets allow at most "
                           f"{SUN_PATH_MAX} (use a shorter state_dir)")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ArmError(f"cannot create the directory of the ARM socket {directory}: {_why(exc)}") from None
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise ArmError(f"cannot inspect the ARM socket {path}: {_why(exc)}") from None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise ArmError(f"{path} exists and is not a socket; remove it to receive ARM reports")
            if _is_live(path):
                raise ArmError(f"another receiver is already bound to the ARM socket {path}")
            try:
                os.unlink(path)  # stale: left by a receiver that died
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ArmError(f"cannot remove the stale ARM socket {path}: {_why(exc)}") from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise ArmError(f"cannot bind the ARM socket {path}: {_why(exc)}") from None
        try:
            os.chmod(path, 0o666)  # applications of every user may report
            st = os.stat(path)
        except OSError as exc:
            sock.close()
            raise ArmError(f"cannot open up the ARM socket {path}: {_why(exc)}") from None
        for option, value in ((socket.SO_RCVBUF, RCVBUF), (socket.SO_PASSCRED, 1)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, value)
            except OSError:
                pass
        return sock, (st.st_dev, st.st_ino)

    # ------------------------------------------------------------ configuration

    def set_classes(self, names: Iterable[str] | None) -> None:
        """The known classes (after a policy load or reload); ``None`` accepts any name."""
        self._known = None if names is None else frozenset(names)

    @property
    def classes(self) -> frozenset[str] | None:
        return self._known

    @property
    def attribute(self) -> Callable[[int], str | None] | None:
        return self._attribute

    @attribute.setter
    def attribute(self, fn: Callable[[int], str | None] | None) -> None:
        """A new attributor (after a reload); used from now on."""
        self._attribute = fn
        acc = getattr(self, "_acc", None)
        if acc is not None:
            acc.attribute = fn
            acc.pids = {}

    # ------------------------------------------------------------ reading the socket

    def _recv_into(self, out: list, limit: int) -> tuple[int, str | None]:
        """Read up to ``limit`` datagrams without blocking into ``out``: ``(datagrams, error)``.

        Items: ``bytes`` (one line that names its class), ``(bytes, sender
        pid)`` (anything else), ``None`` (a datagram longer than RECV_SIZE).
        """
        recvmsg = self._sock.recvmsg
        append = out.append
        n = 0
        while n < limit:
            try:
                data, anc, flags, _ = recvmsg(RECV_SIZE, _ANC)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as exc:
                return n, f"ARM socket {self.socket_path}: {_why(exc)}"
            n += 1
            if flags & socket.MSG_TRUNC:
                append(None)
            elif data.startswith(_CLASS_FIRST) and data.find(b"\n", 0, len(data) - 1) < 0:
                append(data)  # one line with its class: the pid is not needed
            else:
                append((data, _creds_pid(anc)))
        return n, None

    def _read_loop(self) -> None:
        """The reader thread: take datagrams off the socket as they come, parse them."""
        assert self._wake is not None
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        wake = self._wake[0]
        burst: list = []
        while not self._closed:
            with self._cond:
                while not self._closed and self._acc.received >= self.max_per_drain:
                    self._cond.wait(0.5)  # full: the kernel queue fills, clients use the fallback file
                room = self.max_per_drain - self._acc.received
            if self._closed:
                break
            try:
                ready = poller.poll()
            except InterruptedError:
                continue
            if any(fd == wake for fd, _ in ready):
                break
            try:
                _, error = self._recv_into(burst, max(1, min(BURST, room)))
            except Exception:  # noqa: BLE001 - the socket was closed under us
                break
            if burst:
                with self._cond:
                    self._acc.datagrams(burst)
                burst.clear()
            if error is not None:
                self._error = error
                if self._closed:
                    break
                time.sleep(0.05)  # do not spin on a broken socket

    # ------------------------------------------------------------ the drain

    def _new_acc(self) -> _Acc:
        return _Acc(self._attribute)

    def drain(self, now: float | None = None) -> ArmBatch:
        """Everything reported since the previous drain (never blocks for long, never raises).

        ``now`` is accepted for symmetry with the other per-tick sources and
        is not needed: completions carry the report's ``ts`` or ``None``.
        """
        if self._closed:
            return ArmBatch()
        with self._cond:
            acc, self._acc = self._acc, self._new_acc()
            self._cond.notify_all()
        errors: list[str] = []
        if self._error:
            errors.append(self._error)
            self._error = None
        budget = self.max_per_drain - acc.received
        if budget > 0:
            items: list = []
            _, error = self._recv_into(items, budget)
            if error:
                errors.append(error)
            acc.datagrams(items)
        events: tuple[str, ...] = ()
        from_file = 0
        if self.tail is not None:
            budget = self.max_per_drain - acc.received
            if budget > 0:
                polled = self.tail.poll(budget)
                before = acc.received
                acc.lines(polled.lines)
                acc.malformed += polled.malformed
                acc.received += polled.malformed
                from_file = acc.received - before
                events = tuple(polled.events)
                if polled.error:
                    errors.append(f"ARM fallback file {polled.error}")
        dropped, self._startup_dropped = self._startup_dropped, 0
        if self._startup_events or self._startup_error:
            events = self._startup_events + events
            if self._startup_error:
                errors.insert(0, f"ARM fallback file {self._startup_error}")
            self._startup_events, self._startup_error = (), None
        known = self._known
        per_class: dict[str, tuple[Completion, ...]] = {}
        unknown = 0
        unknown_names: dict[str, int] = {}
        for cls, bucket in acc.per_class.items():
            if known is None or cls in known:
                per_class[cls] = tuple(bucket)
            else:
                unknown += len(bucket)
                if len(unknown_names) < UNKNOWN_NAMES_KEPT:
                    unknown_names[cls] = len(bucket)
        batch = ArmBatch(
            per_class=MappingProxyType(per_class), malformed=acc.malformed, unknown_class=unknown,
            unattributed=acc.unattributed, received=acc.received, dropped=dropped, from_file=from_file,
            unknown_names=tuple(sorted(unknown_names.items())), events=events,
            error="; ".join(errors) if errors else None,
        )
        t = self.totals
        t["received"] += batch.received
        t["completions"] += batch.received - batch.malformed - unknown - batch.unattributed
        t["malformed"] += batch.malformed
        t["unknown_class"] += unknown
        t["unattributed"] += batch.unattributed
        t["dropped"] += dropped
        t["from_file"] += from_file
        return batch

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Stop reading, close the socket and remove its file (when it is still ours). Idempotent."""
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._wake is not None:
            try:
                os.write(self._wake[1], b"x")
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(2.0)
        try:
            st = os.lstat(self.socket_path)
            if (st.st_dev, st.st_ino) == self._ident:
                os.unlink(self.socket_path)
        except OSError:
            pass
        self._sock.close()
        if self._wake is not None:
            for fd in self._wake:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._wake = None
        if self.tail is not None:
            self.tail.close()

    def __enter__(self) -> ArmReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001
            pass


class _Acc:
    """One drain period's reports: completions per class (any class name) and counts.

    The known-class filter is applied per class at drain time, so a
    :meth:`ArmReceiver.set_classes` takes effect at once.
    """

    __slots__ = ("attribute", "per_class", "malformed", "unattributed", "received", "pids")

    def __init__(self, attribute: Callable[[int], str | None] | None):
        self.attribute = attribute
        self.per_class: dict[str, list] = {}
        self.malformed = self.unattributed = self.received = 0
        self.pids: dict[int, str | None] = {}  # attribution, cached for this drain period

    def _attribute(self, pid: int | None) -> str | None:
        if pid is None or self.attribute is None:
            return None
        try:
            return self.pids[pid]
        except KeyError:
            pass
        try:
            name = self.attribute(pid)
        except Exception:  # noqa: BLE001 - a failing attributor must not stop the receiver
            name = None
        if name is not None and type(name) is not str:
            name = None
        self.pids[pid] = name
        return name

    def line(self, line: bytes, sender: int | None = None) -> None:
        rec = parse_line_fast(line)
        if rec is NOT_FAST:
            rec = parse_line_slow(line)
            if rec == "blank":
                return
        self.received += 1
        if rec is None:
            self.malformed += 1
            return
        cls = rec[0]  # type: ignore[index]
        if cls is None:
            pid = rec[4]  # type: ignore[index]
            cls = self._attribute(pid)
            if cls is None and sender is not None and sender != pid:
                cls = self._attribute(sender)
            if cls is None:
                self.unattributed += 1
                return
        completion = _new(Completion, rec[1:4])  # type: ignore[index]
        bucket = self.per_class.get(cls)
        if bucket is None:
            self.per_class[cls] = [completion]
        else:
            bucket.append(completion)

    def lines(self, lines: Iterable, sender: int | None = None) -> None:
        """Lines, or one-line datagrams (``bytes``), ``(bytes, sender)`` and ``None`` items.

        The common shapes — a class, ``ms``, perhaps ``status`` and ``ts``,
        no ``pid`` — are handled inline (the same regular expression and checks as
        :func:`wlmtui.arm.wire.parse_line_fast`); everything else goes
        through :meth:`line`.
        """
        match = _fast_match
        names = _names
        status_of = _STATUS_OF
        per_class = self.per_class
        line = self.line
        new = _new
        fast = 0
        for item in lines:
            if type(item) is bytes:
                m = match(item)
                if m is not None:
                    raw_cls, raw_ms, status, raw_pid, raw_ts = m.groups()
                    if raw_pid is None:
                        cls = names.get(raw_cls)  # type: ignore[arg-type]
                        ms = float(raw_ms)
                        ts = None if raw_ts is None else float(raw_ts)
                        if cls is not None and 0.0 <= ms < MAX_MS and (ts is None or 0.0 <= ts < TS_LIMIT):
                            completion = new(Completion, (ms / 1000.0 + 0.0, status_of[status], ts))
                            bucket = per_class.get(cls)
                            if bucket is None:
                                per_class[cls] = [completion]
                            else:
                                bucket.append(completion)
                            fast += 1
                            continue
                line(item, sender)
            elif item is None:
                self.received += 1
                self.malformed += 1
            else:
                data, pid = item
                if data.find(b"\n", 0, len(data) - 1) < 0:
                    line(data, pid)
                else:
                    for part in data.split(b"\n"):
                        line(part, pid)
        self.received += fast

    datagrams = lines
