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

The position and the bytes-to-lines step are :class:`wlmtui.linetail.LineTail`
(one per file: the current one and each retiring one).

Nothing here raises: problems are returned in :attr:`PollResult.error`.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable

from wlmtui.linetail import MAX_LINE, LineTail

CHUNK = 1 << 20  # bytes per read
ROTATE_AT = 8 << 20  # bytes read before the file is replaced by an empty one
GRACE_S = 3.0  # how long a replaced file is still read (clients re-check every second)
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_CREATE_FLAGS = os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


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
        self.cur: LineTail | None = None
        self.retiring: list[tuple[float, LineTail]] = []
        self.skipped = 0  # lines found at start() and not read (written while no receiver ran)

    # ------------------------------------------------------------ files

    def _create(self) -> LineTail | None:
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
        return LineTail(fd, (st.st_dev, st.st_ino), max_line=self.max_line)

    def _open(self) -> LineTail | None:
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
        return LineTail(fd, (st.st_dev, st.st_ino), max_line=self.max_line)

    def _retire(self, f: LineTail, grace: float | None = None) -> None:
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
                size = old.size()
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
            f.close()
        self.retiring = []
        if self.cur is not None:
            self.cur.close()
            self.cur = None

    def __del__(self):  # pragma: no cover - best effort
        self.close()

    # ------------------------------------------------------------ reading

    def _read(self, f: LineTail, res: PollResult, budget: int) -> int:
        """Read ``f`` from its offset to its end (or until ``budget`` lines); the size seen."""
        size = f.size()
        while f.offset < size and len(res.lines) < budget:
            start = f.offset
            data = f.read(size, self.chunk)
            if not data:
                break
            # over the budget, the rest is given back to the file for the next poll
            lines, dropped = f.feed(data, budget - len(res.lines))
            res.bytes_read += f.offset - start
            res.lines += lines
            if dropped:  # an unfinished line over max_line
                res.malformed += 1
        return size

    @staticmethod
    def _judge_unfinished(line: bytes, res: PollResult) -> None:
        """The file under an unfinished line is gone: the line is judged as it stands."""
        if line:
            res.lines.append(line)

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
        if self.cur is not None and self.cur.replaced_by(ident):
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
                self._judge_unfinished(f.flush(), res)
                f.close()
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
        if f.truncated(f.size()):
            self._judge_unfinished(f.rewind(), res)
            res.events.append("truncated")
        size = self._read(f, res, budget)
        if f.offset >= self.rotate_at and f.offset >= size and not f.partial:
            os.unlink(self.path)
            self._retire(f)
            self.cur = None
            res.events.append("rotated")
            self.cur = self._create()
