"""One writer per host: an exclusive ``flock`` on ``<state_dir>/wlmtui.lock``.

Every mode that steers (the console, ``--no-ui``, ``--once``, also with
``--dry-run``, which still keeps token state in the state directory) takes
the lock before it touches a cgroup and holds it for the loop's life (a
dry run whose state directory cannot be written at all goes on unlocked,
with a note: it writes nothing anyway); the kernel drops it when the process ends, however it ends, so a crashed
daemon never leaves a stale lock behind. The holder's PID is written into
the file so the refusal can name it. ``wlmtui check`` and ``classify`` take
no lock: they only read.
"""

from __future__ import annotations

import errno
import fcntl
import os

LOCK_NAME = "wlmtui.lock"


class LockHeld(Exception):
    """Another process steers from this state directory."""

    def __init__(self, path: str, pid: int | None):
        self.path, self.pid = path, pid
        who = f"pid {pid}" if pid else "a process whose pid is unknown"
        super().__init__(f"another wlmtui ({who}) is steering this host's classes (lock {path}); "
                         "attach to it with `wlmtui attach` or stop it first")


class LockError(Exception):
    """The lock file could not be opened (state directory missing or not writable)."""


def lock_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOCK_NAME)


def read_holder(path: str) -> int | None:
    """The PID written in a lock file, if it holds one."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read(32).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class StateLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, state_dir: str):
        self.state_dir = state_dir
        self.path = lock_path(state_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "StateLock":
        """Take the lock or raise :class:`LockHeld` (naming the holder) / :class:`LockError`."""
        if self._fd is not None:
            return self
        try:
            os.makedirs(self.state_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LockError(f"cannot take the single-writer lock {self.path}: {exc.strerror}; "
                            "set state_dir: in the policy to a directory you can write") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeld(self.path, read_holder(self.path)) from None
            raise LockError(f"cannot lock {self.path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # the PID no longer means anything
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> "StateLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
