"""Follow one counter file: read only what is new, survive rotation and truncation.

:class:`CounterTailer` keeps the byte offset of the next unread byte, the
file's ``(st_dev, st_ino)``, the first bytes of the file (to notice a file
truncated and refilled past the old offset between two polls) and the bytes
of an unfinished last line. Every :meth:`CounterTailer.poll`:

1. notices **rotation** — the path now names another file (or none). The old
   file's remaining bytes are read first: from the descriptor kept open since
   the previous poll, or, after a restart, from a file in the same directory
   that still has the old inode (``counters.jsonl.1``). Then the new file is
   read from byte 0;
2. notices **truncation** — the file is shorter than the offset, or its first
   bytes changed — and reads it again from byte 0;
3. reads the new bytes in large chunks and hands complete lines to
   :mod:`wlmtui.tokens.parse`. A last line without its newline waits for the
   next poll; when the file is rotated or truncated under it, it is parsed as
   it stands (a complete JSON record counts; a torn one is malformed).

The position and the bytes-to-lines step are :class:`wlmtui.linetail.LineTail`;
this module adds the rewrite check, the search for a rotated file after a
restart, the parsing and the persisted state.

Nothing here raises for a missing, unreadable or garbled file: problems come
back in :class:`PollResult` (``error``, ``malformed``, ``events``).
:meth:`CounterTailer.export_state` / :meth:`CounterTailer.import_state`
round-trip the position through a JSON-safe dict.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
from dataclasses import dataclass
from typing import Mapping

from wlmtui.linetail import MAX_LINE, LineTail
from wlmtui.tokens.parse import Tally, Usage, parse_lines

CHUNK = 8 << 20  # bytes per read while catching up
HEAD = 64  # bytes remembered at the file start and before the offset, to detect rewrites


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll found. ``counted`` usage falls in its class's window;
    ``late`` usage has a ``ts`` before the window start passed to the poll."""

    path: str
    counted: tuple[Usage, ...] = ()
    late: tuple[Usage, ...] = ()
    lines: int = 0
    malformed: int = 0
    unknown: int = 0
    unknown_classes: tuple[tuple[str, int], ...] = ()
    bytes_read: int = 0
    events: tuple[str, ...] = ()  # "opened", "rotated", "truncated", "missing", "lost-rotated"
    error: str | None = None
    missing: bool = False

    def tokens_by_class(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in self.counted:
            out[u.cls] = out.get(u.cls, 0) + u.tokens
        return out


def _describe(exc: OSError) -> str:
    return f"{exc.strerror or exc.__class__.__name__}" + (f": {exc.filename}" if exc.filename else "")


class CounterTailer:
    """Incremental reader of one JSON-lines counter file (see module docs)."""

    def __init__(self, path: str, *, chunk_size: int = CHUNK, max_line: int = MAX_LINE):
        self.path = str(path)
        self.chunk_size = max(4096, int(chunk_size))
        self.max_line = max(1024, int(max_line))
        # fd (open between polls), (st_dev, st_ino), offset, unfinished line, over-long skipping
        self._file = LineTail(max_line=self.max_line)
        self.head = b""
        self.mark = b""  # the last HEAD bytes before ``offset``
        # running totals since this tailer's state began (persisted with it)
        self.total_lines = 0
        self.total_malformed = 0
        self.total_unknown = 0

    @property
    def offset(self) -> int:
        """Byte offset of the next unread byte."""
        return self._file.offset

    @property
    def ident(self) -> tuple[int, int] | None:
        """``(st_dev, st_ino)`` of the file being read."""
        return self._file.ident

    @property
    def partial(self) -> bytes:
        """The bytes of an unfinished last line."""
        return self._file.partial

    @property
    def skipping(self) -> bool:
        """Inside an over-long line: bytes up to the next newline are dropped."""
        return self._file.skipping

    # ------------------------------------------------------------ state

    def export_state(self) -> dict:
        return {
            "path": self.path,
            "offset": self.offset,
            "dev": None if self.ident is None else self.ident[0],
            "inode": None if self.ident is None else self.ident[1],
            "partial": base64.b64encode(self.partial).decode("ascii"),
            "head": base64.b64encode(self.head).decode("ascii"),
            "mark": base64.b64encode(self.mark).decode("ascii"),
            "skipping": self.skipping,
            "lines": self.total_lines,
            "malformed": self.total_malformed,
            "unknown": self.total_unknown,
        }

    def import_state(self, state: Mapping) -> None:
        """Resume from :meth:`export_state` output; a bad dict leaves a fresh tailer."""
        self.close()
        try:
            offset = int(state.get("offset", 0))
            dev, ino = state.get("dev"), state.get("inode")
            ident = (int(dev), int(ino)) if dev is not None and ino is not None else None
            partial = base64.b64decode(state.get("partial", "") or "", validate=True)
            head = base64.b64decode(state.get("head", "") or "", validate=True)
            mark = base64.b64decode(state.get("mark", "") or "", validate=True)
            totals = [int(state.get(k, 0)) for k in ("lines", "malformed", "unknown")]
        except (TypeError, ValueError, AttributeError):
            return
        if offset < 0 or len(mark) > offset:
            return
        f = self._file
        f.offset, f.ident, f.partial = offset, ident, partial[: self.max_line]
        self.head, self.mark = head[:HEAD], mark[-HEAD:] if mark else b""
        f.skipping = bool(state.get("skipping", False))
        self.total_lines, self.total_malformed, self.total_unknown = totals

    def close(self) -> None:
        self._file.close()

    def __del__(self):  # pragma: no cover - best effort
        if hasattr(self, "_file"):
            self.close()

    # ------------------------------------------------------------ reading

    @staticmethod
    def _judge_unfinished(line: bytes, tally: Tally) -> None:
        """The file under an unfinished line went away or was cut: judge the line as it is."""
        if line:
            tally.add_line(line)

    def _read_to_end(self, tally: Tally, limit: int | None = None) -> int:
        """Read the open file from ``offset`` to its current end (or ``limit``); bytes read."""
        f = self._file
        end = f.size() if limit is None else limit
        total = 0
        while f.offset < end:
            data = f.read(end, self.chunk_size)
            if not data:
                break
            total += len(data)
            self.mark = data[-HEAD:] if len(data) >= HEAD else (self.mark + data)[-HEAD:]
            lines, dropped = f.feed(data)
            if lines:
                parse_lines(lines, tally)
            if dropped:  # an unfinished line over max_line
                tally.lines += 1
                tally.malformed += 1
        if len(self.head) < HEAD and f.offset > len(self.head):
            self.head = os.pread(f.fd, min(HEAD, f.offset), 0)
        return total

    def _reset_position(self) -> None:
        self._file.offset = 0
        self.head = self.mark = b""
        self._file.ident = None

    def _rewritten(self, fd: int) -> bool:
        """The bytes we remember at the start and before the offset changed."""
        if self.head and os.pread(fd, len(self.head), 0) != self.head:
            return True
        if self.mark and os.pread(fd, len(self.mark), self._file.offset - len(self.mark)) != self.mark:
            return True
        return False

    def _drain_lost(self, tally: Tally, events: list[str]) -> int:
        """After a restart the path names a new file: finish the old one if it is still nearby."""
        f = self._file
        if f.ident is None:
            return 0
        dev, ino = f.ident
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            with os.scandir(directory) as entries:
                candidates = [e.path for e in entries if e.inode() == ino]
        except OSError:
            candidates = []
        for candidate in candidates:
            try:
                fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
                    continue
                if f.truncated(st.st_size) or self._rewritten(fd):
                    continue
                f.fd = fd  # the old file, found again: read it from where we were
                read = self._read_to_end(tally)
                events.append("rotated")
                return read
            finally:
                f.fd = None
                os.close(fd)
        events.append("lost-rotated")
        return 0

    def poll(self, classes: Mapping[str, float] | None = None) -> PollResult:
        """Read everything new.

        ``classes`` maps each class to count to its window start: records with
        an older ``ts`` come back as ``late``; records of classes not in the
        mapping are counted as unknown. ``None`` counts every class.
        """
        tally = Tally(classes)
        events: list[str] = []
        error: str | None = None
        read = 0
        missing = False
        f = self._file
        try:
            try:
                st = os.stat(self.path)
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "not a regular file", self.path)
                current = (st.st_dev, st.st_ino)
            except FileNotFoundError:
                current = None
                missing = True
            # 1. rotation: the path no longer names the file we were reading
            if f.replaced_by(current):
                if f.fd is not None:
                    read += self._read_to_end(tally)
                    self.close()
                    events.append("rotated")
                else:  # restarted since: look for the old file under another name
                    read += self._drain_lost(tally, events)
                self._judge_unfinished(f.flush(), tally)
                self._reset_position()
            if current is None:
                events.append("missing")
                return self._result(tally, read, events, None, missing=True)
            # 2. open (first poll, after rotation, or after a restart)
            if f.fd is None:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                fst = os.fstat(fd)
                opened = (fst.st_dev, fst.st_ino)
                if f.replaced_by(opened):
                    # replaced between stat and open: next poll handles the rotation
                    os.close(fd)
                    return self._result(tally, read, events, None)
                f.fd = fd
                if f.ident is None:
                    self._reset_position()
                    f.ident = opened
                    events.append("opened")
            # 3. truncation (shorter than our offset, or the bytes we remember changed)
            size = f.size()
            if f.truncated(size) or self._rewritten(f.fd):
                self._judge_unfinished(f.rewind(), tally)
                self.head = self.mark = b""
                events.append("truncated")
            read += self._read_to_end(tally, limit=max(size, f.offset))
        except OSError as exc:
            error = _describe(exc)
            if exc.errno not in (errno.EINTR, errno.EAGAIN):
                self.close()
        return self._result(tally, read, events, error, missing=missing)

    def _result(self, tally: Tally, read: int, events: list[str], error: str | None, missing: bool = False) -> PollResult:
        self.total_lines += tally.lines
        self.total_malformed += tally.malformed
        self.total_unknown += tally.unknown
        return PollResult(
            path=self.path,
            counted=tally.usage(),
            late=tally.usage(late=True),
            lines=tally.lines,
            malformed=tally.malformed,
            unknown=tally.unknown,
            unknown_classes=tuple(sorted(tally.unknown_names.items())),
            bytes_read=read,
            events=tuple(events),
            error=error,
            missing=missing,
        )
