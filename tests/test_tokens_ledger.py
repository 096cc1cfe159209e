"""TokenLedger end to end with a driven clock: files in, signals and state out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wlmtui import agent
from wlmtui.policy import load_policy, parse_policy
from wlmtui.tokens import state as store
from wlmtui.tokens.ledger import TokenLedger
from wlmtui.tokens.signal_file import FIELDS, read_signal, write_signal

HOUR0 = datetime(2025, 11, 22, 10, tzinfo=timezone.utc).timestamp()
SAMPLES = Path(__file__).resolve().parent.parent / "sample_policies"


def policy_text(tmp_path, extra_classes: str = "", budget: str = "10000/hour") -> str:
    return f"""
state_dir: {tmp_path}/state
service_classes:
  - name: llm-agent
    type: token
    budget: {budget}
    importance: 1
    signal_file: {tmp_path}/run/llm-agent.json
    counter_file: {tmp_path}/run/counters.jsonl
{extra_classes}
"""


def make_policy(tmp_path, extra_classes: str = "", budget: str = "10000/hour"):
    return parse_policy(policy_text(tmp_path, extra_classes, budget))


def ledger_for(policy, **kw):
    return TokenLedger(policy, clock=lambda: HOUR0, durable=False, **kw)


def spend(tmp_path, tokens: int, ts: float, cls: str = "llm-agent", model: str | None = None) -> None:
    agent.record(cls, tokens, model=model, agent="t", counter_file=str(tmp_path / "run" / "counters.jsonl"), ts=ts)


def test_a_window_fills_green_yellow_red_then_green_next_window(tmp_path):
    policy = make_policy(tmp_path)
    ledger = ledger_for(policy)
    signal_file = str(tmp_path / "run" / "llm-agent.json")
    now, seen = HOUR0, []
    ledger.tick(now)
    while now < HOUR0 + 3600 + 60:
        now += 10
        sig = agent.read_signal(signal_file, now=now, interval=10)
        if sig.allowed:  # an obedient agent at 4 tokens/s (14,400/hour against 10,000)
            spend(tmp_path, 40, now)
        status = ledger.tick(now)["llm-agent"]
        if not seen or seen[-1][1] != status.signal:
            seen.append((now - HOUR0, status.signal))
        if status.signal == "red" and now == HOUR0 + 2600:
            doc = read_signal(signal_file)
            assert list(doc) == list(FIELDS)
            assert doc["retry_after_s"] == 1000 and doc["budget_remaining"] == 0
            assert doc["window_resets_at"] == "2025-11-22T11:00:00Z"
    assert [s for _, s in seen] == ["green", "yellow", "red", "green"]
    t_yellow, t_red, t_green = seen[1][0], seen[2][0], seen[3][0]
    assert t_yellow < 900 and 2490 <= t_red <= 2510 and t_green == 3600
    doc = read_signal(signal_file)
    assert doc["signal"] == "green" and doc["retry_after_s"] is None


def test_signal_document_matches_the_readme_example(tmp_path):
    """The wlmd README's document: 4500 of 10000 left, 25m to go, ~220/min, "in 20m"."""
    ledger = ledger_for(make_policy(tmp_path))
    ledger.tick(HOUR0)
    for minute in range(1, 36):  # 1000 tokens over 15 minutes, then 225/min for 20
        spend(tmp_path, (67 if minute <= 10 else 66) if minute <= 15 else 225, HOUR0 + minute * 60)
        ledger.tick(HOUR0 + minute * 60)
    doc = read_signal(str(tmp_path / "run" / "llm-agent.json"))
    assert list(doc) == list(FIELDS)
    assert (doc["version"], doc["class"], doc["signal"]) == (1, "llm-agent", "yellow")
    assert (doc["budget_remaining"], doc["budget_total"], doc["window_remaining"]) == (4500, 10000, "25m")
    assert 215 <= doc["consumption_rate"] <= 225  # tokens per minute
    assert doc["projected_exhaustion"] == "in 20m" and doc["retry_after_s"] is None
    assert (doc["window_resets_at"], doc["updated_at"]) == ("2025-11-22T11:00:00Z", "2025-11-22T10:35:00Z")


