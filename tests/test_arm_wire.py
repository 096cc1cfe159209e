"""ARM wire format: what is well-formed, and the fast path agreeing with json.loads."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlmtui.arm.wire import (
    MAX_MS,
    NOT_FAST,
    STATUSES,
    class_prefix,
    format_line,
    parse_line,
    parse_line_fast,
    parse_line_slow,
)


def test_the_common_shapes_parse_on_the_fast_path():
    cases = {
        b'{"class":"interactive","ms":12.5}': ("interactive", 0.0125, "good", None, None),
        b'{"class":"interactive","ms":12.5}\n': ("interactive", 0.0125, "good", None, None),
        b'{"class": "batch", "ms": 3, "status": "failed"}': ("batch", 0.003, "failed", None, None),
        b'{"ms":0.001,"status":"aborted","pid":42,"ts":1763780000.5}': (None, 1e-06, "aborted", 1763780000.5, 42),
        b'{"class":"web","ms":0,"ts":17}\r\n': ("web", 0.0, "good", 17.0, None),
    }
    for line, expected in cases.items():
        assert parse_line_fast(line) == expected, line
        assert parse_line_slow(line) == expected, line


def test_other_valid_shapes_take_the_slow_path():
    for line in (b'{"ms": 5, "class": "web"}', b' {"class":"web","ms":5}', b'{"class":"web","ms":5,"extra":[1]}',
                 b'{"class":"w\\u00e9b","ms":5}', b'{"class":"web","ms":5,"status":null}'):
        assert parse_line_fast(line) is NOT_FAST, line
        rec = parse_line(line)
        assert rec not in (None, NOT_FAST, "blank") and rec[1] == 0.005, line


BAD = [
    b"", b"{", b"}", b"[]", b"null", b"42", b'"x"', b"{}", b'{"class":"web"}', b'{"ms":null}',
    b'{"class":"web","ms":-1}', b'{"class":"web","ms":-0.001}', b'{"class":"web","ms":86400000}',
    b'{"class":"web","ms":1e400}', b'{"class":"web","ms":NaN}', b'{"class":"web","ms":Infinity}',
    b'{"class":"web","ms":-Infinity}', b'{"class":"web","ms":"5"}', b'{"class":"web","ms":true}',
    b'{"class":"web","ms":[5]}', b'{"class":"web","ms":01}', b'{"class":"web","ms":.5}', b'{"class":"web","ms":5.}',
    b'{"class":"web","ms":+5}', b'{"class":"web","ms":5,"status":"ok"}', b'{"class":"web","ms":5,"status":1}',
    b'{"class":"web","ms":5,"status":"GOOD"}', b'{"class":5,"ms":5}', b'{"class":"","ms":5}',
    b'{"class":["web"],"ms":5}', b'{"class":"web","ms":5,"pid":0}', b'{"class":"web","ms":5,"pid":-3}',
    b'{"class":"web","ms":5,"pid":2147483648}', b'{"class":"web","ms":5,"pid":1.5}',
    b'{"class":"web","ms":5,"pid":"12"}', b'{"class":"web","ms":5,"pid":true}', b'{"class":"web","ms":5,"ts":-1}',
    b'{"class":"web","ms":5,"ts":1e11}', b'{"class":"web","ms":5,"ts":"2025-01-01"}', b'{"class":"web","ms":5}}',
    b'{"class":"web","ms":5},', b'{"class":"web","ms":5} {"class":"web","ms":5}', b'{"class":"w\x00b","ms":5}',
    b'{"class":"w\xffb","ms":5}', b'{"class":"w\xed\xa0\x80b","ms":5}', b'{"class":"web\\","ms":5}',
    b'{"class":"web","ms":5', b'{"class":"web","ms":5,}', b"{'class':'web','ms':5}", b'\xef\xbb\xbf{"ms":5}',
    b"[" * 100000 + b"]" * 100000, b'{"ms":' + b"9" * 5000 + b"}", b"\x00\x01\x02", b"\n\n\n{",
]


@pytest.mark.parametrize("line", BAD, ids=range(len(BAD)))
def test_handcrafted_bad_shapes_are_malformed(line):
    if not line.strip():
        assert parse_line(line) == "blank"
        return
    assert parse_line(line) is None
    assert parse_line_slow(line) is None
    assert parse_line_fast(line) in (None, NOT_FAST)


def test_blank_lines_are_not_reports():
    for line in (b"", b"   ", b"\r", b"\t \r\n"):
        assert parse_line(line) == "blank"


def test_format_line_round_trips_and_escapes_class_names():
    for cls in ("interactive", 'we"ird\\name', "tab\there", "ünïcode", "\u2028", "emoji 😀", "nul\x00", None):
        for status in STATUSES:
            line = format_line(cls, 12.3456, status, ts=1763780000.25 if cls else None, pid=7 if cls is None else None)
            assert line.endswith(b"}\n") and line.isascii()
            rec = parse_line(line)
            assert rec == (cls, 0.012346, status, 1763780000.25 if cls else None, 7 if cls is None else None), (cls, line)
    assert class_prefix("a") == b'{"class":"a","ms":'
    with pytest.raises(ValueError):
        format_line("a", 1.0, "ok")


# ---------------------------------------------------------------- properties

_values = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=2 * MAX_MS),
    st.text(max_size=12), st.sampled_from(list(STATUSES) + ["interactive", "batch", "", "Good"]),
    st.lists(st.integers(), max_size=2),
)
_keys = st.sampled_from(["class", "ms", "status", "pid", "ts", "x"])


@st.composite
def json_lines(draw) -> bytes:
    """Objects of the report's keys (in any order, any types), as json.dumps writes them."""
    obj = draw(st.dictionaries(_keys, _values, max_size=6))
    if draw(st.booleans()):  # bias towards the shapes the fast path knows
        obj = {"class": draw(st.text(min_size=1, max_size=8)) if draw(st.booleans()) else None,
               "ms": draw(st.floats(min_value=-1, max_value=MAX_MS * 1.1) | st.integers(-5, 10**9)),
               **({"status": draw(_values)} if draw(st.booleans()) else {}),
               **({"pid": draw(_values)} if draw(st.booleans()) else {}),
               **({"ts": draw(_values)} if draw(st.booleans()) else {})}
        if obj["class"] is None and draw(st.booleans()):
            del obj["class"]
    compact = draw(st.booleans())
    text = json.dumps(obj, separators=(",", ":") if compact else (", ", ": "), ensure_ascii=draw(st.booleans()))
    tail = draw(st.sampled_from(["", "\n", "\r\n", " ", "\r"]))
    return (text + tail).encode("utf-8", "surrogatepass")


