"""ArmReceiver: socket and fallback file in, ArmBatch out; binding and cleaning up."""

from __future__ import annotations

import os
import random
import shutil
import socket
import stat
import tempfile
import time

import pytest

import wlmtui.arm as arm
from wlmtui.arm import client
from wlmtui.arm.receiver import ArmBatch, ArmError, ArmReceiver
from wlmtui.arm.tail import FallbackTail
from wlmtui.arm.wire import Completion, format_line, parse_line

from test_arm_wire import BAD


@pytest.fixture
def short_dir():
    """A short directory (Unix socket paths are limited to 107 bytes; pytest's tmp_path may be longer)."""
    d = tempfile.mkdtemp(prefix="arm-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rx(short_dir):
    r = ArmReceiver(f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl", classes=["interactive", "batch"], reader=False)
    client.configure(r.socket_path, r.fallback_file)
    yield r
    r.close()
    client.configure()


def sender(path: str, blocking: bool = False) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(path)
    s.setblocking(blocking)
    return s


def drain_until(r: ArmReceiver, received: int, timeout: float = 5.0) -> ArmBatch:
    """Merge drains until ``received`` lines were read (the reader thread may hold some)."""
    per: dict[str, list] = {}
    totals = dict.fromkeys(("malformed", "unknown_class", "unattributed", "received", "dropped", "from_file"), 0)
    deadline = time.monotonic() + timeout
    while True:
        b = r.drain(time.time())
        for k, v in b.per_class.items():
            per.setdefault(k, []).extend(v)
        for k in totals:
            totals[k] += getattr(b, k)
        if totals["received"] >= received or time.monotonic() > deadline:
            return ArmBatch(per_class={k: tuple(v) for k, v in per.items()}, **totals)
        time.sleep(0.005)


# ---------------------------------------------------------------- reports arrive


def test_api_reports_arrive_by_socket_with_class_seconds_and_status(rx):
    arm.report("interactive", 12.5)
    arm.report("batch", 1500, status="aborted")
    h = arm.start("interactive")
    h.stop("failed")
    h.stop("good")  # idempotent: nothing more is sent
    with arm.transaction("batch"):
        pass
    b = rx.drain(time.time())
    assert b.received == 4 and b.malformed == b.unknown_class == b.unattributed == b.dropped == 0
    assert b.from_file == 0
    inter = b.per_class["interactive"]
    assert inter[0] == Completion(0.0125, "good", None)
    assert inter[1].status == "failed" and 0 <= inter[1].seconds < 1
    batch = b.per_class["batch"]
    assert batch[0] == Completion(1.5, "aborted", None) and batch[1].status == "good"
    assert rx.drain(time.time()).received == 0  # nothing twice


def test_batched_datagram_and_file_fallback_with_partial_lines(rx):
    s = sender(rx.socket_path)
    s.send(format_line("interactive", 1) + format_line("batch", 2, "failed") + b"\n" + b'{"class":"batch","ms":3}')
    with open(rx.fallback_file, "ab") as f:
        f.write(format_line("interactive", 4, ts=1763780000.0) + b'{"class":"interactive","ms":5')
    b = rx.drain(time.time())
    assert b.received == 4 and b.from_file == 1 and b.malformed == 0
    assert [c.seconds for c in b.per_class["interactive"]] == [0.001, 0.004]
    assert b.per_class["interactive"][1].ts == 1763780000.0
    assert [(c.seconds, c.status) for c in b.per_class["batch"]] == [(0.002, "failed"), (0.003, "good")]
    with open(rx.fallback_file, "ab") as f:
        f.write(b".5}\n")  # the rest of the partial line
    b = rx.drain(time.time())
    assert b.received == 1 and b.per_class["interactive"] == (Completion(0.0055, "good", None),)
    s.close()


def test_loop_down_reports_go_to_the_file_and_are_read_later(short_dir):
    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    client.configure(sock, path)
    try:
        before = client.counters.fallback
        for i in range(5):
            arm.report("interactive", i)
        assert client.counters.fallback - before == 5
        lines = open(path, "rb").read().splitlines()
        assert len(lines) == 5 and all(b'"ts":' in x for x in lines)
        # a receiver started now skips that history (stale response times) and counts it as dropped
        with ArmReceiver(sock, path, reader=False) as r:
            b = r.drain(time.time())
            assert b.dropped == 5 and b.received == 0 and "created" in b.events
            assert os.stat(path).st_size == 0 and stat.S_IMODE(os.stat(path).st_mode) == 0o666
            client.configure(sock, path)
            arm.report("interactive", 9)
            assert r.drain(time.time()).per_class["interactive"] == (Completion(0.009, "good", None),)
    finally:
        client.configure()


def test_more_datagrams_than_the_kernel_queues_overflow_to_the_file_without_loss(rx):
    # Linux queues only net.unix.max_dgram_qlen datagrams (10 by default): the rest go to the file
    n = 300
    for i in range(n):
        arm.report("interactive", i % 50)
    b = rx.drain(time.time())
    assert b.received == n and b.completions == n and b.malformed == 0
    assert b.from_file > 0


def test_reader_thread_keeps_the_socket_empty(short_dir):
    with ArmReceiver(f"{short_dir}/arm.sock", None) as r:
        s = sender(r.socket_path, blocking=True)
        s.settimeout(5)
        for i in range(2000):
            s.send(b'{"class":"interactive","ms":%d}\n' % (i % 100))
        b = drain_until(r, 2000)
        assert b.received == 2000 and len(b.per_class["interactive"]) == 2000
        s.close()


def test_reader_thread_pauses_at_max_per_drain_and_nothing_is_lost(short_dir):
    with ArmReceiver(f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl", max_per_drain=50) as r:
        client.configure(r.socket_path, r.fallback_file)
        try:
            for i in range(400):
                arm.report("interactive", 1)
            total = 0
            deadline = time.monotonic() + 5
            while total < 400 and time.monotonic() < deadline:
                b = r.drain(time.time())
                assert b.received <= 50  # one budget for the socket and the file
                total += b.received
            assert total == 400
        finally:
            client.configure()


def test_unknown_classes_and_set_classes(rx):
    arm.report("nope", 1)
    arm.report("nope", 2)
    arm.report("interactive", 3)
    b = rx.drain(time.time())
    assert b.unknown_class == 2 and b.unknown_names == (("nope", 2),) and set(b.per_class) == {"interactive"}
    rx.set_classes(["nope"])
    arm.report("nope", 1)
    arm.report("interactive", 1)
    b = rx.drain(time.time())
    assert set(b.per_class) == {"nope"} and b.unknown_class == 1
    rx.set_classes(None)  # any name
    arm.report("whatever", 1)
    assert set(rx.drain(time.time()).per_class) == {"whatever"}


def test_unattributed_without_an_attributor(rx):
    arm.report(None, 1)
    b = rx.drain(time.time())
    assert b.unattributed == 1 and b.received == 1 and not b.per_class


def test_a_failing_attributor_does_not_break_the_drain(rx):
    def boom(pid):
        raise RuntimeError("no")

    rx.attribute = boom
    arm.report(None, 1)
    arm.report("batch", 1)
    b = rx.drain(time.time())
    assert b.unattributed == 1 and len(b.per_class["batch"]) == 1


# ---------------------------------------------------------------- malformed floods


def test_a_flood_of_malformed_datagrams_is_counted_and_ignored(short_dir):
    rng = random.Random(5)
    junk = [rng.randbytes(rng.randint(0, 300)) for _ in range(1500)]
    junk += [b"\xff" * rng.randint(1, 64) for _ in range(100)] + BAD[:-4] + [b"{" * 60000]
    expected = sum(1 for d in junk for part in d.split(b"\n") if part.strip(b" \t\r\n"))
    with ArmReceiver(f"{short_dir}/arm.sock", None, classes=["interactive"]) as r:
        s = sender(r.socket_path, blocking=True)
        s.settimeout(5)
        for i, d in enumerate(junk):
            s.send(d)
            if i % 100 == 0:
                s.send(b'{"class":"interactive","ms":1}')
        good = len(range(0, len(junk), 100))
        b = drain_until(r, expected + good)
        assert b.malformed == expected and b.received == expected + good
        assert len(b.per_class["interactive"]) == good
        # a datagram longer than the receive buffer is one malformed report
        big = sender(r.socket_path, blocking=True)
        big.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        big.send(b'{"class":"interactive","ms":1}' + b" " * 70000)
        b = drain_until(r, 1)
        assert b.malformed == 1 and not b.per_class
        s.close()
        big.close()


def test_malformed_and_overlong_lines_in_the_file(rx):
    with open(rx.fallback_file, "ab") as f:
        f.write(b"garbage\n" + b'{"class":"batch","ms":' + b"1" * 70000 + b"}\n" + format_line("batch", 1) + b"\n\n")
    b = rx.drain(time.time())
    assert b.malformed == 2 and b.completions == 1 and b.from_file == 3


# ---------------------------------------------------------------- the fallback file


def test_file_truncated_and_replaced_is_followed(short_dir):
    path = f"{short_dir}/f.jsonl"
    t = FallbackTail(path, grace=0.0)
    assert t.start().events == ["created"]
    with open(path, "ab") as f:
        f.write(format_line("a", 1) + format_line("a", 2))
    assert len(t.poll().lines) == 2
    with open(path, "wb") as f:  # truncated and rewritten shorter
        f.write(format_line("a", 3))
    r = t.poll()
    assert "truncated" in r.events and len(r.lines) == 1
    with open(path, "ab") as f:
        f.write(b'{"class":"a","ms":4}')  # unfinished, then the file is replaced under it
    assert t.poll().lines == []
    os.rename(path, path + ".old")
    with open(path, "wb") as f:
        f.write(format_line("a", 5))
    r = t.poll()
    assert "replaced" in r.events and r.lines == [b'{"class":"a","ms":4}', format_line("a", 5)[:-1]]
    t.close()


def test_receiver_rotates_a_big_file_and_clients_follow(short_dir, monkeypatch):
    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    monkeypatch.setattr(client, "RECHECK_S", 0.0)  # clients re-check the path at every write
    with ArmReceiver(sock, path, reader=False) as r:
        r.tail.rotate_at = 200
        r.tail.grace = 0.0
        client.configure("/nonexistent-dir/arm.sock", path)  # socket down: everything goes to the file
        try:
            for i in range(10):
                arm.report("interactive", i)
            first_inode = os.stat(path).st_ino
            b = r.drain(time.time())
            assert b.received == 10 and "rotated" in b.events
            assert os.stat(path).st_size == 0 and os.stat(path).st_ino != first_inode
            arm.report("interactive", 99)  # the client notices the new file
            b = r.drain(time.time())
            assert b.received == 1 and b.per_class["interactive"][0].seconds == 0.099
        finally:
            client.configure()


def test_fallback_file_that_cannot_be_used_is_reported_not_raised(short_dir):
    os.mkdir(f"{short_dir}/arm.jsonl")  # a directory where the file should be
    with ArmReceiver(f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl", reader=False) as r:
        b = r.drain(time.time())
        assert b.error and "arm.jsonl" in b.error
        s = sender(r.socket_path)
        s.send(format_line("x", 1))
        assert r.drain(time.time()).per_class["x"][0].seconds == 0.001
        s.close()


# ---------------------------------------------------------------- binding and cleaning up


def test_binds_mode_0666_and_removes_its_socket_on_close(short_dir):
    path = f"{short_dir}/sub/dir/arm.sock"  # the directory is created
    r = ArmReceiver(path, reader=True)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    r.close()
    assert not os.path.exists(path)
    r.close()  # idempotent
    assert r.drain(time.time()) == ArmBatch()


def test_stale_socket_is_replaced_but_a_live_one_is_not(short_dir):
    path = f"{short_dir}/arm.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(path)
    stale.close()  # the file stays: a receiver that died
    with ArmReceiver(path, reader=False) as r:
        s = sender(path)
        s.send(format_line("a", 1))
        assert r.drain(time.time()).received == 1
        with pytest.raises(ArmError, match="already bound"):
            ArmReceiver(path, reader=False)
        s.close()
    assert not os.path.exists(path)


def test_close_does_not_remove_a_socket_that_is_no_longer_ours(short_dir):
    path = f"{short_dir}/arm.sock"
    r = ArmReceiver(path, reader=False)
    os.unlink(path)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    other.bind(path)
    r.close()
    assert os.path.exists(path)
    other.close()


def test_bind_failures_are_one_line_arm_errors(short_dir):
    long_path = f"{short_dir}/" + "x" * 120 + "/arm.sock"
    with pytest.raises(ArmError, match="at most 107") as exc:
        ArmReceiver(long_path)
    assert "\n" not in str(exc.value)
    with open(f"{short_dir}/file", "w") as f:
        f.write("x")
    with pytest.raises(ArmError, match="not a socket"):
        ArmReceiver(f"{short_dir}/file")
    with pytest.raises(ArmError, match="cannot create the directory"):
        ArmReceiver(f"{short_dir}/file/arm.sock")  # a regular file where the directory should be


def test_an_unfinished_line_longer_than_the_limit_is_dropped_up_to_its_newline(short_dir):
    path = f"{short_dir}/f.jsonl"
    t = FallbackTail(path, max_line=1024)
    t.start()
    with open(path, "ab") as f:
        f.write(b'{"class":"a","ms":' + b"1" * 3000)
    r = t.poll()
    assert r.lines == [] and r.malformed == 1
    with open(path, "ab") as f:
        f.write(b"111}\n" + format_line("a", 2))
    assert t.poll().lines == [format_line("a", 2)[:-1]]
    t.close()


def test_file_budget_leaves_the_rest_for_the_next_poll(short_dir):
    path = f"{short_dir}/f.jsonl"
    t = FallbackTail(path)
    t.start()
    with open(path, "ab") as f:
        f.write(b"".join(format_line("a", i) for i in range(10)) + b'{"class":"a"')
    got = [t.poll(3).lines for _ in range(4)]
    assert [len(x) for x in got] == [3, 3, 3, 1]
    assert [parse_line(x)[1] for batch in got for x in batch] == [i / 1000 for i in range(10)]
    with open(path, "ab") as f:
        f.write(b',"ms":10}\n')
    assert [parse_line(x)[1] for x in t.poll(3).lines] == [0.01]
    t.close()