def test_emergency_stop_is_black_until_resumed_even_from_another_process(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(tmp_path))
    policy = load_policy(path)
    ledger = ledger_for(policy)
    assert ledger.tick(HOUR0)["llm-agent"].signal == "green"
    env = {**os.environ, "WLMTUI_POLICY": str(path)}
    subprocess.run([sys.executable, "-m", "wlmtui", "tokens", "stop", "llm-agent", "--reason", "runaway"],
                   check=True, env=env, capture_output=True)
    status = ledger.tick(HOUR0 + 1)["llm-agent"]
    assert (status.signal, status.stopped, status.stop_reason, status.retry_after_s) == ("black", True, "runaway", None)
    assert read_signal(str(tmp_path / "run" / "llm-agent.json"))["signal"] == "black"
    ledger = ledger_for(policy)  # a restart keeps the stop
    assert ledger.tick(HOUR0 + 2)["llm-agent"].signal == "black"
    ledger.set_stop("llm-agent", False)
    assert ledger.tick(HOUR0 + 3)["llm-agent"].signal == "green"
    ledger.set_stop("llm-agent", True)
    assert ledger.tick(HOUR0 + 4)["llm-agent"].signal == "black"


def test_restart_mid_window_loses_and_double_counts_nothing(tmp_path):
    policy = make_policy(tmp_path)
    first = ledger_for(policy)
    spend(tmp_path, 100, HOUR0 + 1)
    first.tick(HOUR0 + 2)
    spend(tmp_path, 200, HOUR0 + 3)
    assert first.tick(HOUR0 + 4)["llm-agent"].consumed == 300
    del first  # "crash": no close(), only what each tick persisted
    spend(tmp_path, 400, HOUR0 + 5)  # appended while the ledger is down
    counters = tmp_path / "run" / "counters.jsonl"
    line = agent.format_line("llm-agent", 800, ts=HOUR0 + 6)
    with open(counters, "ab") as f:
        f.write(line[:17])  # a writer caught mid-line
    second = ledger_for(policy)
    status = second.tick(HOUR0 + 7)["llm-agent"]
    assert (status.consumed, status.tokens) == (700, 700)
    with open(counters, "ab") as f:
        f.write(line[17:])
    third = ledger_for(policy)  # and another restart before the next tick
    assert third.tick(HOUR0 + 8)["llm-agent"].consumed == 1500


def test_a_tick_whose_state_was_not_saved_is_recounted_exactly_once(tmp_path, monkeypatch):
    policy = make_policy(tmp_path)
    ledger = ledger_for(policy)
    spend(tmp_path, 100, HOUR0 + 1)
    ledger.tick(HOUR0 + 2)
    spend(tmp_path, 50, HOUR0 + 3)

    def disk_full(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "save_state", disk_full)
    status = ledger.tick(HOUR0 + 4)["llm-agent"]
    assert status.consumed == 150 and "state not saved" in status.last_error
    monkeypatch.undo()
    restarted = ledger_for(policy)  # died before a later save: starts from the last good state
    assert restarted.tick(HOUR0 + 5)["llm-agent"].consumed == 150


def test_restart_in_a_later_window_resets_and_old_records_are_late(tmp_path):
    policy = make_policy(tmp_path)
    ledger = ledger_for(policy)
    spend(tmp_path, 9000, HOUR0 + 10)
    assert ledger.tick(HOUR0 + 20)["llm-agent"].consumed == 9000
    spend(tmp_path, 500, HOUR0 + 3500)  # end of the old hour, written while down
    spend(tmp_path, 70, HOUR0 + 3700)  # the new hour
    status = ledger_for(policy).tick(HOUR0 + 3800)["llm-agent"]
    assert (status.consumed, status.late_tokens, status.window_start) == (70, 500, HOUR0 + 3600)


def test_future_records_count_in_the_current_window(tmp_path):
    ledger = ledger_for(make_policy(tmp_path))
    spend(tmp_path, 10, HOUR0 + 86400)  # an agent with a wrong clock
    assert ledger.tick(HOUR0 + 5)["llm-agent"].consumed == 10


