"""The agent-side API: record, read_signal, wait_until_allowed."""

from __future__ import annotations

import json
import os
import time

import pytest

from wlmtui import agent
from wlmtui.tokens.parse import parse_line
from wlmtui.tokens.signal_file import write_signal
from wlmtui.tokens.windows import iso_z

NOW = 1763780000.0


def publish(path, signal: str, age: float = 0.0, **extra) -> None:
    write_signal(str(path), {"version": 1, "class": "c", "signal": signal, "updated_at": iso_z(NOW - age), **extra},
                 durable=False)


def test_record_appends_one_parseable_line(tmp_path):
    path = tmp_path / "sub" / "counters.jsonl"  # the directory is created
    agent.record("coder", 1234, model="gpt-4o", agent="coder-3", counter_file=str(path), ts=NOW)
    agent.record("coder", 5, counter_file=str(path), ts=NOW + 1)
    lines = path.read_bytes().splitlines()
    assert parse_line(lines[0]) == ("coder", 1234, NOW, "gpt-4o", "coder-3")
    assert parse_line(lines[1]) == ("coder", 5, NOW + 1, None, None)
    assert list(json.loads(lines[0])) == ["ts", "class", "agent", "model", "tokens"]


def test_record_uses_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    monkeypatch.setenv("WLMTUI_COUNTER_FILE", str(path))
    monkeypatch.setenv("WLMTUI_AGENT", "from-env")
    agent.record("coder", 1)
    assert json.loads(path.read_text())["agent"] == "from-env"


@pytest.mark.parametrize("tokens", [-1, 1.5, True, "12", None])
def test_record_refuses_bad_token_counts(tmp_path, tokens):
    with pytest.raises(ValueError):
        agent.record("coder", tokens, counter_file=str(tmp_path / "c"))


def test_record_refuses_lines_too_long_to_append_atomically(tmp_path):
    with pytest.raises(ValueError):
        agent.record("coder", 1, model="m" * 5000, counter_file=str(tmp_path / "c"))


def test_concurrent_writers_never_interleave(tmp_path):
    path = str(tmp_path / "c.jsonl")
    pids = []
    for child in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child process
            try:
                for i in range(300):
                    agent.record("coder", 1, agent=f"w{child}", model="x" * 500, counter_file=path)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    lines = open(path, "rb").read().splitlines()
    assert len(lines) == 1200 and all(parse_line(line) is not None for line in lines)


def test_read_signal_fresh(tmp_path):
    publish(tmp_path / "s.json", "yellow", age=1, retry_after_s=None)
    sig = agent.read_signal(str(tmp_path / "s.json"), now=NOW)
    assert (sig.signal, sig.raw, sig.stale, sig.allowed) == ("yellow", "yellow", False, True)
    assert sig.age_s == pytest.approx(1.0)


@pytest.mark.parametrize("fail_open, expected", [(True, "green"), (False, "red")])
def test_stale_signal_follows_the_callers_choice(tmp_path, fail_open, expected):
    publish(tmp_path / "s.json", "red", age=3.5)
    sig = agent.read_signal(str(tmp_path / "s.json"), fail_open=fail_open, now=NOW)
    assert (sig.signal, sig.raw, sig.stale) == (expected, "red", True)


def test_staleness_scales_with_the_interval(tmp_path):
    publish(tmp_path / "s.json", "red", age=20)
    assert not agent.read_signal(str(tmp_path / "s.json"), interval=10, now=NOW).stale
    assert agent.read_signal(str(tmp_path / "s.json"), max_age_s=5, now=NOW).stale


def test_stale_black_stays_black(tmp_path):
    publish(tmp_path / "s.json", "black", age=600)
    assert agent.read_signal(str(tmp_path / "s.json"), fail_open=True, now=NOW).signal == "black"


@pytest.mark.parametrize("content", [None, b"", b"{half", b'{"signal": "purple"}', b"[1]", b"\xff\xfe"])
def test_missing_or_garbled_signal_never_raises(tmp_path, content):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_bytes(content)
    sig = agent.read_signal(str(path), now=NOW)
    assert sig.stale and sig.signal == "green" and sig.raw in ("missing", "invalid") and sig.error
    assert agent.read_signal(str(path), fail_open=False, now=NOW).signal == "red"


def test_wait_until_allowed_blocks_through_red(tmp_path):
    path = tmp_path / "s.json"
    publish(path, "red", age=NOW - time.time() - 3600)  # an hour in the future: fresh throughout
    naps: list[float] = []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) == 3:
            write_signal(str(path), {"signal": "green", "updated_at": iso_z(time.time())}, durable=False)

    sig = agent.wait_until_allowed(str(path), timeout=60, poll_s=2, sleep=sleep)
    assert sig.signal == "green" and naps == [2, 2, 2]


def test_wait_until_allowed_times_out_with_the_last_signal(tmp_path):
    path = tmp_path / "s.json"
    publish(path, "black", age=NOW - time.time() - 3600)
    clock = iter(range(0, 1000, 5))
    with pytest.raises(agent.BudgetWaitTimeout) as err:
        agent.wait_until_allowed(str(path), timeout=12, poll_s=5, sleep=lambda s: None, monotonic=lambda: next(clock))
    assert isinstance(err.value, TimeoutError) and err.value.signal.signal == "black"


def test_wait_fail_closed_on_a_missing_file_times_out(tmp_path):
    with pytest.raises(TimeoutError):
        agent.wait_until_allowed(str(tmp_path / "none"), timeout=0, fail_open=False, sleep=lambda s: None)
    assert agent.wait_until_allowed(str(tmp_path / "none"), timeout=0).signal == "green"
