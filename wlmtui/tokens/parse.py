"""Turning counter-file lines into token usage.

A counter line is one JSON object::

    {"ts": 1763780000.1, "class": "llm-agent", "agent": "coder-3", "model": "gpt-4o", "tokens": 1234}

Rules (shared by both parsing paths, so they cannot disagree):

* ``class`` — a string (required).
* ``tokens`` — a JSON integer, ``0 <= tokens <= MAX_TOKENS`` (required).
  ``12.0``, ``-5``, ``"12"`` and ``true`` are malformed.
* ``ts`` — epoch seconds (JSON number) or an ISO-8601 string (a naive one
  is UTC), within ``0 <= ts < 1e11``. ``NaN``/``Infinity``/``null`` are
  malformed. A line *without* ``ts`` counts as spent when it is read.
* ``model`` / ``agent`` — a string or null when present; ``""`` means absent.
* other keys are ignored; a blank line is skipped (neither record nor error).

Two paths produce the same answers:

* the **slow path** decodes UTF-8 and calls :func:`json.loads` per line;
* the **fast path** handles whole blocks of the shape ``json.dumps`` writes
  (``ts`` first, ``class`` second, ``tokens`` last, default or compact
  separators). It groups lines by the text between ``"class": `` and
  ``, "tokens": `` (class, agent, model), validates that text once per group
  with ``json.loads``, then checks and converts the numbers of the whole
  group with bytes-level operations. A group that fails any check is handed
  line by line to the slow path, so the fast path only ever accepts lines
  the slow path accepts, with the same values
  (``tests/test_tokens_tailer.py`` checks this with hypothesis).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

MAX_TOKENS = 10**12 - 1  # per line; more than this is malformed
TS_LIMIT = 1e11  # epoch seconds (year 5138); ts outside [0, TS_LIMIT) is malformed
UNKNOWN_NAMES_KEPT = 32  # distinct unknown class names remembered per tally

Record = tuple  # (cls: str, tokens: int, ts: float | None, model: str | None, agent: str | None)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one (class, model, agent) group read in one poll."""

    cls: str
    model: str | None
    agent: str | None
    tokens: int
    lines: int
    first_ts: float | None = None
    last_ts: float | None = None


# ---------------------------------------------------------------- one record


def timestamp(value: object) -> float | None:
    """Epoch seconds from a JSON ``ts`` value, or ``None`` when it is not valid."""
    if type(value) is int or type(value) is float:
        try:
            ts = float(value)
        except OverflowError:
            return None
    elif type(value) is str:
        ts = iso_timestamp(value)
        if ts is None:
            return None
    else:
        return None
    if not (0.0 <= ts < TS_LIMIT):  # also rejects NaN
        return None
    return ts


def iso_timestamp(text: str) -> float | None:
    """Epoch seconds from an ISO-8601 string (``...Z``, offsets, naive = UTC)."""
    if not text.isascii() or len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        ts = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return ts if math.isfinite(ts) else None


def _optional_text(obj: dict, key: str) -> tuple[bool, str | None]:
    value = obj.get(key)
    if value is None:
        return True, None
    if type(value) is not str:
        return False, None
    return True, value or None


def interpret(obj: object) -> Record | None:
    """Validate one decoded line; ``None`` means malformed."""
    if type(obj) is not dict:
        return None
    cls = obj.get("class")
    if type(cls) is not str:
        return None
    tokens = obj.get("tokens")
    if type(tokens) is not int or not 0 <= tokens <= MAX_TOKENS:
        return None
    ts = None
    if "ts" in obj:
        ts = timestamp(obj["ts"])
        if ts is None:
            return None
    ok_model, model = _optional_text(obj, "model")
    ok_agent, agent = _optional_text(obj, "agent")
    if not (ok_model and ok_agent):
        return None
    return cls, tokens, ts, model, agent


def parse_line(line: bytes) -> Record | None | str:
    """The slow path for one line (without its newline).

    Returns a record tuple, ``None`` when malformed, or ``"blank"``.
    """
    if not line.strip(b" \t\r"):
        return "blank"
    try:
        obj = json.loads(line.decode("utf-8"))
    except Exception:  # JSONDecodeError, UnicodeDecodeError, huge ints, deep nesting ...
        return None
    return interpret(obj)


# ---------------------------------------------------------------- tallies