def test_shared_counter_file_dispatches_by_class_and_counts_unknown(tmp_path):
    extra = f"""
  - name: monitor
    type: token
    budget: 500/hour
    importance: 4
    signal_file: {tmp_path}/run/monitor.json
    counter_file: {tmp_path}/run/counters.jsonl
  - name: web
    cgroup: web
    goal: {{type: response_time, target: 500ms}}
"""
    ledger = ledger_for(make_policy(tmp_path, extra))
    spend(tmp_path, 10, HOUR0 + 1)
    spend(tmp_path, 20, HOUR0 + 1, cls="monitor")
    spend(tmp_path, 40, HOUR0 + 1, cls="web")  # not a token class
    spend(tmp_path, 80, HOUR0 + 1, cls="ghost")
    with open(tmp_path / "run" / "counters.jsonl", "ab") as f:
        f.write(b"garbage\n")
    statuses = ledger.tick(HOUR0 + 2)
    assert set(statuses) == {"llm-agent", "monitor"}
    assert (statuses["llm-agent"].consumed, statuses["monitor"].consumed) == (10, 20)
    assert (statuses["monitor"].unknown, statuses["monitor"].malformed) == (2, 1)
    (fs,) = ledger.files
    assert fs.unknown_classes == (("ghost", 1), ("web", 1)) and fs.classes == ("llm-agent", "monitor")


def test_model_weights_scale_consumption(tmp_path):
    text = policy_text(tmp_path).replace("    importance: 1\n", "    importance: 1\n    model_weights: {o1: 4, mini: 0.5}\n")
    ledger = ledger_for(parse_policy(text))
    spend(tmp_path, 100, HOUR0 + 1, model="o1")
    spend(tmp_path, 100, HOUR0 + 1, model="mini")
    spend(tmp_path, 100, HOUR0 + 1, model="other")
    status = ledger.tick(HOUR0 + 2)["llm-agent"]
    assert (status.consumed, status.tokens) == (550, 300)


def test_missing_counter_file_is_zero_not_an_error(tmp_path):
    status = ledger_for(make_policy(tmp_path)).tick(HOUR0)["llm-agent"]
    assert (status.signal, status.consumed, status.last_error) == ("green", 0, None)
    assert os.path.exists(tmp_path / "run" / "llm-agent.json")  # the signal is published anyway


def test_reconfigure_keeps_consumption_and_applies_the_new_budget(tmp_path):
    ledger = ledger_for(make_policy(tmp_path))
    spend(tmp_path, 6000, HOUR0 + 1)
    assert ledger.tick(HOUR0 + 2)["llm-agent"].signal in ("green", "yellow")
    ledger.reconfigure(make_policy(tmp_path, budget="5500/hour"))
    status = ledger.tick(HOUR0 + 3)["llm-agent"]
    assert (status.consumed, status.budget, status.signal) == (6000, 5500, "red")
    ledger.reconfigure(make_policy(tmp_path, budget="1M/day"))  # a longer window keeps what was spent
    status = ledger.tick(HOUR0 + 4)["llm-agent"]
    assert (status.consumed, status.window) == (6000, "day")


def test_pool_in_the_ledger_uses_the_sample_policy(tmp_path):
    text = (SAMPLES / "agents.yaml").read_text(encoding="utf-8")
    text = text.replace("/var/lib/wlmtui", str(tmp_path / "state")).replace("/run/wlmtui", str(tmp_path / "run"))
    policy = parse_policy(text)
    ledger = TokenLedger(policy, durable=False)
    now = datetime(2025, 11, 10, tzinfo=timezone.utc).timestamp()
    for cls, n in (("arch-guardian", 100_000), ("code-generator", 2_300_000), ("monitor", 200_000)):
        agent.record(cls, n, model="gpt-4o", counter_file=str(tmp_path / "run" / "counters.jsonl"), ts=now)
    statuses = ledger.tick(now + 1)
    assert statuses["monitor"].allowance == 200_000 and statuses["monitor"].signal == "red"
    assert statuses["code-generator"].signal == "red"
    assert statuses["arch-guardian"].signal == "green" and statuses["arch-guardian"].allowance == 500_000
    doc = read_signal(str(tmp_path / "run" / "monitor.signal.json"))
    assert (doc["budget_total"], doc["budget_remaining"]) == (200_000, 0)
    json.dumps({k: v.to_json() for k, v in statuses.items()})  # plain JSON for --json output