def _same(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x == y and type(x) is type(y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=400, deadline=None)
@given(json_lines())
def test_fast_path_agrees_with_json_loads(line):
    fast = parse_line_fast(line)
    slow = parse_line_slow(line)
    if fast is not NOT_FAST:
        assert _same(fast, slow), (line, fast, slow)
    assert _same(parse_line(line), slow)
    if slow not in (None, "blank"):
        cls, seconds, status, ts, pid = slow
        assert math.isfinite(seconds) and 0 <= seconds < 86400 and status in STATUSES
        assert cls is None or (isinstance(cls, str) and cls)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_never_crash_and_never_disagree(data):
    fast = parse_line_fast(data)
    slow = parse_line_slow(data)
    if fast is not NOT_FAST:
        assert _same(fast, slow)
    assert _same(parse_line(data), slow)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([format_line("interactive", 12.5), format_line(None, 3.0, "failed", pid=9, ts=1.5e9),
                        b'{"class": "batch", "ms": 7, "status": "unknown"}']),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255), st.sampled_from(["ins", "del", "set"])),
                min_size=1, max_size=3))
def test_mutated_valid_lines_agree(line, edits):
    data = bytearray(line)
    for pos, byte, op in edits:
        pos = min(pos, len(data))
        if op == "ins":
            data.insert(pos, byte)
        elif data and pos < len(data):
            if op == "del":
                del data[pos]
            else:
                data[pos] = byte
    data = bytes(data)
    fast = parse_line_fast(data)
    slow = parse_line_slow(data)
    if fast is not NOT_FAST:
        assert _same(fast, slow), (data, fast, slow)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_lines(), st.binary(max_size=80)))
def test_the_receivers_inline_fast_path_agrees_too(line):
    """ArmReceiver parses the common shapes inline; it must count exactly as parse_line judges."""
    from wlmtui.arm.receiver import _Acc

    acc = _Acc(lambda pid: "attributed")
    acc.lines([line], 123)  # 123: the sender pid a socket would give
    expected = parse_line(line)
    if expected == "blank":
        assert acc.received == 0
    elif expected is None:
        assert acc.received == acc.malformed == 1 and not acc.per_class
    else:
        cls, seconds, status, ts, _pid = expected
        assert acc.received == 1 and acc.malformed == 0
        ((got_cls, (completion,)),) = acc.per_class.items()
        assert got_cls == (cls if cls is not None else "attributed")
        assert _same(tuple(completion), (seconds, status, ts))
