"""The record store: segment files of compressed chunks of snapshots.

A segment ``<dir>/YYYYmmddTHHMMSS.wrec`` (UTC time of its first tick) is a
short file header followed by append-only chunks. Each chunk is a fixed
header (kind, payload length, CRC-32, first/last tick, first/last wall time,
frame count) and a zstd-compressed :mod:`wlmtui.snapcodec` blob:

* a *policy* chunk ``(policy_id, Policy)``, written when the loop's policy
  changes (by identity, then equality) and at the start of every segment;
* a *frames* chunk: a tuple of ``(policy_id, snapshot)`` with the snapshot's
  policy replaced by ``None``, so the policy is stored once per change and
  the repetition across ticks of a chunk compresses.

A reader walks the chunk headers only (``seek`` past each payload) to build
an index, so ``--at`` decodes one chunk, not the recording. A chunk is
written whole with one ``write`` when ``flush`` seconds (wall time of the
snapshots) or :data:`MAX_FRAMES` frames have gathered, and fsynced: a crash
loses at most the unflushed frames. A torn last chunk is skipped with a
counted warning. A new segment starts past ``segment_size`` or
``segment_age``; retention then deletes the oldest segments until the store
is within ``max_size`` and none ended longer than ``max_age`` ago (ages are
measured on snapshot wall times, so an injected clock governs them).

What is recorded is a snapshot as published, minus each class's raw
per-transaction response times (``ClassMeasure.rt_samples``) unless
``record.samples`` is true: their distribution (count, percentiles,
buckets) stays in ``perf.distribution``, which is what the console and
``--json`` show. :func:`recorded_form` is that exact transformation.
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from dataclasses import dataclass, replace
from typing import Iterable

import zstandard

from wlmtui import snapcodec
from wlmtui.policy import Policy
from wlmtui.record.config import RecordConfig
from wlmtui.snapshot import Snapshot

MAGIC = b"wlmtui-rec/1\n"
SUFFIX = ".wrec"
#: chunk header: magic, kind, payload length, crc32, first tick, last tick, first wall, last wall, frames
_HEAD = struct.Struct("<4sBIIqqddI")
_CHUNK = b"WRCH"
KIND_POLICY, KIND_FRAMES = 1, 2
MAX_FRAMES = 600
#: zstd level: 9 is both smaller and cheaper than zlib's 6 on snapshots (bench/record_cost.py)
LEVEL = 9
_NAME_RE = re.compile(r"^(\d{8}T\d{6})(?:-(\d+))?\.wrec$")


class StoreError(Exception):
    """The store cannot be written (one line for the operator)."""


def recorded_form(snap: Snapshot, samples: bool = False) -> Snapshot:
    """The snapshot as the store keeps it (raw response-time samples dropped unless ``samples``)."""
    if samples or not any(c.measure is not None and c.measure.rt_samples for c in snap.decision.classes):
        return snap
    classes = tuple(c._replace(measure=replace(c.measure, rt_samples=()))
                    if c.measure is not None and c.measure.rt_samples else c for c in snap.decision.classes)
    return replace(snap, decision=replace(snap.decision, classes=classes))


def segment_name(wall: float, n: int = 0) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(wall))
    return f"{stamp}{'-' + str(n) if n else ''}{SUFFIX}"


def segment_start(name: str) -> float | None:
    """The UTC start time in a segment's file name (None: not a segment)."""
    match = _NAME_RE.match(name)
    if not match:
        return None
    return _utc(match.group(1))


