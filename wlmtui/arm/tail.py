"""Follow the ARM fallback file: the complete lines appended since the last poll.

Clients append report lines to ``arm.jsonl`` when the socket is missing,
refusing or full; the receiver reads them here. Like
:mod:`wlmtui.tokens.tailer` this keeps a byte offset and the file's
``(st_dev, st_ino)``, keeps an unfinished last line for the next poll, and
follows truncation (the file is shorter than the offset: read it again from
byte 0) and replacement (the path names another file, or none). It differs
in what it owns:

* **History is skipped.** :meth:`FallbackTail.start` (receiver start-up)
  does not read what clients wrote while no receiver ran — old response
  times would judge today's goals — it counts those lines (``skipped``)
  and starts a fresh file.
* **It rotates the file itself.** Once it has read a file to its end past
  ``rotate_at`` bytes it unlinks it and creates an empty one (``0666``, so
  unprivileged applications can append), keeping the old descriptor open
  for ``grace`` seconds: clients re-check the path at least once a second
  (:data:`wlmtui.arm.client.RECHECK_S`) and move to the new file, and what
  they appended to the old one meanwhile is still read. So the file stays
  small while a receiver runs, and the clients' 64 MiB limit only bites
  while none does.
* Files are opened with ``O_NOFOLLOW`` and must be regular files: a symlink
  planted in the state directory is never followed.

Nothing here raises: problems are returned in :attr:`PollResult.error`.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable

CHUNK = 1 << 20  # bytes per read
MAX_LINE = 64 << 10  # an unfinished line longer than this is dropped (counted malformed)
ROTATE_AT = 8 << 20  # bytes read before the file is replaced by an empty one
GRACE_S = 3.0  # how long a replaced file is still read (clients re-check every second)
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_CREATE_FLAGS = os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


@dataclass(slots=True)
class _Open:
    fd: int
    ident: tuple[int, int]
    offset: int = 0
    partial: bytes = b""
    skipping: bool = False  # inside an over-long line: drop bytes up to the next newline


@dataclass(slots=True)
class PollResult:
    lines: list[bytes] = field(default_factory=list)  # complete lines, without their newline
    malformed: int = 0  # over-long or torn lines
    bytes_read: int = 0
    events: list[str] = field(default_factory=list)  # created, opened, replaced, truncated, rotated
    error: str | None = None


def _describe(exc: OSError, path: str) -> str:
    return f"{path}: {(exc.strerror or exc.__class__.__name__).lower()}"


class FallbackTail:
    """Incremental reader of the fallback file (see the module doc)."""

    def __init__(self, path: str, *, rotate_at: int = ROTATE_AT, grace: float = GRACE_S,
                 max_line: int = MAX_LINE, chunk: int = CHUNK, clock: Callable[[], float] = time.monotonic):
        self.path = str(path)
        self.rotate_at = rotate_at
        self.grace = grace
        self.max_line = max(1024, int(max_line))
        self.chunk = max(4096, int(chunk))
        self.clock = clock
        self.cur: _Open | None = None
        self.retiring: list[tuple[float, _Open]] = []
        self.skipped = 0  # lines found at start() and not read (written while no receiver ran)

    # ------------------------------------------------------------ files

    def _create(self) -> _Open | None:
        """A fresh empty file at the path (or the one a client created a moment ago)."""
        try:
            fd = os.open(self.path, _CREATE_FLAGS, 0o666)
        except FileExistsError:
            return self._open()
        try:
            os.fchmod(fd, 0o666)  # whatever the umask: applications of every user append to it
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        return _Open(fd, (st.st_dev, st.st_ino))

    def _open(self) -> _Open | None:
        fd = os.open(self.path, _READ_FLAGS)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            try:
                if st.st_mode & 0o777 != 0o666:
                    os.fchmod(fd, 0o666)
            except OSError:
                pass  # not ours to change: clients of other users may be refused, nothing worse
        except OSError:
            os.close(fd)
            raise
        return _Open(fd, (st.st_dev, st.st_ino))

    def _retire(self, f: _Open, grace: float | None = None) -> None:
        self.retiring.append((self.clock() + (self.grace if grace is None else grace), f))

    def start(self) -> PollResult:
        """Receiver start-up: count and skip what is in the file, begin a fresh one."""
        res = PollResult()
        self.close()
        try:
            try:
                old = self._open()
            except FileNotFoundError:
                old = None
            if old is not None:
                size = os.fstat(old.fd).st_size
                if size == 0:
                    self.cur = old
                    res.events.append("opened")
                    return res
                self.skipped += self._count_lines(old.fd, size)
                old.offset = size  # appends after this moment still count
                os.unlink(self.path)
                self._retire(old)
            self.cur = self._create()
            res.events.append("created")
        except OSError as exc:
            res.error = _describe(exc, self.path)
        return res

    def _count_lines(self, fd: int, size: int) -> int:
        n, offset = 0, 0
        while offset < size:
            data = os.pread(fd, min(self.chunk * 8, size - offset), offset)
            if not data:
                break
            n += data.count(b"\n")
            offset += len(data)
        return n

    def close(self) -> None:
        for _, f in self.retiring:
            _close(f.fd)
        self.retiring = []
        if self.cur is not None:
            _close(self.cur.fd)
            self.cur = None

    def __del__(self):  # pragma: no cover - best effort
        self.close()

    # ------------------------------------------------------------ reading

    def _consume(self, f: _Open, data: bytes, res: PollResult, budget: int) -> None:
        if f.skipping:
            nl = data.find(b"\n")
            if nl < 0:
                return
            data = data[nl + 1:]
            f.skipping = False
        parts = data.split(b"\n")
        if f.partial:
            parts[0] = f.partial + parts[0]
        f.partial = parts.pop()
        room = budget - len(res.lines)
        if len(parts) > room:  # over the budget: leave the rest in the file for the next poll
            excess = parts[room:]
            del parts[room:]
            back = sum(map(len, excess)) + len(excess) + len(f.partial)
            f.offset -= back
            res.bytes_read -= back
            f.partial = b""
        res.lines += parts
        if len(f.partial) > self.max_line:
            res.malformed += 1
            f.partial = b""
            f.skipping = True

    def _read(self, f: _Open, res: PollResult, budget: int) -> int:
        """Read ``f`` from its offset to its end (or until ``budget`` lines); the size seen."""
        size = os.fstat(f.fd).st_size
        while f.offset < size and len(res.lines) < budget:
            data = os.pread(f.fd, min(self.chunk, size - f.offset), f.offset)
            if not data:
                break
            f.offset += len(data)
            res.bytes_read += len(data)
            self._consume(f, data, res, budget)
        return size

    @staticmethod
    def _flush(f: _Open, res: PollResult) -> None:
        """The file under an unfinished line is gone: the line is judged as it stands."""
        if f.partial and not f.skipping:
            res.lines.append(f.partial)
        f.partial = b""
        f.skipping = False

    def poll(self, budget: int = 1 << 62) -> PollResult:
        """Everything new, at most ``budget`` lines (the rest waits for the next poll)."""
        res = PollResult()
        try:
            self._poll(res, budget)
        except OSError as exc:
            res.error = _describe(exc, self.path)
        return res

    def _poll(self, res: PollResult, budget: int) -> None:
        try:
            st = os.lstat(self.path)
            ident = (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None
            present = True
        except FileNotFoundError:
            ident, present = None, False
        if self.cur is not None and self.cur.ident != ident:
            res.events.append("replaced")  # unlinked or renamed by someone else: finish it in grace
            self._retire(self.cur)
            self.cur = None
        now = self.clock()
        keep = []
        for deadline, f in self.retiring:  # replaced files: clients may still finish a write into them
            try:
                size = self._read(f, res, budget)
            except OSError:
                size = -1
            if deadline <= now and (size < 0 or f.offset >= size):
                self._flush(f, res)
                _close(f.fd)
            else:
                keep.append((deadline, f))
        self.retiring = keep
        if self.cur is None:
            if present and ident is None:
                raise OSError(errno.EINVAL, "not a regular file")
            self.cur = self._open() if present else self._create()
            if self.cur is None:
                return
            res.events.append("opened" if present else "created")
        f = self.cur
        size = os.fstat(f.fd).st_size
        if size < f.offset:
            self._flush(f, res)
            f.offset = 0
            res.events.append("truncated")
        size = self._read(f, res, budget)
        if f.offset >= self.rotate_at and f.offset >= size and not f.partial:
            os.unlink(self.path)
            self._retire(f)
            self.cur = None
            res.events.append("rotated")
            self.cur = self._create()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
