"""``wlmtui arm report|status``: silent when wlmtui is down, exit 2 on bad arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from wlmtui.arm import client
from wlmtui.arm.receiver import ArmReceiver
from wlmtui.arm.wire import parse_line
from wlmtui.cli import main


@pytest.fixture
def short_dir(monkeypatch):
    d = tempfile.mkdtemp(prefix="arm-", dir="/tmp")
    monkeypatch.setenv("WLMTUI_ARM_SOCKET", f"{d}/arm.sock")
    monkeypatch.delenv("WLMTUI_ARM_FILE", raising=False)
    client.configure()
    yield d
    shutil.rmtree(d, ignore_errors=True)
    monkeypatch.undo()
    client.configure()


def test_report_when_wlmtui_is_down_is_silent_and_exits_0(short_dir, capsys):
    assert main(["arm", "report", "interactive", "12.5"]) == 0
    assert main(["arm", "report", "batch", "3", "--status", "failed"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    with open(f"{short_dir}/arm.jsonl", "rb") as f:
        recs = [parse_line(x) for x in f.read().splitlines()]
    assert [(r[0], r[1], r[2]) for r in recs] == [("interactive", 0.0125, "good"), ("batch", 0.003, "failed")]


def test_report_reaches_a_running_receiver(short_dir):
    with ArmReceiver(f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl", reader=False) as r:
        client.configure()
        assert main(["arm", "report", "web", "250"]) == 0
        b = r.drain()
        assert b.per_class["web"][0].seconds == 0.25 and b.from_file == 0


@pytest.mark.parametrize("argv", [
    ["arm"], ["arm", "report"], ["arm", "report", "web"], ["arm", "report", "web", "fast"],
    ["arm", "report", "web", "-5"], ["arm", "report", "web", "nan"], ["arm", "report", "web", "inf"],
    ["arm", "report", "web", "86400000"], ["arm", "report", "web", "5", "--status", "ok"],
    ["arm", "report", "", "5"], ["arm", "report", "web", "5", "extra"], ["arm", "bogus"],
])
def test_bad_arguments_exit_2_with_one_line(short_dir, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlmtui arm: ") and err.count("\n") == 1


def test_policy_state_dir_is_used(short_dir, tmp_path, capsys):
    state = f"{short_dir}/state"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"state_dir: {state}\nservice_classes:\n"
                      "  - {name: web, cgroup: web, goal: {type: response_time, target: 500ms}, importance: 1}\n")
    os.mkdir(state)
    assert main(["arm", "report", "web", "1", "--policy", str(policy)]) == 0
    assert os.path.exists(f"{state}/arm.jsonl") and not os.path.exists(f"{short_dir}/arm.jsonl")
    bad = tmp_path / "bad.yaml"
    bad.write_text("service_classes: 5\n")
    assert main(["arm", "report", "web", "1", "--policy", str(bad)]) == 2
    assert main(["arm", "report", "web", "1", "--policy", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_dash_lets_wlmtui_attribute_by_the_calling_shell(short_dir):
    asked = []

    def attribute(pid):
        asked.append(pid)
        return "scripted" if pid == os.getpid() else None

    with ArmReceiver(f"{short_dir}/arm.sock", None, attribute=attribute, reader=False) as r:
        env = dict(os.environ, WLMTUI_ARM_SOCKET=f"{short_dir}/arm.sock")
        done = subprocess.run([sys.executable, "-m", "wlmtui", "arm", "report", "-", "7", "--status", "aborted"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout == done.stderr == ""
        b = r.drain()
        assert asked == [os.getpid()]  # the parent of the command: here, this test process
        assert [(c.seconds, c.status) for c in b.per_class["scripted"]] == [(0.007, "aborted")]


def test_status(short_dir, capsys):
    assert main(["arm", "status"]) == 1
    assert "absent" in capsys.readouterr().out
    with ArmReceiver(f"{short_dir}/arm.sock", f"{short_dir}/arm.jsonl", reader=False):
        assert main(["arm", "status", "--json"]) == 0
        out = capsys.readouterr().out
        assert '"socket_state": "live"' in out and '"fallback_bytes": 0' in out
