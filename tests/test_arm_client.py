"""The ARM client API: never raises, never blocks, falls back, survives fork."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time

import pytest

import wlmtui.arm as arm
from wlmtui.arm import client
from wlmtui.arm.receiver import ArmReceiver
from wlmtui.arm.wire import parse_line


@pytest.fixture
def short_dir():
    d = tempfile.mkdtemp(prefix="arm-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    client.configure()


def delta(before: dict) -> dict:
    now = client.counters.as_dict()
    return {k: now[k] - before[k] for k in now if now[k] != before[k]}


def file_records(path: str) -> list:
    with open(path, "rb") as f:
        return [parse_line(x) for x in f.read().splitlines()]


def test_import_wlmtui_arm_exposes_the_api():
    assert callable(arm.transaction) and callable(arm.start) and callable(arm.report)
    assert arm.Transaction is client.Transaction and arm.STATUSES == ("good", "aborted", "failed", "unknown")


def test_paths_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("WLMTUI_ARM_SOCKET", "/run/x/arm.sock")
    monkeypatch.delenv("WLMTUI_ARM_FILE", raising=False)
    assert client.default_paths() == ("/run/x/arm.sock", "/run/x/arm.jsonl")
    monkeypatch.setenv("WLMTUI_ARM_FILE", "/tmp/f.jsonl")
    assert client.default_paths() == ("/run/x/arm.sock", "/tmp/f.jsonl")
    assert client.default_paths("/srv/state") == ("/srv/state/arm.sock", "/srv/state/arm.jsonl")
    monkeypatch.delenv("WLMTUI_ARM_SOCKET")
    monkeypatch.delenv("WLMTUI_ARM_FILE")
    assert client.default_paths() == ("/var/lib/wlmtui/arm.sock", "/var/lib/wlmtui/arm.jsonl")
    client.configure()
    assert client.paths() == ("/var/lib/wlmtui/arm.sock", "/var/lib/wlmtui/arm.jsonl")


def test_loop_down_writes_the_fallback_file(short_dir):
    client.configure(f"{short_dir}/arm.sock")  # no receiver; the file goes beside the socket
    before = client.counters.as_dict()
    arm.report("interactive", 12.5)
    arm.report(None, 3, "aborted")
    with arm.transaction("batch"):
        pass
    assert delta(before) == {"fallback": 3}
    recs = file_records(f"{short_dir}/arm.jsonl")
    now = time.time()
    assert [r[0] for r in recs] == ["interactive", None, "batch"]
    assert recs[0][1] == 0.0125 and recs[1][2] == "aborted" and recs[1][4] == os.getpid()
    assert all(now - 5 < r[3] <= now + 1 for r in recs)  # ts of completion


def test_socket_path_is_a_regular_file(short_dir):
    with open(f"{short_dir}/arm.sock", "w") as f:
        f.write("not a socket")
    client.configure(f"{short_dir}/arm.sock")
    before = client.counters.as_dict()
    arm.report("interactive", 1)
    with arm.transaction("interactive"):
        pass
    assert delta(before) == {"fallback": 2}


@pytest.mark.parametrize("where", ["parent-is-a-file", "in-proc", "read-only-dir"])
def test_fallback_that_cannot_be_written_drops_silently(short_dir, where):
    if where == "parent-is-a-file":
        with open(f"{short_dir}/file", "w") as f:
            f.write("x")
        fallback = f"{short_dir}/file/arm.jsonl"
    elif where == "in-proc":
        fallback = "/proc/arm.jsonl"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only directory anyway")
        os.chmod(short_dir, 0o500)
        fallback = f"{short_dir}/arm.jsonl"
    client.configure(f"{short_dir}/none.sock", fallback)
    before = client.counters.as_dict()
    for _ in range(3):
        arm.report("interactive", 1)
    with arm.transaction("interactive"):
        pass
    arm.start("interactive").stop()
    assert delta(before) == {"dropped": 5}


def test_fallback_file_over_the_limit_is_skipped(short_dir, monkeypatch):
    monkeypatch.setattr(client, "FALLBACK_LIMIT", 100)
    path = f"{short_dir}/arm.jsonl"
    with open(path, "wb") as f:
        f.write(b"x" * 101)
    client.configure(f"{short_dir}/arm.sock", path)
    before = client.counters.as_dict()
    arm.report("interactive", 1)
    assert delta(before) == {"dropped": 1} and os.path.getsize(path) == 101


def test_fallback_never_follows_a_symlink_or_opens_a_fifo(short_dir):
    os.symlink(f"{short_dir}/target", f"{short_dir}/link.jsonl")
    os.mkfifo(f"{short_dir}/fifo.jsonl")
    for name in ("link.jsonl", "fifo.jsonl"):
        client.configure(f"{short_dir}/arm.sock", f"{short_dir}/{name}")
        before = client.counters.as_dict()
        arm.report("interactive", 1)  # must not block on the fifo
        assert delta(before) == {"dropped": 1}
    assert not os.path.exists(f"{short_dir}/target")


def test_exception_in_the_transaction_propagates_unchanged_and_reports_failed(short_dir):
    client.configure(f"{short_dir}/arm.sock")

    class AppError(Exception):
        pass

    err = AppError("boom")
    with pytest.raises(AppError) as caught:
        with arm.transaction("interactive"):
            raise err
    assert caught.value is err
    with pytest.raises(KeyboardInterrupt):
        with arm.transaction("interactive"):
            raise KeyboardInterrupt
    assert [r[2] for r in file_records(f"{short_dir}/arm.jsonl")] == ["failed", "aborted"]


def test_async_context_manager(short_dir):
    import asyncio

    client.configure(f"{short_dir}/arm.sock")

    async def work():
        async with arm.transaction("web"):
            await asyncio.sleep(0.01)

    asyncio.run(work())
    (rec,) = file_records(f"{short_dir}/arm.jsonl")
    assert rec[0] == "web" and rec[1] >= 0.009


def test_bad_arguments_never_raise_and_are_counted(short_dir):
    client.configure(f"{short_dir}/arm.sock")
    before = client.counters.as_dict()
    arm.report("interactive", float("nan"))
    arm.report("interactive", float("inf"))
    arm.report("interactive", -1)
    arm.report("interactive", 86_400_000)
    arm.report("interactive", "fast")
    arm.report("interactive", True)
    arm.report("interactive", 1, status="ok")
    arm.report("", 1)
    arm.report(42, 1)
    arm.report(["unhashable"], 1)
    arm.report("x" * 5000, 1)
    h = arm.start({"bad": "class"})
    h.stop()
    arm.start("interactive").stop(status=None)
    assert delta(before) == {"invalid": 13}
    arm.report("interactive", 7)  # and it still works
    assert delta(before) == {"invalid": 13, "fallback": 1}


def test_handle_stop_is_idempotent_and_measures_elapsed_time(short_dir):
    client.configure(f"{short_dir}/arm.sock")
    h = arm.start("interactive")
    time.sleep(0.02)
    assert not h.stopped and h.elapsed_ms >= 19
    h.stop("unknown")
    h.stop("good")
    assert h.stopped
    (rec,) = file_records(f"{short_dir}/arm.jsonl")
    assert rec[2] == "unknown" and 0.019 <= rec[1] < 5


def test_receiver_restart_is_followed(short_dir):
    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    r1 = ArmReceiver(sock, path, reader=False)
    client.configure(sock, path)
    before = client.counters.as_dict()
    arm.report("a", 1)
    assert r1.drain().received == 1
    r1.close()
    arm.report("a", 2)  # refused: straight to the file
    r2 = ArmReceiver(sock, path, reader=False)  # skips (and counts) that line: it is history now
    arm.report("a", 3)  # within a second of the refusal: to the file (the old one, still read in grace)
    b = r2.drain()
    assert b.per_class["a"][0].seconds == 0.003 and b.dropped == 1 and b.from_file == 1
    client._channel.sock_retry_at = 0.0  # a second later
    arm.report("a", 4)  # reconnects to the new socket
    b = r2.drain()
    assert b.per_class["a"][0].seconds == 0.004 and b.from_file == 0
    assert delta(before) == {"sent": 2, "fallback": 2}
    r2.close()


def test_fork_child_gets_its_own_socket_and_reports_with_its_pid(short_dir):
    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    seen: list[int] = []

    def attribute(pid):
        seen.append(pid)
        return "child" if pid != os.getpid() else "parent"

    with ArmReceiver(sock, path, reader=False, attribute=attribute) as r:
        client.configure(sock, path)
        arm.report(None, 1)  # the parent connects its socket
        parent_sock = client._channel.sock
        assert parent_sock is not None
        rd, wr = os.pipe()  # child -> parent
        go_rd, go_wr = os.pipe()  # parent -> child
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                ok = client._channel.sock is None and client._channel.pid == os.getpid()
                arm.report(None, 2)
                arm.report("named", 3)
                ok = ok and client._channel.sock is not None and client._channel.sock is not parent_sock
                os.write(wr, b"1" if ok else b"0")
                os.read(go_rd, 1)  # stay alive until the parent has drained
            finally:
                os._exit(0)
        try:
            assert os.read(rd, 1) == b"1"
            b = r.drain()
        finally:
            os.write(go_wr, b"x")
            os.waitpid(pid, 0)
            for fd in (rd, wr, go_rd, go_wr):
                os.close(fd)
        assert pid in seen
        assert [c.seconds for c in b.per_class["parent"]] == [0.001]
        assert [c.seconds for c in b.per_class["child"]] == [0.002]
        assert [c.seconds for c in b.per_class["named"]] == [0.003]


def test_many_threads_report_concurrently(short_dir):
    import threading

    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    with ArmReceiver(sock, path) as r:
        client.configure(sock, path)

        def work():
            for _ in range(500):
                with arm.transaction("t"):
                    pass

        before = client.counters.as_dict()
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total, deadline = 0, time.monotonic() + 5
        while total < 2000 and time.monotonic() < deadline:
            total += r.drain().completions
            time.sleep(0.01)
        assert total == 2000
        d = delta(before)
        assert d.get("sent", 0) + d.get("fallback", 0) == 2000 and "dropped" not in d


def test_socket_full_goes_to_the_file_and_never_blocks(short_dir):
    sock, path = f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(sock)  # bound but never read: its queue fills at once
    os.chmod(sock, 0o666)
    client.configure(sock, path)
    before = client.counters.as_dict()
    t0 = time.monotonic()
    for _ in range(100):
        arm.report("x", 1)
    assert time.monotonic() - t0 < 2
    d = delta(before)
    assert d["sent"] >= 1 and d["fallback"] >= 50 and d["sent"] + d["fallback"] == 100
    dead.close()


def test_str_enum_class_names(short_dir):
    import enum

    class Cls(enum.StrEnum):
        WEB = "web"

    client.configure(f"{short_dir}/arm.sock")
    arm.report(Cls.WEB, 2)
    with arm.transaction(Cls.WEB):
        pass
    assert [r[0] for r in file_records(f"{short_dir}/arm.jsonl")] == ["web", "web"]
