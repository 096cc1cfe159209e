"""The application side of ARM: say when a transaction starts and stops.

::

    import wlmtui.arm

    with wlmtui.arm.transaction("interactive"):      # good on normal exit, failed on an exception
        handle_request()

    h = wlmtui.arm.start("interactive")              # ARM style: start ... stop(status)
    ...
    h.stop("aborted")                                # idempotent: a second stop does nothing

    wlmtui.arm.report("interactive", 12.5)           # a response time measured elsewhere (ms)

A class of ``None`` leaves the class to the receiver, which attributes the
report by the sending process's cgroup.

Nothing here raises into the application, and nothing blocks. Each
completed transaction is one line (:mod:`wlmtui.arm.wire`) sent as one
datagram to the receiver's Unix socket (``$WLMTUI_ARM_SOCKET``, else
``/var/lib/wlmtui/arm.sock``) from a non-blocking socket connected once and
kept. When the socket is missing, refuses or is full (then for the next
millisecond too: a refused send costs more than the write), the line (with
``ts``, and ``pid`` when the class is left to the receiver) is appended to
the fallback file (``$WLMTUI_ARM_FILE``, else ``arm.jsonl`` beside the
socket) with one ``O_APPEND`` write on a descriptor kept open. The file is
re-checked at most once a second: a file replaced under us (the receiver
rotates it) is reopened, and while it is above 64 MiB (nobody reading it)
reports are dropped. A missing socket is retried at most once a second.
What could not be delivered is counted in :data:`counters`, never raised.

The state is per process: after ``os.fork()`` the child opens its own
socket and file descriptor (``os.register_at_fork``). Threads may report
concurrently; a descriptor that is replaced is closed only seconds later,
so another thread can never write to a reused descriptor number.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from time import monotonic, perf_counter, time

from wlmtui.arm.wire import MAX_LINE, MAX_MS, STATUS_TAIL, class_prefix

DEFAULT_STATE_DIR = "/var/lib/wlmtui"
SOCKET_NAME = "arm.sock"
FILE_NAME = "arm.jsonl"
SOCKET_ENV = "WLMTUI_ARM_SOCKET"
FILE_ENV = "WLMTUI_ARM_FILE"
FALLBACK_LIMIT = 64 << 20  # bytes; above this the fallback file is skipped
RECHECK_S = 1.0  # how often a missing socket is retried and the fallback file re-checked
RETIRE_S = 5.0  # a replaced descriptor is closed this long after it was replaced
BUSY_S = 0.001  # after a full socket queue, reports go straight to the file this long
LOCK_WAIT_S = 0.05  # longest wait for another thread that is (re)opening the socket or the file

_FILE_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_GONE = frozenset({errno.ECONNREFUSED, errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET, errno.EBADF,
                   errno.ENOENT, errno.EDESTADDRREQ})


class Counters:
    """What happened to this process's reports (diagnostics; never reset by the library)."""

    __slots__ = ("sent", "fallback", "dropped", "invalid")

    def __init__(self) -> None:
        self.sent = 0  # datagrams the socket took
        self.fallback = 0  # lines appended to the fallback file
        self.dropped = 0  # reports neither could take (file absent, unwritable or over the limit)
        self.invalid = 0  # bad arguments: class, ms or status

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"Counters({', '.join(f'{k}={v}' for k, v in self.as_dict().items())})"


counters = Counters()


def default_paths(state_dir: str | None = None) -> tuple[str, str]:
    """``(socket, fallback file)``: under ``state_dir`` when given, else from the environment."""
    if state_dir:
        return os.path.join(state_dir, SOCKET_NAME), os.path.join(state_dir, FILE_NAME)
    sock = os.environ.get(SOCKET_ENV) or os.path.join(DEFAULT_STATE_DIR, SOCKET_NAME)
    fallback = os.environ.get(FILE_ENV) or os.path.join(os.path.dirname(sock) or ".", FILE_NAME)
    return sock, fallback


