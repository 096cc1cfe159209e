"""The systemd unit: its keys, systemd's own verifier where present, and ``wlmtui install-unit``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wlmtui.cli import main
from wlmtui.unit import DEFAULT_POLICY, REPO_EXEC, render, template

ROOT = Path(__file__).resolve().parent.parent
REPO_UNIT = ROOT / "packaging" / "systemd" / "wlmtui.service"


def unit_keys(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's INI dialect: sections, repeated keys kept in order, comments skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"line {number} is neither a section nor KEY=VALUE: {raw!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_repo_unit_is_the_template_rendered_for_env():
    assert REPO_UNIT.read_text() == render(REPO_EXEC, DEFAULT_POLICY)
    assert "@EXEC@" in template() and "@POLICY@" in template()


def test_unit_keys():
    u = unit_keys(REPO_UNIT.read_text())
    svc = u["Service"]
    assert svc["Type"] == ["notify"] and svc["NotifyAccess"] == ["main"]
    assert svc["WatchdogSec"] == ["30s"] and svc["Delegate"] == ["yes"]
    assert svc["ExecStart"] == ["/usr/bin/env wlmtui --no-ui --log /etc/wlmtui/policy.yaml"]
    assert svc["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert svc["Restart"] == ["on-failure"] and svc["StateDirectory"] == ["wlmtui"]
    assert svc["KillMode"] == ["process"]
    # hardening must leave /sys/fs/cgroup writable
    for key in ("ProtectKernelTunables", "ProtectControlGroups", "PrivateDevices"):
        assert svc.get(key, ["no"]) == ["no"], key
    assert svc.get("ProtectSystem") != ["strict"]
    assert u["Install"]["WantedBy"] == ["multi-user.target"]
    assert u["Unit"]["ConditionPathExists"] == ["/etc/wlmtui/policy.yaml"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_has_no_complaints(tmp_path):
    unit = tmp_path / "wlmtui.service"
    unit.write_text(REPO_UNIT.read_text())
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    # verify exits 0 for unknown keys and bad values too; it says so on stderr
    complaints = [ln for ln in res.stderr.splitlines() if str(unit) in ln or "wlmtui.service" in ln]
    assert complaints == [], res.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_verify_check_catches_a_bad_key(tmp_path):
    unit = tmp_path / "wlmtui.service"
    unit.write_text(REPO_UNIT.read_text().replace("Type=notify", "Type=notifyy"))
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "notifyy" in res.stderr


def test_install_unit_dry_run_prints_resolved_paths(tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    assert main(["install-unit", "--dry-run", "--policy", str(policy)]) == 0
    u = unit_keys(capsys.readouterr().out)
    (start,) = u["Service"]["ExecStart"]
    program = start.split()[0]
    assert Path(program).is_absolute() and Path(program).exists()
    assert start.endswith(f"--no-ui --log {policy}")
    assert u["Unit"]["ConditionPathExists"] == [str(policy)]


def test_install_unit_writes_atomically_and_prints_the_commands(tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("service_classes: []\n")
    prefix = tmp_path / "root"
    assert main(["install-unit", "--prefix", str(prefix), "--policy", str(policy),
                 "--exec", "/usr/local/bin/wlmtui"]) == 0
    out = capsys.readouterr().out
    target = prefix / "etc/systemd/system/wlmtui.service"
    assert target.read_text() == render("/usr/local/bin/wlmtui", str(policy))
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert "systemctl daemon-reload && systemctl enable --now wlmtui" in out
    assert [p.name for p in target.parent.iterdir()] == ["wlmtui.service"]  # no temp file left


def test_install_unit_errors_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["install-unit", "--prefix", str(blocker), "--policy", str(tmp_path / "p.yaml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"wlmtui: cannot write in {blocker}/etc/systemd/system")
    assert main(["install-unit", "--dry-run", "--exec", "wlmtui"]) == 1
    assert "needs an absolute path" in capsys.readouterr().err
    assert main(["install-unit", "--dry-run", "--policy", "/etc/my policy.yaml"]) == 1
    assert "plainer path" in capsys.readouterr().err
