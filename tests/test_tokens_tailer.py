"""CounterTailer: new bytes only, partial lines, rotation, truncation, restarts."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wlmtui.tokens.tailer import CounterTailer


def line(tokens: int, cls: str = "coder", ts: float = 1763780000.0) -> bytes:
    return (json.dumps({"ts": ts, "class": cls, "agent": "a", "model": "m", "tokens": tokens}) + "\n").encode()


def append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def total(result) -> int:
    return sum(u.tokens for u in result.counted)


def test_missing_file_is_not_an_error_and_is_picked_up_later(tmp_path):
    path = tmp_path / "c.jsonl"
    t = CounterTailer(str(path))
    r = t.poll()
    assert r.missing and r.error is None and total(r) == 0
    append(path, line(5))
    assert total(t.poll()) == 5


def test_reads_only_new_bytes(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1) + line(2))
    t = CounterTailer(str(path))
    assert total(t.poll()) == 3
    r = t.poll()
    assert (total(r), r.bytes_read) == (0, 0)
    append(path, line(4))
    r = t.poll()
    assert total(r) == 4 and r.bytes_read == len(line(4))


def test_partial_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "c.jsonl"
    whole = line(7)
    append(path, line(1) + whole[:20])
    t = CounterTailer(str(path))
    r = t.poll()
    assert (total(r), r.malformed) == (1, 0)
    append(path, whole[20:-1])
    assert (total(t.poll()), t.partial) == (0, whole[:-1])
    append(path, b"\n")
    r = t.poll()
    assert (total(r), r.malformed, t.partial) == (7, 0, b"")


def test_small_chunks_split_lines_anywhere(tmp_path):
    path = tmp_path / "c.jsonl"
    data = b"".join(line(i) for i in range(1, 200))
    append(path, data)
    t = CounterTailer(str(path), chunk_size=4096)
    t.chunk_size = 37  # force lines across chunk borders
    r = t.poll()
    assert (total(r), r.malformed, r.lines) == (sum(range(1, 200)), 0, 199)


def test_rotation_finishes_the_old_file_then_reads_the_new_one(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1))
    t = CounterTailer(str(path))
    assert total(t.poll()) == 1
    append(path, line(2) + line(4)[:10])  # written before the rename, never polled
    os.rename(path, tmp_path / "c.jsonl.1")
    append(tmp_path / "c.jsonl.1", line(4)[10:])  # writer still holds the old file
    append(path, line(8))  # the new file
    r = t.poll()
    assert "rotated" in r.events
    assert (total(r), r.malformed) == (2 + 4 + 8, 0)
    append(path, line(16))
    assert total(t.poll()) == 16


def test_rotation_with_a_torn_last_line_counts_it_malformed_once(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1) + line(2)[:15])
    t = CounterTailer(str(path))
    assert total(t.poll()) == 1
    os.rename(path, tmp_path / "old")
    append(path, line(4))
    r = t.poll()
    assert (total(r), r.malformed) == (4, 1)


def test_unterminated_but_complete_record_counts_at_rotation(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(3)[:-1])  # a writer that died before its newline
    t = CounterTailer(str(path))
    assert total(t.poll()) == 0
    os.rename(path, tmp_path / "old")
    append(path, line(5))
    r = t.poll()
    assert (total(r), r.malformed) == (8, 0)


def test_truncation_restarts_at_zero_without_double_counting(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1) + line(2))
    t = CounterTailer(str(path))
    assert total(t.poll()) == 3
    with open(path, "wb") as f:  # copytruncate
        f.write(line(4))
    r = t.poll()
    assert "truncated" in r.events and total(r) == 4
    assert total(t.poll()) == 0


def test_truncation_in_the_middle_of_a_partial_line(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1) + line(2)[:12])
    t = CounterTailer(str(path))
    assert total(t.poll()) == 1
    with open(path, "wb") as f:
        f.write(line(8))
    r = t.poll()
    assert (total(r), r.malformed) == (8, 1)  # the torn line is reported, nothing else lost


def test_truncated_and_refilled_past_the_old_offset_is_noticed(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1, ts=1763780000.0))
    t = CounterTailer(str(path))
    assert total(t.poll()) == 1
    refill = b"".join(line(10, ts=1763780100.0) for _ in range(5))
    with open(path, "wb") as f:
        f.write(refill)
    r = t.poll()
    assert "truncated" in r.events and total(r) == 50


def test_state_round_trip_resumes_exactly(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1) + line(2)[:9])
    t = CounterTailer(str(path))
    assert total(t.poll()) == 1
    saved = json.loads(json.dumps(t.export_state()))
    t.close()
    append(path, line(2)[9:] + line(4))
    resumed = CounterTailer(str(path))
    resumed.import_state(saved)
    r = resumed.poll()
    assert (total(r), r.malformed) == (6, 0)


def test_restart_after_rotation_finds_the_old_file_by_inode(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1))
    t = CounterTailer(str(path))
    t.poll()
    saved = t.export_state()
    t.close()
    append(path, line(2))  # while we were down ...
    os.rename(path, tmp_path / "c.jsonl.1")  # ... it was rotated
    append(path, line(4))
    resumed = CounterTailer(str(path))
    resumed.import_state(saved)
    r = resumed.poll()
    assert total(r) == 6 and "rotated" in r.events


def test_restart_after_the_old_file_was_deleted_reads_the_new_one(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1))
    t = CounterTailer(str(path))
    t.poll()
    saved = t.export_state()
    t.close()
    os.unlink(path)
    append(path, line(4) + line(4))
    resumed = CounterTailer(str(path))
    resumed.import_state(saved)
    r = resumed.poll()
    assert total(r) == 8


def test_bad_state_dict_is_ignored(tmp_path):
    t = CounterTailer(str(tmp_path / "c"))
    t.import_state({"offset": "x", "partial": "%%%"})
    assert t.offset == 0 and t.ident is None


def test_directory_instead_of_file_reports_an_error(tmp_path):
    r = CounterTailer(str(tmp_path)).poll()
    assert r.error and total(r) == 0


def test_overlong_partial_line_is_dropped_and_counted(tmp_path):
    path = tmp_path / "c.jsonl"
    t = CounterTailer(str(path), max_line=1024)
    append(path, b"x" * 5000)
    r = t.poll()
    assert r.malformed == 1 and t.partial == b""
    append(path, b"y" * 100 + b"\n" + line(3))
    r = t.poll()
    assert (total(r), r.malformed) == (3, 0)


def test_classes_filter_makes_unknown_and_late(tmp_path):
    path = tmp_path / "c.jsonl"
    append(path, line(1, "coder", ts=50.0) + line(2, "coder", ts=150.0) + line(4, "other"))
    r = CounterTailer(str(path)).poll({"coder": 100.0})
    assert total(r) == 2 and sum(u.tokens for u in r.late) == 1
    assert (r.unknown, r.unknown_classes) == (1, (("other", 1),))


# ------------------------------------------------------------ garbage never crashes

garbage_line = st.one_of(
    st.binary(min_size=1, max_size=60),
    st.text(min_size=1, max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.integers(1, len(line(5)) - 2).map(lambda k: line(5)[:k]),  # torn before "}": never valid JSON
).map(lambda b: b.replace(b"\n", b"")).filter(lambda b: b.strip(b" \t\r"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(garbage_line, min_size=450, max_size=550), cuts=st.lists(st.integers(0, 40000), max_size=6))
def test_garbage_lines_never_crash_and_are_each_malformed(tmp_path_factory, lines, cuts):
    # about 10,000 lines over the examples, appended in pieces split at random bytes
    path = tmp_path_factory.mktemp("g") / "c.jsonl"
    data = b"\n".join(lines) + b"\n"
    t = CounterTailer(str(path), chunk_size=4096)
    pos, malformed, counted = 0, 0, 0
    for cut in sorted(cuts) + [len(data)]:
        cut = min(cut, len(data))
        append(path, data[pos:cut])
        pos = max(pos, cut)
        r = t.poll()
        malformed += r.malformed
        counted += total(r) + r.unknown
    assert (malformed, counted) == (len(lines), 0)