class _Channel:
    """Where this process's reports go: the socket, else the fallback file."""

    def __init__(self, socket_path: str | None = None, fallback_file: str | None = None) -> None:
        env_sock, env_file = default_paths()
        if not socket_path:
            socket_path = env_sock
        if not fallback_file:
            fallback_file = env_file if socket_path == env_sock else \
                os.path.join(os.path.dirname(socket_path) or ".", FILE_NAME)
        self.socket_path = socket_path
        self.fallback_file = fallback_file
        self.pid = os.getpid()
        self.pid_bytes = b',"pid":%d' % self.pid
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.sock_retry_at = 0.0
        self.busy_until = 0.0  # the socket was full: until then reports go straight to the file
        self.fd = -1
        self.fd_ident: tuple[int, int] | None = None
        self.fd_check_at = 0.0
        self.full = False
        self.retired: list[tuple[float, object]] = []

    # -- the hot path ---------------------------------------------------------
    def _socket_now(self) -> bool:
        """Whether to try the socket (not while it is known to be full or absent)."""
        if self.sock is not None:
            return not self.busy_until or self.busy_until <= monotonic()
        return self.sock_retry_at <= monotonic()

    def send(self, prefix: bytes, ms: float, tail: bytes, needs_pid: bool) -> None:
        """One report: ``prefix`` from :func:`class_prefix`, ``tail`` the status part."""
        if (self.sock is not None and not self.busy_until) or self._socket_now():
            if self._to_socket(b"%s%.3f%s}\n" % (prefix, ms, tail)):
                return
        self._append(b'%s%.3f%s%s,"ts":%.3f}\n' % (prefix, ms, tail, self.pid_bytes if needs_pid else b"", time()))

    def send_line(self, line: bytes, needs_pid: bool = False) -> None:
        """A complete line (ending ``}\\n``) built elsewhere; ``ts`` (and ``pid``) are added for the file."""
        if self._socket_now():
            if self._to_socket(line):
                return
        self._append(b'%s%s,"ts":%.3f}\n' % (line[:-2], self.pid_bytes if needs_pid else b"", time()))

    def _to_socket(self, line: bytes) -> bool:
        """Send one datagram; False when it must go to the file (queue full, no receiver)."""
        sock = self.sock
        failed = None
        if sock is not None:
            try:
                sock.send(line)
                counters.sent += 1
                self.busy_until = 0.0
                return True
            except BlockingIOError:
                # the receiver's queue is full: to the file, and for a moment straight to the file
                # (a refused send costs an exception, more than the write)
                self.busy_until = monotonic() + BUSY_S
                return False
            except OSError as exc:
                if exc.errno not in _GONE:
                    return False
                failed = sock  # the receiver went away (or was restarted)
        if self._reconnect(failed):
            sock = self.sock
            if sock is not None:
                try:
                    sock.send(line)
                    counters.sent += 1
                    return True
                except OSError:
                    pass
        return False

    def _append(self, data: bytes) -> None:
        if self.fd_check_at <= monotonic():
            self._check_file()
        fd = self.fd
        if fd < 0 or self.full:
            counters.dropped += 1
            return
        try:
            os.write(fd, data)
            counters.fallback += 1
        except OSError:
            counters.dropped += 1
            self.fd_check_at = 0.0

    # -- state changes (rare; under the lock, never waiting for it) ------------
    def _retire(self, thing: object, now: float) -> None:
        self.retired.append((now + RETIRE_S, thing))

    def _close_retired(self, now: float, everything: bool = False) -> None:
        keep = []
        for deadline, thing in self.retired:
            if everything or deadline <= now:
                try:
                    os.close(thing) if isinstance(thing, int) else thing.close()  # type: ignore[attr-defined]
                except OSError:
                    pass
            else:
                keep.append((deadline, thing))
        self.retired = keep

    def _reconnect(self, failed: socket.socket | None) -> bool:
        """Replace the socket (``failed`` is the one that just failed); True when connected."""
        if not self.lock.acquire(timeout=LOCK_WAIT_S):
            return False
        try:
            now = monotonic()
            if self.sock is not failed:
                return self.sock is not None  # another thread got here first
            if failed is None and self.sock_retry_at > now:
                return False
            if self.sock is not None:
                self._retire(self.sock, now)
                self.sock = None
            self._close_retired(now)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            try:
                s.connect(self.socket_path)
            except (OSError, ValueError, TypeError):
                s.close()
                self.sock_retry_at = now + RECHECK_S
                return False
            self.sock = s
            return True
        except OSError:  # no sockets left (EMFILE ...)
            self.sock_retry_at = monotonic() + RECHECK_S
            return False
        finally:
            self.lock.release()

    def _check_file(self) -> None:
        """Once a second: follow a replaced fallback file, respect the size limit."""
        if not self.lock.acquire(timeout=LOCK_WAIT_S):
            return
        try:
            now = monotonic()
            if self.fd_check_at > now:
                return  # another thread has just checked
            self._close_retired(now)
            try:
                st = os.stat(self.fallback_file)
                ident: tuple[int, int] | None = (st.st_dev, st.st_ino)
            except (OSError, ValueError, TypeError):
                st, ident = None, None
            if self.fd >= 0 and ident == self.fd_ident and st is not None:
                self.full = st.st_size > FALLBACK_LIMIT
                return
            if self.fd >= 0:
                self._retire(self.fd, now)
                self.fd, self.fd_ident = -1, None
            try:
                fd = os.open(self.fallback_file, _FILE_FLAGS, 0o666)
            except (OSError, ValueError, TypeError):
                return
            try:
                fst = os.fstat(fd)
            except OSError:
                os.close(fd)
                return
            if not stat.S_ISREG(fst.st_mode):
                os.close(fd)
                return
            self.fd, self.fd_ident = fd, (fst.st_dev, fst.st_ino)
            self.full = fst.st_size > FALLBACK_LIMIT
        finally:
            self.fd_check_at = monotonic() + RECHECK_S
            self.lock.release()

    def close(self) -> None:
        """Close everything now (configure() and the child after a fork)."""
        if self.sock is not None:
            self._retire(self.sock, 0.0)
            self.sock = None
        if self.fd >= 0:
            self._retire(self.fd, 0.0)
            self.fd = -1
        self._close_retired(0.0, everything=True)


