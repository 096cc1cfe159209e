"""``wlmtui classify`` and ``wlmtui run`` on a fake cgroup tree (``--cgroup-root``).

``classify`` only reads. ``run`` writes the child's PID into the fake
tree's ``cgroup.procs`` — a plain file — and its sticky record into a
temporary state directory; nothing outside ``tmp_path`` is touched."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wlmtui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def fake_tree(tmp_path: Path, classes=("web", "batch")) -> Path:
    root = tmp_path / "cg"
    for c in classes:
        (root / c).mkdir(parents=True)
        (root / c / "cgroup.procs").write_text("")
        (root / c / "cpu.weight").write_text("100\n")
    return root


def write_policy(tmp_path: Path, marker: str, extra: str = "") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"""
state_dir: {tmp_path / 'state'}
service_classes:
  - name: web
    cgroup: web
    goal: {{type: velocity, target: 20}}
    classify:
      - cmdline: '{marker}-web'
  - name: batch
    cgroup: batch
    goal: {{type: velocity, target: 20}}
    classify:
      - cmdline: '{marker}-batch'
{extra}""")
    return path


def wlmtui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wlmtui", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, **kw)


@pytest.fixture
def sleepers():
    started = []

    def start(marker: str) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait()


def test_classify_lists_matching_processes_and_rules_json(tmp_path, sleepers):
    marker = "wlmt-" + secrets.token_hex(4)
    root = fake_tree(tmp_path)
    web, batch, _other = sleepers(f"{marker}-web"), sleepers(f"{marker}-batch"), sleepers(f"{marker}-none")
    (root / "web" / "cgroup.procs").write_text(f"{web.pid}\n")  # already in place
    time.sleep(0.1)
    policy = write_policy(tmp_path, marker)
    out = wlmtui("classify", str(policy), "--cgroup-root", str(root), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    mine = {m["pid"]: m for m in doc["matches"] if marker in m["cmdline"]}
    assert set(mine) == {web.pid, batch.pid}
    assert (mine[web.pid]["want"], mine[web.pid]["state"], mine[web.pid]["rule"]) == (
        "web", "in place", f"web#1 cmdline={marker}-web")
    assert mine[batch.pid]["state"] == "would move" and mine[batch.pid]["where"] == f"{policy}:13"
    assert doc["located"] and doc["dry_run"]
    assert (root / "batch" / "cgroup.procs").read_text() == ""  # nothing moved


def test_classify_text_output(tmp_path, sleepers, capsys):
    marker = "wlmt-" + secrets.token_hex(4)
    root = fake_tree(tmp_path)
    batch = sleepers(f"{marker}-batch")
    time.sleep(0.1)
    assert main(["classify", str(write_policy(tmp_path, marker)), "--cgroup-root", str(root)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(str(batch.pid)))
    assert "batch" in line and "would move" in line and f"batch#1 cmdline={marker}-batch" in line
    assert "policy.yaml:13" in line
    assert "would be moved" in out.splitlines()[-1]


def test_classify_of_an_invalid_policy_lists_problems(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("service_classes:\n  - name: a\n    cgroup: a\n    goal: {type: discretionary}\n"
                   "    classify: [{cmdline: '('}]\n")
    assert main(["classify", str(bad)]) == 1
    assert "classify[0].cmdline ('(') is not a valid regular expression" in capsys.readouterr().err


def test_run_starts_the_command_in_the_class_and_exits_with_its_code(tmp_path):
    root = fake_tree(tmp_path)
    policy = write_policy(tmp_path, "x")
    out_file = tmp_path / "pid"
    res = wlmtui("run", "--class", "batch", "--policy", str(policy), "--cgroup-root", str(root), "--no-create",
                 "--", "sh", "-c", f'echo $$ > {out_file}; ls {tmp_path}/state/sticky > {tmp_path}/records; exit 7')
    assert res.returncode == 7, res.stderr
    child = out_file.read_text().strip()
    assert (root / "batch" / "cgroup.procs").read_text() == f"{child}\n"
    assert (root / "web" / "cgroup.procs").read_text() == ""
    records = (tmp_path / "records").read_text().split()
    assert len(records) == 2 and any(r.startswith(f"{child}-") for r in records)  # child and wrapper, while running
    assert os.listdir(tmp_path / "state" / "sticky") == []  # removed afterwards


def test_run_exit_codes(tmp_path):
    root = fake_tree(tmp_path)
    policy = write_policy(tmp_path, "x")
    common = ["--policy", str(policy), "--cgroup-root", str(root), "--no-create"]
    missing = wlmtui("run", "--class", "web", *common, "--", "/nonexistent/cmd")
    assert missing.returncode == 127 and "/nonexistent/cmd: no such file or directory" in missing.stderr
    script = tmp_path / "noexec.sh"
    script.write_text("#!/bin/sh\n")
    denied = wlmtui("run", "--class", "web", *common, "--", str(script))
    assert denied.returncode == 126
    unknown = wlmtui("run", "--class", "nope", *common, "--", "true")
    assert unknown.returncode == 125 and "'nope' is not a class of this policy; classes with a cgroup: web, batch" \
        in unknown.stderr
    killed = wlmtui("run", "--class", "web", *common, "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + 15
    assert wlmtui("run", "--class", "web", *common).returncode == 2
    no_tree = wlmtui("run", "--class", "web", "--policy", str(policy), "--cgroup-root", str(tmp_path / "none"),
                     "--", "true")
    assert no_tree.returncode == 125 and "not a directory" in no_tree.stderr


def test_run_forwards_sigterm(tmp_path):
    root = fake_tree(tmp_path)
    policy = write_policy(tmp_path, "x")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "wlmtui", "run", "--class", "web", "--policy", str(policy),
                             "--cgroup-root", str(root), "--no-create", "--",
                             "sh", "-c", f"trap 'exit 42' TERM; touch {ready}; while :; do sleep 0.05; done"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if ready.exists():
                break
            time.sleep(0.05)
        proc.terminate()
        assert proc.wait(timeout=20) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