def _utc(stamp: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S")))


def list_segments(directory: str) -> list[str]:
    """Segment paths, oldest first (names sort by time)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(_utc(m.group(1)), int(m.group(2) or 0), n) for n in names if (m := _NAME_RE.match(n))]
    return [os.path.join(directory, n) for _, _, n in sorted(found)]


# -- writing -----------------------------------------------------------------------------
class StoreWriter:
    """Appends snapshots to the store; call :meth:`add` per tick and :meth:`close` at the end.

    Not thread-safe: one thread (the recorder's writer thread, or a test) owns it.
    """

    def __init__(self, config: RecordConfig):
        self.config = config
        self.dir = config.dir
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the record directory {self.dir}: {exc.strerror or exc}") from None
        self._frames: list[tuple[int, Snapshot]] = []
        self._file = None
        self.path: str | None = None
        self._segment_wall = 0.0
        self._size = 0
        self._policy: Policy | None = None
        self._policy_id = 0
        self._policy_written = False
        self.chunks = 0
        self.bytes = 0
        self.frames = 0
        self.deleted: list[str] = []
        self._compressor = zstandard.ZstdCompressor(level=LEVEL)

    def add(self, snap: Snapshot) -> None:
        policy = snap.policy
        if policy is not self._policy and policy != self._policy:
            if self._frames:
                self._flush()
            self._policy = policy
            self._policy_id += 1
            self._policy_written = False
        self._frames.append((self._policy_id, replace(recorded_form(snap, self.config.samples), policy=None)))
        first = self._frames[0][1].wall
        if len(self._frames) >= MAX_FRAMES or snap.wall - first >= self.config.flush:
            self._flush()

    def flush(self) -> None:
        if self._frames:
            self._flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _flush(self) -> None:
        frames, self._frames = tuple(self._frames), []
        first, last = frames[0][1], frames[-1][1]
        if self._file is None or self._size >= self.config.segment_size \
                or first.wall - self._segment_wall >= self.config.segment_age:
            self._rotate(first.wall)
        if not self._policy_written:
            self._write(KIND_POLICY, (self._policy_id, self._policy), 0, 0, first.wall, first.wall, 0)
            self._policy_written = True
        self._write(KIND_FRAMES, frames, first.tick, last.tick, first.wall, last.wall, len(frames))
        self.frames += len(frames)
        self._sync()

    def _write(self, kind: int, obj, t0: int, t1: int, w0: float, w1: float, n: int) -> None:
        payload = self._compressor.compress(snapcodec.dumps(obj))
        blob = _HEAD.pack(_CHUNK, kind, len(payload), zlib.crc32(payload), t0, t1, w0, w1, n) + payload
        try:
            self._file.write(blob)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._size += len(blob)
        self.bytes += len(blob)
        self.chunks += 1

    def _sync(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _rotate(self, wall: float) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        n = 0
        while True:
            path = os.path.join(self.dir, segment_name(wall, n))
            try:
                self._file = open(path, "xb")  # never append to a segment a crashed run left behind
                break
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
        self.path = path
        self._segment_wall = wall
        self._file.write(MAGIC)
        self._size = len(MAGIC)
        self.bytes += len(MAGIC)
        self._policy_written = False  # every segment carries the policy its frames refer to
        self.deleted += apply_retention(self.dir, self.config, now=wall, keep=path)


def apply_retention(directory: str, config: RecordConfig, now: float, keep: str | None = None) -> list[str]:
    """Delete the oldest segments past ``max_size`` in total or ended before ``now - max_age``."""
    segments = list_segments(directory)
    sizes = {}
    for p in segments:
        try:
            sizes[p] = os.path.getsize(p)
        except OSError:
            sizes[p] = 0
    starts = [segment_start(os.path.basename(p)) for p in segments]
    total = sum(sizes.values())
    deleted = []
    for i, path in enumerate(segments):
        if path == keep:
            break
        ended = starts[i + 1] if i + 1 < len(starts) else now
        if total <= config.max_size and ended >= now - config.max_age:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            break  # not ours to delete (permissions): leave it, try again at the next rotation
        total -= sizes[path]
        deleted.append(path)
    return deleted


# -- reading -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChunkRef:
    path: str
    offset: int  # of the payload
    length: int
    crc: int
    kind: int
    first_tick: int
    last_tick: int
    first_wall: float
    last_wall: float
    frames: int


@dataclass(slots=True)
class SegmentIndex:
    path: str
    chunks: list[ChunkRef]
    warnings: list[str]


def scan_segment(path: str) -> SegmentIndex:
    """The chunk headers of one segment; a torn or damaged tail ends it with a warning."""
    chunks: list[ChunkRef] = []
    warnings: list[str] = []
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(len(MAGIC)) != MAGIC:
                return SegmentIndex(path, [], [f"{name}: not a wlmtui recording segment (skipped)"])
            offset = len(MAGIC)
            while offset < size:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    warnings.append(f"{name}: truncated chunk at byte {offset} skipped (the recorder stopped mid-write)")
                    break
                magic, kind, length, crc, t0, t1, w0, w1, n = _HEAD.unpack(head)
                if magic != _CHUNK or kind not in (KIND_POLICY, KIND_FRAMES):
                    warnings.append(f"{name}: damaged chunk header at byte {offset}; the rest of the segment is skipped")
                    break
                start = offset + _HEAD.size
                if start + length > size:
                    warnings.append(f"{name}: truncated chunk at byte {offset} skipped (the recorder stopped mid-write)")
                    break
                chunks.append(ChunkRef(path, start, length, crc, kind, t0, t1, w0, w1, n))
                offset = start + length
                f.seek(offset)
    except OSError as exc:
        return SegmentIndex(path, [], [f"{name}: cannot be read ({exc.strerror or exc})"])
    return SegmentIndex(path, chunks, warnings)


class ChunkError(Exception):
    pass


def read_chunk(ref: ChunkRef):
    """The object a chunk holds; :class:`ChunkError` (one line) when it is damaged."""
    name = os.path.basename(ref.path)
    try:
        with open(ref.path, "rb") as f:
            f.seek(ref.offset)
            payload = f.read(ref.length)
    except OSError as exc:
        raise ChunkError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if len(payload) != ref.length or zlib.crc32(payload) != ref.crc:
        raise ChunkError(f"{name}: chunk at byte {ref.offset} is damaged (checksum); skipped")
    try:
        return snapcodec.loads(zstandard.ZstdDecompressor().decompress(payload))
    except (zstandard.ZstdError, snapcodec.CodecError) as exc:
        raise ChunkError(f"{name}: chunk at byte {ref.offset} cannot be decoded ({exc})") from None


def write_all(config: RecordConfig, snaps: Iterable[Snapshot]) -> StoreWriter:
    """Record ``snaps`` into the store (tests and benches)."""
    writer = StoreWriter(config)
    try:
        for s in snaps:
            writer.add(s)
    finally:
        writer.close()
    return writer
