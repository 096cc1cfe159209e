"""Stickiness: processes placed by hand, which the classifier leaves alone.

``wlmtui run --class NAME -- CMD`` and the console's move key place a
process in a class by hand; the classifier must not move it back. Each such
process gets a record ``<state_dir>/sticky/<pid>-<start>`` (JSON: class,
who placed it, when, the command). The record names the process by PID
*and* start time, so a reused PID never inherits it. The classifier prunes
records of processes that have exited.

Descendants inherit stickiness (like ``cgexec --sticky``): a child first
seen while its sticky parent lives is left alone too.

Records are written atomically (temporary file, then rename) and only
read: no locks, any number of ``wlmtui run`` may write at once.
"""

from __future__ import annotations

import json
import os
import time
from typing import Protocol

SUBDIR = "sticky"

Key = tuple[int, int]  # (pid, start)


class StickyStore(Protocol):
    def load(self) -> dict[Key, str | None]: ...
    def mark(self, pid: int, start: int, cls: str | None, by: str, argv: list[str] | None = None) -> None: ...
    def remove(self, pid: int, start: int) -> None: ...
    def contains(self, pid: int, start: int) -> bool: ...


def _name(pid: int, start: int) -> str:
    return f"{pid}-{start}"


def _parse_name(name: str) -> Key | None:
    pid, dash, start = name.partition("-")
    if dash and pid.isdigit() and start.isdigit():
        return int(pid), int(start)
    return None


class FileStickyStore:
    """Records in ``<state_dir>/sticky``."""

    def __init__(self, state_dir: str) -> None:
        self.dir = os.path.join(state_dir, SUBDIR)
        self._cache: dict[str, str | None] = {}

    def load(self) -> dict[Key, str | None]:
        """Every record (``class`` ``None``: leave alone, not placed). Raises
        OSError only when the directory exists but cannot be read."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return {}
        out: dict[Key, str | None] = {}
        seen = set()
        for name in names:
            key = _parse_name(name)
            if key is None:
                continue
            seen.add(name)
            if name not in self._cache:
                try:
                    with open(os.path.join(self.dir, name), encoding="utf-8") as fh:
                        cls = json.load(fh).get("class")
                except (OSError, ValueError, AttributeError):
                    cls = None  # unreadable record: still leave the process alone
                self._cache[name] = cls if isinstance(cls, str) else None
            out[key] = self._cache[name]
        for stale in set(self._cache) - seen:
            del self._cache[stale]
        return out

    def mark(self, pid: int, start: int, cls: str | None, by: str, argv: list[str] | None = None) -> None:
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        name = _name(pid, start)
        record = {"pid": pid, "start": start, "class": cls, "by": by, "time": time.time()}
        if argv is not None:
            record["argv"] = list(argv)[:64]
        tmp = os.path.join(self.dir, f".{name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, os.path.join(self.dir, name))
        self._cache[name] = cls

    def remove(self, pid: int, start: int) -> None:
        try:
            os.unlink(os.path.join(self.dir, _name(pid, start)))
        except FileNotFoundError:
            pass
        self._cache.pop(_name(pid, start), None)

    def contains(self, pid: int, start: int) -> bool:
        return os.path.exists(os.path.join(self.dir, _name(pid, start)))


class MemoryStickyStore:
    """Records in memory (tests, previews)."""

    def __init__(self) -> None:
        self.records: dict[Key, str | None] = {}

    def load(self) -> dict[Key, str | None]:
        return dict(self.records)

    def mark(self, pid: int, start: int, cls: str | None, by: str, argv: list[str] | None = None) -> None:
        self.records[(pid, start)] = cls

    def remove(self, pid: int, start: int) -> None:
        self.records.pop((pid, start), None)

    def contains(self, pid: int, start: int) -> bool:
        return (pid, start) in self.records
