"""Where a reader stands in one append-only file of lines.

Both followers of JSON-lines files — :class:`wlmtui.tokens.tailer.CounterTailer`
(token counter files) and :class:`wlmtui.arm.tail.FallbackTail` (the ARM
fallback file) — keep, per followed file, the same position state and turn
newly read bytes into complete lines the same way. :class:`LineTail` is that
state and those mechanics:

* ``fd`` (an open descriptor, or ``None`` while the position is only known,
  e.g. restored after a restart), ``ident`` (``(st_dev, st_ino)`` of the file
  the position belongs to) and ``offset`` (the next unread byte);
* ``partial``: the bytes of an unfinished last line, waiting for their newline;
* ``skipping``: an unfinished line grew past ``max_line`` bytes, was dropped,
  and the bytes up to its newline are being dropped too.

What the callers do with the lines (parse them, count them, hand them on),
how they open files, and anything they persist stays with them.
"""

from __future__ import annotations

import os

MAX_LINE = 64 << 10  # an unfinished line longer than this is dropped (the caller counts it malformed)


class LineTail:
    """Position in one followed file, and the bytes-to-lines step (see module docs)."""

    __slots__ = ("fd", "ident", "offset", "partial", "skipping", "max_line")

    def __init__(self, fd: int | None = None, ident: tuple[int, int] | None = None, offset: int = 0,
                 *, max_line: int = MAX_LINE):
        self.fd = fd
        self.ident = ident  # (st_dev, st_ino) of the file being read
        self.offset = offset
        self.partial = b""
        self.skipping = False  # inside an over-long line: drop bytes up to the next newline
        self.max_line = max_line

    # ------------------------------------------------------------ detection

    def replaced_by(self, ident: tuple[int, int] | None) -> bool:
        """The path now names another file than the one followed (``ident`` ``None``: no file)."""
        return self.ident is not None and ident != self.ident

    def truncated(self, size: int) -> bool:
        """The file is shorter than what was already read from it."""
        return size < self.offset

    # ------------------------------------------------------------ reading

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, end: int, chunk: int) -> bytes:
        """Up to ``chunk`` bytes from ``offset`` (not past ``end``); ``offset`` moves past them."""
        data = os.pread(self.fd, min(chunk, end - self.offset), self.offset)
        self.offset += len(data)
        return data

    def feed(self, data: bytes, room: int | None = None) -> tuple[list[bytes], bool]:
        """Newly read bytes in: the complete lines (without newlines) out; the rest waits in ``partial``.

        With ``room``, at most that many lines come out: the bytes after them
        (and the unfinished line) are given back — ``offset`` moves back over
        them, to be read again. The flag is true when an unfinished line grew
        past ``max_line`` and was dropped (the caller counts it malformed); the
        bytes up to its newline are dropped as they arrive.
        """
        if self.skipping:
            nl = data.find(b"\n")
            if nl < 0:
                return [], False
            data = data[nl + 1:]
            self.skipping = False
        lines = data.split(b"\n")
        if self.partial:
            lines[0] = self.partial + lines[0]
        self.partial = lines.pop()  # bytes after the last newline (often b"")
        if room is not None and len(lines) > room:
            excess = lines[room:]
            del lines[room:]
            self.offset -= sum(map(len, excess)) + len(excess) + len(self.partial)
            self.partial = b""
        if len(self.partial) > self.max_line:
            self.partial = b""
            self.skipping = True
            return lines, True
        return lines, False

    def flush(self) -> bytes:
        """The file under an unfinished line went away: that line as it stands (``b""``: none)."""
        line = b"" if self.skipping else self.partial
        self.partial = b""
        self.skipping = False
        return line

    def rewind(self) -> bytes:
        """The file was truncated: start again at byte 0; returns :meth:`flush`'s line."""
        self.offset = 0
        return self.flush()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
