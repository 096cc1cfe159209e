"""The ARM report wire format: one JSON object per line.

    {"class": "interactive", "ms": 12.5, "status": "good"}

* ``ms`` — the transaction's response time in milliseconds: a JSON number,
  finite, ``0 <= ms < 86_400_000`` (one day). Required.
* ``class`` — the service class, a non-empty string. Absent or ``null``:
  the receiver attributes the report by the sender's cgroup.
* ``status`` — ``good`` (the default), ``aborted``, ``failed`` or
  ``unknown`` (the ARM 4.0 transaction statuses).
* ``pid`` — optional, a JSON integer ``1 <= pid < 2**31``: the process whose
  cgroup attributes a report without ``class`` (else the sender's pid from
  the socket credentials).
* ``ts`` — optional, epoch seconds of completion, ``0 <= ts < 1e11``.
* other keys are ignored (room to grow); ``null`` for an optional key
  means the key is absent; a blank line is skipped.

Anything else — not JSON, not an object, a wrong type, a number out of
range — is *malformed*. A datagram may carry several lines.

Two parsing paths give the same answers (``tests/test_arm_wire.py`` checks
it with hypothesis): a **fast path**, one compiled regular expression for
the compact shapes :mod:`wlmtui.arm.client` writes (and the spaced shape
``json.dumps`` writes), with the key order ``class, ms, status, pid, ts``;
and the **slow path**, :func:`json.loads`, for every other line. The fast
path never accepts a line the slow path rejects.
"""

from __future__ import annotations

import json
import math
import re
from typing import NamedTuple

STATUSES = ("good", "aborted", "failed", "unknown")
MAX_MS = 86_400_000.0  # one day, exclusive
TS_LIMIT = 1e11  # epoch seconds, exclusive
PID_LIMIT = 2**31  # exclusive
MAX_LINE = 4000  # bytes a client writes in one line (an O_APPEND write this size stays whole)


class Completion(NamedTuple):
    """One completed transaction: response time, ARM status, completion time."""

    seconds: float
    status: str
    ts: float | None  # epoch seconds when the report says; None: completed since the previous drain


# One well-formed report line, a plain tuple (cheaper to build than a named one):
# (cls: str | None, seconds: float, status: str, ts: float | None, pid: int | None);
# ``cls`` is None when the report must be attributed by the sender's cgroup.
Record = tuple


# ---------------------------------------------------------------- checks shared by both paths

_STATUS_SET = frozenset(STATUSES)


def _record(cls: str | None, ms: float, status: str, ts: float | None, pid: int | None) -> Record | None:
    """Range checks on already-typed values (both paths end here)."""
    if not 0.0 <= ms < MAX_MS:  # also rejects NaN
        return None
    if ts is not None and not 0.0 <= ts < TS_LIMIT:
        return None
    if pid is not None and not 0 < pid < PID_LIMIT:
        return None
    return (cls, ms / 1000.0 + 0.0, status, ts, pid)


def _number(value: object) -> float | None:
    """A JSON number (int or float, not bool) as a float; None otherwise or when too big."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[return-value]
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            return math.inf
    return None


def interpret(obj: object) -> Record | None:
    """Validate one decoded JSON value; ``None`` means malformed."""
    if type(obj) is not dict:
        return None
    cls = obj.get("class")
    if cls is not None and (type(cls) is not str or not cls):
        return None
    ms = _number(obj.get("ms"))
    if ms is None:
        return None
    status = obj.get("status")
    if status is None:
        status = "good"
    elif type(status) is not str or status not in _STATUS_SET:
        return None
    ts = obj.get("ts")
    if ts is not None:
        ts = _number(ts)
        if ts is None:
            return None
    pid = obj.get("pid")
    if pid is not None and type(pid) is not int:
        return None
    return _record(cls, ms, status, ts, pid)


def parse_line_slow(line: bytes) -> Record | None | str:
    """The slow path for one line (without its newline): a record, ``None`` (malformed) or ``"blank"``."""
    if not line.strip(b" \t\r\n"):
        return "blank"
    try:
        obj = json.loads(line.decode("utf-8"))
    except Exception:  # JSONDecodeError, UnicodeDecodeError, RecursionError, huge ints ...
        return None
    return interpret(obj)


# ---------------------------------------------------------------- the fast path

# possessive quantifiers: no backtracking (each optional group starts with its own literal)
_NUM = rb"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
_FAST = re.compile(
    rb'\{(?:"class": ?"([^"\\\x00-\x1f]++)", ?)?+'
    rb'"ms": ?(' + _NUM + rb')'
    rb'(?:, ?"status": ?"(good|aborted|failed|unknown)")?+'
    rb'(?:, ?"pid": ?([1-9][0-9]{0,9}+))?+'
    rb'(?:, ?"ts": ?(' + _NUM + rb'))?+'
    rb'\}\r?\n?'
)
_fast_match = _FAST.fullmatch
_names: dict[bytes, str | None] = {}  # class bytes -> str (None: not UTF-8); bounded below
_NAMES_KEPT = 4096
NOT_FAST = "not-fast"
_STATUS_OF = {None: "good", **{s.encode("ascii"): s for s in STATUSES}}


def _name(raw: bytes) -> str | None:
    name = _names.get(raw, NOT_FAST)
    if name is NOT_FAST:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = None
        if len(_names) < _NAMES_KEPT:
            _names[raw] = name
    return name  # type: ignore[return-value]


def parse_line_fast(line: bytes) -> Record | None | str:
    """The fast path: a record, ``None`` (malformed) or :data:`NOT_FAST` (ask the slow path).

    ``line`` may end with its newline (a one-line datagram is parsed as it came).
    """
    m = _fast_match(line)
    if m is None:
        return NOT_FAST
    raw_cls, raw_ms, status, raw_pid, raw_ts = m.groups()
    ms = float(raw_ms)
    if not ms < MAX_MS or ms < 0.0:
        return None
    if raw_cls is None:
        cls = None
    else:
        cls = _names.get(raw_cls, NOT_FAST)
        if cls is NOT_FAST:
            cls = _name(raw_cls)
        if cls is None:
            return None  # not UTF-8: json would refuse the line too
    if raw_ts is None and raw_pid is None:
        return (cls, ms / 1000.0 + 0.0, _STATUS_OF[status], None, None)
    return _record(cls, ms, _STATUS_OF[status], None if raw_ts is None else float(raw_ts),
                   None if raw_pid is None else int(raw_pid))


def parse_line(line: bytes) -> Record | None | str:
    """One line: the fast path, else the slow path."""
    rec = parse_line_fast(line)
    if rec is NOT_FAST:
        return parse_line_slow(line)
    return rec


# ---------------------------------------------------------------- writing (clients)


def class_prefix(cls: str | None) -> bytes:
    """The bytes a line starts with, up to the value of ``ms`` (class escaped as JSON)."""
    if cls is None:
        return b'{"ms":'
    return b'{"class":' + json.dumps(cls, ensure_ascii=True).encode("ascii") + b',"ms":'


STATUS_TAIL = {s: (b"" if s == "good" else b',"status":"' + s.encode("ascii") + b'"') for s in STATUSES}


def format_line(cls: str | None, ms: float, status: str = "good", *, ts: float | None = None,
                pid: int | None = None) -> bytes:
    """One report line with its newline (what the client writes; for tests and tools)."""
    if status not in STATUS_TAIL:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    out = class_prefix(cls) + b"%.3f" % ms + STATUS_TAIL[status]
    if pid is not None:
        out += b',"pid":%d' % pid
    if ts is not None:
        out += b',"ts":%.3f' % ts
    return out + b"}\n"