class Tally:
    """Mutable accumulator for one poll: counted usage, late usage and errors.

    ``classes`` maps each known class to the earliest ``ts`` that still counts
    (its window start; ``-inf`` counts everything). ``None`` accepts every
    class without a cutoff. Records of known classes with an older ``ts``
    go to ``late``; records of other classes are counted as ``unknown``.
    """

    __slots__ = ("classes", "counted", "late", "malformed", "unknown", "unknown_names", "blank", "lines")

    def __init__(self, classes: Mapping[str, float] | None = None):
        self.classes = classes
        self.counted: dict[tuple, list] = {}
        self.late: dict[tuple, list] = {}
        self.malformed = 0
        self.unknown = 0
        self.unknown_names: dict[str, int] = {}
        self.blank = 0
        self.lines = 0

    def cutoff(self, cls: str) -> float | None:
        """The class's cutoff, or ``None`` when the class is unknown."""
        if self.classes is None:
            return -math.inf
        return self.classes.get(cls)

    def add_unknown(self, cls: str, lines: int = 1) -> None:
        self.unknown += lines
        if cls in self.unknown_names or len(self.unknown_names) < UNKNOWN_NAMES_KEPT:
            self.unknown_names[cls] = self.unknown_names.get(cls, 0) + lines

    @staticmethod
    def _merge(into: dict, key: tuple, tokens: int, lines: int, lo: float | None, hi: float | None) -> None:
        slot = into.get(key)
        if slot is None:
            into[key] = [tokens, lines, lo, hi]
            return
        slot[0] += tokens
        slot[1] += lines
        if lo is not None:
            slot[2] = lo if slot[2] is None else min(slot[2], lo)
            slot[3] = hi if slot[3] is None else max(slot[3], hi)

    def add_group(self, key: tuple, tokens: int, lines: int, lo: float | None, hi: float | None, late: bool = False) -> None:
        self._merge(self.late if late else self.counted, key, tokens, lines, lo, hi)

    def add_record(self, rec: Record) -> None:
        cls, tokens, ts, model, agent = rec
        cut = self.cutoff(cls)
        if cut is None:
            self.add_unknown(cls)
            return
        late = ts is not None and ts < cut
        self._merge(self.late if late else self.counted, (cls, model, agent), tokens, 1, ts, ts)

    def add_line(self, line: bytes) -> None:
        """Slow path for one complete line."""
        self.lines += 1
        rec = parse_line(line)
        if rec == "blank":
            self.blank += 1
            self.lines -= 1
        elif rec is None:
            self.malformed += 1
        else:
            self.add_record(rec)

    def usage(self, late: bool = False) -> tuple[Usage, ...]:
        source = self.late if late else self.counted
        return tuple(
            Usage(cls, model, agent, v[0], v[1], v[2], v[3])
            for (cls, model, agent), v in sorted(source.items(), key=lambda kv: tuple("" if k is None else k for k in kv[0]))
        )


# ---------------------------------------------------------------- fast path


@dataclass(frozen=True, slots=True)
class _Dialect:
    prefix: bytes  # b'{"ts": '
    class_sep: bytes  # b', "class": '
    tokens_sep: bytes  # b', "tokens": '


DIALECTS = (
    _Dialect(b'{"ts": ', b', "class": ', b', "tokens": '),  # json.dumps default
    _Dialect(b'{"ts":', b',"class":', b',"tokens":'),  # separators=(",", ":")
)
_DIGITS_DOT = b"0123456789."
_DIGITS = b"0123456789"
_BLOB_KEYS = frozenset(("class", "agent", "model"))
_BLOB_CACHE_MAX = 4096
_blob_cache: dict[bytes, tuple | None] = {}


def _blob_identity(blob: bytes) -> tuple | None:
    """(class, model, agent) from the text between the class and tokens separators.

    ``None`` when the text is not exactly JSON members with only class,
    agent and model keys of the right types (the group then goes slow).
    """
    try:
        return _blob_cache[blob]
    except KeyError:
        pass
    ident = None
    try:
        obj = json.loads('{"class":' + blob.decode("utf-8") + "}")
    except Exception:
        obj = None
    if type(obj) is dict and obj.keys() <= _BLOB_KEYS and type(obj.get("class")) is str:
        ok_model, model = _optional_text(obj, "model")
        ok_agent, agent = _optional_text(obj, "agent")
        if ok_model and ok_agent:
            ident = (obj["class"], model, agent)
    if len(_blob_cache) >= _BLOB_CACHE_MAX:
        _blob_cache.clear()
    _blob_cache[blob] = ident
    return ident


