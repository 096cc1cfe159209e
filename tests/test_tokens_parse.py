"""Counter-line parsing: the fast path must agree with json.loads line by line."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wlmtui.tokens.parse import DIALECTS, MAX_TOKENS, Tally, parse_line, parse_lines, timestamp

CLASSES = {"llm-agent": 1000.0, "coder": -math.inf}  # class -> window start (cutoff)


def slow_tally(lines: list[bytes], classes=CLASSES) -> Tally:
    tally = Tally(classes)
    for line in lines:
        tally.add_line(line)
    return tally


def fast_tally(lines: list[bytes], classes=CLASSES) -> Tally:
    tally = Tally(classes)
    parse_lines(list(lines), tally)
    return tally


def summary(t: Tally) -> dict:
    return {
        "counted": {k: tuple(v) for k, v in t.counted.items()},
        "late": {k: tuple(v) for k, v in t.late.items()},
        "malformed": t.malformed,
        "unknown": t.unknown,
        "unknown_names": dict(t.unknown_names),
        "blank": t.blank,
        "lines": t.lines,
    }


def test_canonical_line_is_counted_with_all_fields():
    line = b'{"ts": 1763780000.1, "class": "llm-agent", "agent": "coder-3", "model": "gpt-4o", "tokens": 1234}'
    t = fast_tally([line])
    assert t.malformed == 0
    assert t.counted == {("llm-agent", "gpt-4o", "coder-3"): [1234, 1, 1763780000.1, 1763780000.1]}


def test_compact_separators_and_missing_optional_fields():
    lines = [b'{"ts":1763780000,"class":"coder","tokens":5}', b'{"ts": 1763780001, "class": "coder", "tokens": 7}']
    t = fast_tally(lines)
    assert t.counted == {("coder", None, None): [12, 2, 1763780000.0, 1763780001.0]}


def test_iso_timestamps_and_missing_ts_are_accepted():
    lines = [
        b'{"ts": "2025-11-22T01:02:03Z", "class": "coder", "tokens": 1}',
        b'{"ts": "2025-11-22T02:02:03+01:00", "class": "coder", "tokens": 2}',
        b'{"class": "coder", "tokens": 4}',
    ]
    t = fast_tally(lines)
    assert t.malformed == 0
    assert t.counted[("coder", None, None)][:2] == [7, 3]
    assert parse_line(lines[0])[2] == parse_line(lines[1])[2]


def test_records_older_than_the_window_are_late_not_counted():
    t = fast_tally([b'{"ts": 999.5, "class": "llm-agent", "tokens": 10}',
                    b'{"ts": 1000, "class": "llm-agent", "tokens": 20}'])
    assert t.counted[("llm-agent", None, None)][0] == 20
    assert t.late[("llm-agent", None, None)][0] == 10


def test_unknown_classes_are_counted_and_named():
    t = fast_tally([b'{"ts": 5, "class": "ghost", "tokens": 1}'] * 3)
    assert (t.unknown, t.unknown_names, t.counted) == (3, {"ghost": 3}, {})


def test_malformed_kinds():
    bad = [
        b"not json",
        b'{"ts": 1, "class": "coder"}',  # no tokens
        b'{"ts": 1, "class": "coder", "tokens": -5}',
        b'{"ts": 1, "class": "coder", "tokens": 1.5}',
        b'{"ts": 1, "class": "coder", "tokens": 12.0}',
        b'{"ts": 1, "class": "coder", "tokens": "12"}',
        b'{"ts": 1, "class": "coder", "tokens": true}',
        b'{"ts": 1, "class": "coder", "tokens": 1000000000000}',  # over MAX_TOKENS
        b'{"ts": NaN, "class": "coder", "tokens": 1}',
        b'{"ts": -1, "class": "coder", "tokens": 1}',
        b'{"ts": "yesterday", "class": "coder", "tokens": 1}',
        b'{"ts": null, "class": "coder", "tokens": 1}',
        b'{"ts": 1, "class": 7, "tokens": 1}',
        b'{"ts": 1, "class": "coder", "model": 4, "tokens": 1}',
        b'{"ts": 01, "class": "coder", "tokens": 1}',  # leading zero: not JSON
        b'{"ts": 1., "class": "coder", "tokens": 1}',
        b'{"ts": 1, "class": "coder", "tokens": 01}',
        b'[1, 2]',
        b'\xff\xfe{"ts": 1}',
        b'{"ts": 1, "class": "coder", "tokens": 5',  # torn
        b"[" * 100000,  # deep nesting
        b'{"ts": 1, "class": "coder", "tokens": ' + b"9" * 5000 + b"}",  # int too long for Python
    ]
    t = fast_tally(bad)
    assert (t.malformed, t.counted, t.unknown) == (len(bad), {}, 0)
    assert summary(t) == summary(slow_tally(bad))


def test_blank_lines_are_ignored():
    t = fast_tally([b"", b"   ", b"\r", b'{"ts": 1, "class": "coder", "tokens": 3}'])
    assert (t.blank, t.malformed, t.lines) == (3, 0, 1)


def test_extra_keys_go_the_slow_way_and_still_count():
    line = b'{"ts": 1, "class": "coder", "request": "r-1", "tokens": 3}'
    assert fast_tally([line]).counted == {("coder", None, None): [3, 1, 1.0, 1.0]}


def test_max_tokens_boundary():
    ok = b'{"ts": 1, "class": "coder", "tokens": %d}' % MAX_TOKENS
    assert fast_tally([ok]).counted[("coder", None, None)][0] == MAX_TOKENS


def test_timestamp_rules():
    assert timestamp(1.5) == 1.5 and timestamp(0) == 0.0
    assert timestamp(True) is None and timestamp(float("inf")) is None and timestamp(10**400) is None
    assert timestamp("2025-01-01T00:00:00") == timestamp("2025-01-01T00:00:00Z")


# ---------------------------------------------------------------- fast == slow

NUMBERS = ["0", "1", "1763780000", "1763780000.5", "1763780000.123", "0.5", "01", "1.", ".5", "1.2.3",
           "-1", "1e9", "1E9", "99999999999", "100000000000", "1_0", " 1", "NaN", "Infinity", "",
           '"2025-11-22T01:02:03Z"', '"nope"', "null", "true"]
TOKENS = ["0", "1", "42", "00", "01", "-3", "3.0", "1e3", "999999999999", "1000000000000", "", "12}", "true",
          '"5"', "5 ", " 5"]
NAMES = ['"llm-agent"', '"coder"', '"ghost"', '""', '"co\\"der"', '"caf\\u00e9"', "7", "null", '"a, \\"tokens\\": 5"']
OPTIONAL = ["", ', "agent": "a1"', ', "model": "gpt-4o"', ', "model": null', ', "agent": "x", "model": "m"',
            ', "agent": 3', ', "tokens": 9', ', "ts": 4', ', "class": "coder"', ', "extra": [1, {"x": 2}]',
            ', "model": "m", "model": "n"']


VALID_NUMBERS = ["0", "1763780000", "1763780000.5", "1763780000.123", "999.25", '"2025-11-22T01:02:03Z"']
VALID_TOKENS = ["0", "1", "42", "999999999999"]
VALID_NAMES = ['"llm-agent"', '"coder"', '"ghost"']
VALID_OPTIONAL = ["", ', "agent": "a1"', ', "model": "gpt-4o"', ', "agent": "x", "model": "m"']


@st.composite
def counter_lines(draw):
    """Lines of the fast path's shape: half clean, half with a wrong part or a mutation."""
    dialect = draw(st.sampled_from(DIALECTS))
    clean = draw(st.booleans())
    pick = (lambda valid, every: draw(st.sampled_from(valid))) if clean else (
        lambda valid, every: draw(st.sampled_from(every)))
    line = (dialect.prefix + pick(VALID_NUMBERS, NUMBERS).encode() + dialect.class_sep
            + pick(VALID_NAMES, NAMES).encode() + pick(VALID_OPTIONAL, OPTIONAL).encode()
            + dialect.tokens_sep + pick(VALID_TOKENS, TOKENS).encode() + b"}")
    mutation = 0 if clean else draw(st.integers(0, 3))
    if mutation == 1 and line:  # drop a byte
        i = draw(st.integers(0, len(line) - 1))
        line = line[:i] + line[i + 1:]
    elif mutation == 2:  # insert a byte
        i = draw(st.integers(0, len(line)))
        line = line[:i] + bytes([draw(st.integers(0, 255))]) + line[i:]
    elif mutation == 3:  # trailing whitespace / CR
        line += draw(st.sampled_from([b" ", b"\r", b"\t", b"  \r"]))
    return line.replace(b"\n", b" ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(counter_lines(), min_size=1, max_size=30))
def test_fast_path_agrees_with_json_loads(lines):
    assert summary(fast_tally(lines)) == summary(slow_tally(lines))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")), max_size=40))
def test_fast_path_agrees_on_arbitrary_bytes(lines):
    assert summary(fast_tally(lines)) == summary(slow_tally(lines))


def test_groups_with_one_bad_member_fall_back_without_losing_the_good_ones():
    good = [b'{"ts": 1763780000.%d, "class": "coder", "tokens": %d}' % (i, i) for i in range(1, 50)]
    bad = b'{"ts": 1763780000.1.1, "class": "coder", "tokens": 7}'
    t = fast_tally(good + [bad])
    assert t.malformed == 1 and t.counted[("coder", None, None)][:2] == [sum(range(1, 50)), 49]


def test_json_dumps_output_round_trips():
    rec = {"ts": 1763780000.25, "class": "coder", "agent": "a", "model": "m", "tokens": 9}
    for dump in (json.dumps(rec), json.dumps(rec, separators=(",", ":"))):
        assert parse_line(dump.encode()) == ("coder", 9, 1763780000.25, "m", "a")