_channel = _Channel()


def configure(socket_path: str | None = None, fallback_file: str | None = None, *,
              state_dir: str | None = None) -> None:
    """Send to other paths from now on (default: the environment, see the module doc).

    ``state_dir`` means ``<state_dir>/arm.sock`` and ``<state_dir>/arm.jsonl``;
    a ``socket_path`` alone puts the fallback file beside it. Not needed by
    applications; the CLI and tests use it.
    """
    global _channel
    if state_dir and not socket_path:
        socket_path, default_file = default_paths(state_dir)
        fallback_file = fallback_file or default_file
    old, _channel = _channel, _Channel(socket_path, fallback_file)
    old.close()


def paths() -> tuple[str, str]:
    """``(socket, fallback file)`` this process reports to."""
    return _channel.socket_path, _channel.fallback_file


def _after_fork_in_child() -> None:
    global _channel
    old = _channel
    _channel = _Channel(old.socket_path, old.fallback_file)
    old.lock = threading.Lock()  # a lock held by another thread at fork time stays held in the child
    old.close()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------- the API

_prefixes: dict[object, bytes] = {None: class_prefix(None)}
_PREFIXES_KEPT = 1024
_INVALID = b""


def _prefix(cls: object) -> bytes:
    """The pre-encoded start of a line for ``cls`` (``b""``: not a valid class)."""
    try:
        return _prefixes[cls]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return _INVALID
    prefix = _INVALID
    if isinstance(cls, str) and cls:  # str subclasses too (StrEnum members)
        try:
            prefix = class_prefix(cls)
        except (ValueError, UnicodeError):
            prefix = _INVALID
        if len(prefix) > MAX_LINE - 64:
            prefix = _INVALID
    if len(_prefixes) < _PREFIXES_KEPT:
        _prefixes[cls] = prefix
    return prefix


def _emit(prefix: bytes, ms: float, status: str) -> None:
    tail = STATUS_TAIL.get(status) if type(status) is str else None
    if tail is None or not prefix:
        counters.invalid += 1
        return
    _channel.send(prefix, ms, tail, prefix is _NO_CLASS)


_NO_CLASS = _prefixes[None]


class Transaction:
    """A started transaction; :meth:`stop` it once (later calls do nothing).

    Also a context manager (sync and async): on a normal exit it stops with
    ``good``; when an exception escapes, with ``failed`` (``aborted`` for
    ``KeyboardInterrupt``, ``SystemExit``, cancellation and other
    ``BaseException``s that are not ``Exception``), and the exception goes
    on unchanged.
    """

    __slots__ = ("_prefix", "_start", "_open")

    def __init__(self, cls: str | None = None) -> None:
        self._prefix = _prefix(cls)
        self._open = True
        self._start = perf_counter()

    def stop(self, status: str = "good") -> None:
        """Report the transaction as completed with ``status`` (good, aborted, failed, unknown)."""
        if self._open:
            ms = (perf_counter() - self._start) * 1000.0
            self._open = False
            try:
                if 0.0 <= ms < MAX_MS:
                    _emit(self._prefix, ms, status)
                else:
                    counters.invalid += 1
            except Exception:  # never into the application
                counters.dropped += 1

    @property
    def stopped(self) -> bool:
        return not self._open

    @property
    def elapsed_ms(self) -> float:
        return (perf_counter() - self._start) * 1000.0

    def __enter__(self) -> Transaction:
        self._start = perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop("good" if exc_type is None else "failed" if issubclass(exc_type, Exception) else "aborted")
        return False

    async def __aenter__(self) -> Transaction:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return self.__exit__(exc_type, exc, tb)


def transaction(cls: str | None = None) -> Transaction:
    """``with transaction("interactive"): ...`` — timed from entering the block."""
    return Transaction(cls)


def start(cls: str | None = None) -> Transaction:
    """Start timing a transaction now; call ``.stop(status)`` when it completes."""
    return Transaction(cls)


def report(cls: str | None, ms: float, status: str = "good") -> None:
    """Report a transaction that took ``ms`` milliseconds (finite, ``0 <= ms`` < one day)."""
    try:
        if type(ms) is not float:
            if type(ms) is bool:
                raise TypeError
            ms = float(ms)
    except Exception:
        counters.invalid += 1
        return
    if not 0.0 <= ms < MAX_MS:
        counters.invalid += 1
        return
    try:
        _emit(_prefix(cls), ms, status)
    except Exception:  # never into the application
        counters.dropped += 1