def test_sample_token_policies_load():
    agents = load_policy(SAMPLES / "agents.yaml")
    assert [(c.name, c.importance, c.goal.value, c.goal.window, c.pool) for c in agents.classes] == [
        ("arch-guardian", 1, 500_000, "month", "agents"),
        ("code-generator", 2, 2_000_000, "month", "agents"),
        ("monitor", 4, 500_000, "month", "agents"),
    ]
    assert all(c.cgroup is None and c.signal_file and c.counter_file for c in agents.classes)
    (wlmd,) = load_policy(SAMPLES / "wlmd-token.yaml").classes
    assert (wlmd.name, wlmd.goal.value, wlmd.goal.window) == ("llm-agent", 10_000, "hour")
    assert wlmd.signal_file == "/var/run/wlm/token_state.json"


def test_unwritable_state_dir_is_reported_not_raised(tmp_path):
    (tmp_path / "state").write_text("a file where a directory should be")
    status = ledger_for(make_policy(tmp_path)).tick(HOUR0)["llm-agent"]
    assert status.signal == "green" and "state not saved" in status.last_error


def test_corrupt_state_file_is_set_aside_and_the_files_recounted(tmp_path):
    policy = make_policy(tmp_path)
    ledger = ledger_for(policy)
    spend(tmp_path, 123, HOUR0 + 1)
    ledger.tick(HOUR0 + 2)
    (tmp_path / "state" / "tokens-state.json").write_text("{not json")
    status = ledger_for(policy).tick(HOUR0 + 3)["llm-agent"]
    assert status.consumed == 123 and "moved aside" in status.last_error
    assert (tmp_path / "state" / "tokens-state.json.corrupt").exists()


READER = r"""
import json, os, sys
path, done = sys.argv[1], sys.argv[2]
reads, problems = 0, []
while not os.path.exists(done):
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
        if doc.get("signal") not in ("green", "red") or len(doc["pad"]) != 2000:
            problems.append(repr(doc)[:80])
        reads += 1
    except (ValueError, OSError) as exc:
        problems.append(repr(exc))
print(json.dumps({"reads": reads, "problems": problems[:5]}))
"""


def test_readers_never_see_a_partial_signal_file(tmp_path):
    path, done = str(tmp_path / "sig.json"), str(tmp_path / "done")
    write_signal(path, {"signal": "green", "n": 0, "pad": "x" * 2000})
    reader = subprocess.Popen([sys.executable, "-c", READER, path, done], stdout=subprocess.PIPE, text=True)
    try:
        for n in range(2000):  # the same atomic write the ledger does every tick
            write_signal(path, {"signal": "red" if n % 2 else "green", "n": n, "pad": "x" * 2000})
    finally:
        open(done, "w").close()
        out, _ = reader.communicate(timeout=30)
    result = json.loads(out)
    assert result["problems"] == [] and result["reads"] > 100
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


@pytest.mark.parametrize("stale_age, fail_open, expected", [(1, True, "red"), (10, True, "green"), (10, False, "red")])
def test_agent_staleness_rules_on_a_real_signal_file(tmp_path, stale_age, fail_open, expected):
    ledger = ledger_for(make_policy(tmp_path))
    spend(tmp_path, 10_000, HOUR0 + 1)
    ledger.tick(HOUR0 + 2)
    sig = agent.read_signal(str(tmp_path / "run" / "llm-agent.json"), fail_open=fail_open, now=HOUR0 + 2 + stale_age)
    assert sig.raw == "red" and sig.signal == expected and sig.stale == (stale_age > 3)
