"""A recording opened for reading: frames by position, seeking by time.

:class:`Recording` indexes every segment of a record directory (chunk
headers only) and decodes a chunk when one of its frames is asked for (a
few decoded chunks are kept). Positions run over the whole recording,
oldest first; a daemon restart starts its tick numbers again, positions do
not. :class:`ReplaySource` stands in for the control loop when the console
shows a recording: it has what the console reads of a loop and refuses
every command.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from dataclasses import replace

from wlmtui.record.config import parse_age
from wlmtui.record.store import KIND_FRAMES, KIND_POLICY, ChunkError, ChunkRef, list_segments, read_chunk, scan_segment
from wlmtui.snapshot import Snapshot

CACHE_CHUNKS = 8


class RecordingError(Exception):
    """Nothing to replay (one line for the operator)."""


class Recording:
    def __init__(self, directory: str):
        self.dir = directory
        if not os.path.isdir(directory):
            raise RecordingError(f"no recording at {directory} (the daemon records there when record.enabled "
                                 f"is true; run `wlmtui --no-ui POLICY` first)")
        self.warnings: list[str] = []
        self._chunks: list[ChunkRef] = []  # frame chunks, oldest first
        self._policy_chunks: dict[str, list[ChunkRef]] = {}  # per segment
        self._starts: list[int] = []  # position of each frame chunk's first frame
        self._walls: list[float] = []  # first wall of each frame chunk
        self._policies: dict[tuple[str, int], object] = {}
        self._cache: OrderedDict[int, tuple] = OrderedDict()
        self.length = 0
        for path in list_segments(directory):
            index = scan_segment(path)
            self.warnings += index.warnings
            for ref in index.chunks:
                if ref.kind == KIND_POLICY:
                    self._policy_chunks.setdefault(path, []).append(ref)
                elif ref.kind == KIND_FRAMES and ref.frames > 0:
                    self._chunks.append(ref)
                    self._starts.append(self.length)
                    self._walls.append(ref.first_wall)
                    self.length += ref.frames
        if not self.length:
            more = f" ({'; '.join(self.warnings)})" if self.warnings else ""
            raise RecordingError(f"the recording at {directory} holds no ticks yet{more}")

    @property
    def first_wall(self) -> float:
        return self._chunks[0].first_wall

    @property
    def last_wall(self) -> float:
        return self._chunks[-1].last_wall

    def __len__(self) -> int:
        return self.length

    def _policy(self, path: str, pid: int):
        key = (path, pid)
        if key not in self._policies:
            for ref in self._policy_chunks.get(path, []):
                try:
                    found, policy = read_chunk(ref)
                except ChunkError as exc:
                    self._warn(str(exc))
                    continue
                self._policies[(path, found)] = policy
        return self._policies.get(key)

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _frames(self, ci: int) -> tuple:
        frames = self._cache.get(ci)
        if frames is not None:
            self._cache.move_to_end(ci)
            return frames
        ref = self._chunks[ci]
        try:
            raw = read_chunk(ref)
        except ChunkError as exc:
            self._warn(str(exc))
            raw = ()
        frames = tuple(f for pid, s in raw if (f := self._resolve(ref.path, pid, s)) is not None)
        if len(frames) != ref.frames:  # damaged: keep positions stable by repeating what is left
            frames = frames + (frames[-1:] or (None,)) * (ref.frames - len(frames))
        self._cache[ci] = frames
        if len(self._cache) > CACHE_CHUNKS:
            self._cache.popitem(last=False)
        return frames

    def _resolve(self, path: str, pid: int, snap: Snapshot) -> Snapshot | None:
        policy = self._policy(path, pid)
        if policy is None:
            self._warn(f"{os.path.basename(path)}: a chunk refers to a policy the segment lacks; skipped")
            return None
        return replace(snap, policy=policy)

    def frame(self, pos: int) -> Snapshot | None:
        """The snapshot at ``pos`` (0 … len-1); None only where a chunk was damaged beyond use."""
        if not 0 <= pos < self.length:
            raise IndexError(pos)
        ci = bisect.bisect_right(self._starts, pos) - 1
        return self._frames(ci)[pos - self._starts[ci]]

    def frames(self, start: int, stop: int) -> list[Snapshot]:
        return [s for p in range(max(0, start), min(stop, self.length)) if (s := self.frame(p)) is not None]

    def __iter__(self):
        for p in range(self.length):
            s = self.frame(p)
            if s is not None:
                yield s

    def seek(self, wall: float) -> int:
        """Position of the first tick at or after ``wall`` (the last tick when none is)."""
        ci = max(0, bisect.bisect_right(self._walls, wall) - 1)
        while ci < len(self._chunks):
            ref = self._chunks[ci]
            if ref.last_wall >= wall:
                for i, s in enumerate(self._frames(ci)):
                    if s is not None and s.wall >= wall:
                        return self._starts[ci] + i
            ci += 1
        return self.length - 1


def parse_at(text: str, first: float, last: float) -> float:
    """Epoch seconds for ``--at``: ``-10m`` (before the last tick), ``03:12``/``03:12:04`` (that time of
    day, the latest one not after the last tick, local time), or ``2026-12-08 03:12:00`` (local unless it
    names a zone). ``ValueError`` with an operator-fit message otherwise."""
    raw = text.strip()
    if raw.startswith("-"):
        try:
            return last - parse_age(raw[1:])
        except ValueError:
            raise ValueError(f"--at {text!r}: not a time before the end (try '-10m', '-2h' or '-1d')") from None
    if raw.startswith("+"):
        try:
            return first + parse_age(raw[1:])
        except ValueError:
            raise ValueError(f"--at {text!r}: not a time after the start (try '+5m')") from None
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            tod = datetime.strptime(raw, fmt).time()
        except ValueError:
            continue
        end = datetime.fromtimestamp(last)
        at = datetime.combine(end.date(), tod)
        if at > end:
            at -= timedelta(days=1)
        return at.timestamp()
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at {text!r}: not a time (try '03:12', '2026-12-08 03:12:00' or '-10m')") from None
    return stamp.timestamp()  # naive: local time


def describe_span(rec: Recording) -> str:
    fmt = "%Y-%m-%d %H:%M:%S"
    return (f"{len(rec)} ticks from {time.strftime(fmt, time.localtime(rec.first_wall))} "
            f"to {time.strftime(fmt, time.localtime(rec.last_wall))}")


class _NoBackend:
    def __init__(self, kind: str, label: str):
        self.kind, self.label = kind, label


class ReplaySource:
    """What the console reads of a control loop, for a recording. ``send`` refuses everything."""

    def __init__(self, recording: Recording, pos: int = 0):
        self.recording = recording
        self.pos = pos
        first = recording.frame(pos) or next(iter(recording), None)
        if first is None:
            raise RecordingError(f"no tick of the recording at {recording.dir} can be read: "
                                 f"{'; '.join(recording.warnings[:3])}")
        self.policy = first.policy
        self.host, self.kernel = first.host, first.kernel
        self.backend = _NoBackend(first.backend_kind, first.backend_label)
        self.dry_run = first.dry_run
        self.dirty = False
        self.tokens = None
        self.last: Snapshot | None = first
        self.refused = 0
        self._interval = first.interval

    @property
    def interval(self) -> float:
        return self.last.interval if self.last is not None else self._interval

    def wall(self) -> float:
        return self.last.wall if self.last is not None else self.recording.first_wall

    def send(self, command) -> None:  # noqa: ARG002 - nothing changes a recording
        self.refused += 1

    def prime(self) -> None:
        pass

    def close(self) -> None:
        pass