def _leading_zero(items: list[bytes], allow_fraction: bool) -> bool:
    for item in items:
        if len(item) > 1 and item[0] == 48 and not (allow_fraction and item[1] == 46):
            return True
    return False


def _fast_group(parts: list[bytes], dialect: _Dialect, blob: bytes, tally: Tally) -> bool:
    """Account a group of lines sharing one class blob; ``False`` = not handled.

    ``parts`` interleaves, per line, ``tsb`` and ``tail`` where the line is
    exactly ``tsb + class_sep + blob + tokens_sep + tail`` (first class_sep,
    last tokens_sep). The line is valid when ``tsb`` is ``prefix`` + a plain
    JSON number, ``tail`` a JSON integer + ``}``, and the blob valid members.
    """
    ident = _blob_identity(blob)
    if ident is None:
        return False
    cls, model, agent = ident
    n = len(parts) // 2
    prefix = dialect.prefix
    # --- timestamps: every tsb is prefix + digits with at most one inner dot
    joined = b"\n".join(parts[0::2])
    ts_items = joined.split(b"\n" + prefix)  # no tsb holds a newline: one item per line
    if len(ts_items) != n or not ts_items[0].startswith(prefix):
        return False
    ts_items[0] = ts_items[0][len(prefix):]
    if (not all(ts_items) or b"".join(ts_items).translate(None, _DIGITS_DOT)
            or b".\n" in joined or joined.endswith(b".")):
        return False
    first = min(ts_items)[:1]  # "." sorts before digits, "0" before the others
    if first == b"." or (first == b"0" and _leading_zero(ts_items, True)):
        return False
    try:
        stamps = list(map(float, ts_items))  # a second dot fails here
    except ValueError:
        return False
    # --- tokens: every tail is a JSON integer of at most 12 digits + "}"
    joined = b"\n".join(parts[1::2])
    tok_items = joined.split(b"}\n")
    if len(tok_items) != n or not tok_items[-1].endswith(b"}"):
        return False
    tok_items[-1] = tok_items[-1][:-1]
    if not all(tok_items) or b"".join(tok_items).translate(None, _DIGITS):
        return False
    if min(tok_items)[:1] == b"0" and _leading_zero(tok_items, False):
        return False
    total = sum(map(int, tok_items))
    if total > MAX_TOKENS and max(map(len, tok_items)) > 12:
        return False  # an over-long count: the slow path marks that line malformed
    lo, hi = min(stamps), max(stamps)
    if hi >= TS_LIMIT:
        return False  # the slow path counts the offending lines as malformed
    tally.lines += n
    cut = tally.cutoff(cls)
    if cut is None:
        tally.add_unknown(cls, n)
        return True
    key = (cls, model, agent)
    if lo >= cut or hi < cut:
        tally.add_group(key, total, n, lo, hi, late=hi < cut)
    else:
        for ts, tok in zip(stamps, tok_items):
            tally.add_group(key, int(tok), 1, ts, ts, late=ts < cut)
    return True


def parse_block(block: bytes, tally: Tally) -> None:
    """Account every line of ``block`` (complete lines; the last may lack ``\\n``)."""
    if not block:
        return
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    parse_lines(lines, tally)


def parse_lines(lines: list[bytes], tally: Tally) -> None:
    """Account complete lines (without their newlines)."""
    for dialect in DIALECTS:
        if not lines:
            return
        groups: dict[bytes, list[bytes]] = {}
        rest: list[bytes] = []
        tsep, csep = dialect.tokens_sep, dialect.class_sep
        for line in lines:
            head, _, tail = line.rpartition(tsep)
            tsb, found, blob = head.partition(csep)  # head is b"" when tsep is absent
            if not found:
                rest.append(line)
                continue
            try:
                group = groups[blob]
            except KeyError:
                groups[blob] = group = []
            group.append(tsb)
            group.append(tail)
        for blob, parts in groups.items():
            if not _fast_group(parts, dialect, blob, tally):
                mid = csep + blob + tsep
                rest.extend(parts[i] + mid + parts[i + 1] for i in range(0, len(parts), 2))
        lines = rest
    for line in lines:
        tally.add_line(line)
