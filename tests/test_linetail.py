"""wlmtui.linetail: the position in a followed file and the bytes-to-lines step."""

import base64
import os

from hypothesis import given, settings, strategies as st

from wlmtui.linetail import LineTail
from wlmtui.tokens.tailer import CounterTailer


def opened(path, data: bytes) -> LineTail:
    with open(path, "wb") as f:
        f.write(data)
    fd = os.open(path, os.O_RDONLY)
    st_ = os.fstat(fd)
    return LineTail(fd, (st_.st_dev, st_.st_ino), max_line=1024)


def test_complete_lines_come_out_and_the_unfinished_one_waits():
    t = LineTail()
    assert t.feed(b"a\nbb\ncc") == ([b"a", b"bb"], False)
    assert t.partial == b"cc"
    assert t.feed(b"c") == ([], False)
    assert t.feed(b"\n\n") == ([b"ccc", b""], False)
    assert t.partial == b""


@settings(max_examples=50, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       cuts=st.lists(st.integers(0, 1500), max_size=10))
def test_any_chunking_gives_the_same_lines(lines, cuts):
    data = b"".join(x + b"\n" for x in lines) + b"tail"
    t, got, pos = LineTail(max_line=1 << 20), [], 0
    for cut in sorted(min(c, len(data)) for c in cuts) + [len(data)]:
        got += t.feed(data[pos:cut])[0]
        pos = max(pos, cut)
    assert got == lines and t.partial == b"tail"


def test_an_overlong_unfinished_line_is_dropped_up_to_its_newline():
    t = LineTail(max_line=1024)
    assert t.feed(b"ok\n" + b"x" * 1000) == ([b"ok"], False)
    assert t.feed(b"x" * 100) == ([], True)
    assert (t.partial, t.skipping) == (b"", True)
    assert t.feed(b"x" * 5000) == ([], False)  # still inside it: dropped, not counted again
    assert t.feed(b"xx\nnext\nhalf") == ([b"next"], False)
    assert (t.partial, t.skipping) == (b"half", False)


def test_room_gives_the_rest_back_to_the_file(tmp_path):
    data = b"one\ntwo\nthree\nfour\nfive"
    t = opened(tmp_path / "f", data)
    got = []
    for room in (2, 1, 5, 5):
        got.append(t.feed(t.read(len(data), 1 << 20), room)[0])
    assert got == [[b"one", b"two"], [b"three"], [b"four"], []]
    assert (t.offset, t.partial) == (len(data), b"five")
    t.close()


def test_room_gives_back_an_unfinished_line_carried_from_before(tmp_path):
    data = b"a\nbbb\ncc\n"
    t = opened(tmp_path / "f", data)
    t.offset = 3  # "a\nb" read before: "b" is the unfinished line
    t.partial = b"b"
    assert t.feed(t.read(len(data), 1 << 20), 0) == ([], False)
    assert (t.offset, t.partial) == (2, b"")  # back to the start of "bbb"
    assert t.feed(t.read(len(data), 1 << 20)) == ([b"bbb", b"cc"], False)
    t.close()


def test_flush_and_rewind():
    t = LineTail(offset=10)
    t.feed(b"torn")
    assert t.flush() == b"torn" and t.partial == b"" and t.offset == 10
    t.feed(b"again")
    assert t.rewind() == b"again" and t.offset == 0
    t.skipping = True
    t.partial = b""
    assert t.flush() == b"" and not t.skipping  # a line being dropped is not judged


def test_detection_helpers():
    t = LineTail(offset=5)
    assert not t.replaced_by(None) and not t.replaced_by((1, 2))  # nothing followed yet
    t.ident = (1, 2)
    assert not t.replaced_by((1, 2)) and t.replaced_by((1, 3)) and t.replaced_by(None)
    assert t.truncated(4) and not t.truncated(5) and not t.truncated(6)


def test_read_moves_the_offset_and_close_is_idempotent(tmp_path):
    t = opened(tmp_path / "f", b"0123456789")
    assert (t.read(10, 4), t.offset) == (b"0123", 4)
    assert (t.read(6, 4), t.offset) == (b"45", 6)  # not past end
    assert t.size() == 10
    t.close()
    t.close()
    assert t.fd is None


def test_token_state_written_before_linetail_still_resumes(tmp_path):
    # the persisted shape of CounterTailer.export_state, as existing state files hold it
    path = tmp_path / "c.jsonl"
    first = b'{"class": "coder", "tokens": 5}\n'
    with open(path, "wb") as f:
        f.write(first + b'{"class": "coder", "tok')
    st_ = os.stat(path)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    saved = {"path": str(path), "offset": len(first) + 23, "dev": st_.st_dev, "inode": st_.st_ino,
             "partial": b64(b'{"class": "coder", "tok'), "head": b64(first[:64]),
             "mark": b64((first + b'{"class": "coder", "tok')[-64:]), "skipping": False,
             "lines": 1, "malformed": 0, "unknown": 0}
    t = CounterTailer(str(path))
    t.import_state(saved)
    assert t.export_state() == saved
    with open(path, "ab") as f:
        f.write(b'ens": 7}\n')
    r = t.poll()
    assert (r.tokens_by_class(), r.malformed, r.events) == ({"coder": 7}, 0, ())
    assert t.export_state()["lines"] == 2 and t.partial == b""
    t.close()
