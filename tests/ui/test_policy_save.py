"""Round-trip saving of console edits (no Textual involved)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from wlmtui.policy import Gains, parse_policy
from wlmtui.ui.policy_save import (
    FileStamp,
    SaveError,
    atomic_write_with_backup,
    backup_path,
    changed_fields,
    changed_on_disk,
    detect_indent,
    field_values,
    diff,
    policy_to_yaml,
    render_updated_yaml,
)

from .support import COMMENTED_POLICY

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_policies").glob("*.yaml")) + [ROOT / "wlmtui" / "data" / "demo.yaml"]


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


@pytest.mark.parametrize("path", SAMPLES + [None], ids=lambda p: p.name if p else "commented")
def test_unchanged_policy_renders_identically(path):
    text = path.read_text() if path else COMMENTED_POLICY
    policy = parse_policy(text)
    assert render_updated_yaml(text, policy) == text
    everything = {c.name: {"kp", "ki", "importance", "min_weight", "max_weight"} for c in policy.classes}
    rewritten = render_updated_yaml(text, policy, only=everything)
    again = parse_policy(rewritten)
    assert [field_values(c) for c in again.classes] == [field_values(c) for c in policy.classes]
    assert comments(rewritten) == comments(text)


def test_edits_change_only_the_edited_fields_and_keep_every_comment():
    policy = parse_policy(COMMENTED_POLICY)
    web = policy.get("web")
    edited = replace(web, gains=Gains(1.25, web.gains.ki), importance=2,
                     goal=replace(web.goal, target="250ms", value=0.25))
    out = render_updated_yaml(COMMENTED_POLICY, policy.with_class(edited))
    assert comments(out) == comments(COMMENTED_POLICY)
    again = parse_policy(out)
    assert again.get("web").gains == Gains(1.25, 0.7)
    assert again.get("web").importance == 2
    assert again.get("web").goal.target == "250ms"
    assert again.get("batch") == policy.get("batch")
    changed = [ln for ln in diff(COMMENTED_POLICY, out).splitlines() if ln.startswith(("+", "-"))
               and not ln.startswith(("+++", "---"))]
    assert len(changed) == 6  # three lines out, three lines in: nothing else moved
    assert "      kp: 1.25                # tuned after the May incident" in out


def test_new_keys_are_inserted_next_to_their_neighbours():
    policy = parse_policy(COMMENTED_POLICY)
    batch = policy.get("batch")
    edited = replace(batch, gains=Gains(0.9, 0.5), min_weight=5, psi_threshold=0.04,
                     goal=replace(batch.goal, target="35", value=35.0))
    out = render_updated_yaml(COMMENTED_POLICY, policy.with_class(edited))
    lines = out.splitlines()
    start = lines.index("  - name: batch")
    block = lines[start:start + 8]
    assert "    goal: {type: velocity, target: 35}   # flow-style goal" in block
    assert "    min_weight: 5" in block
    assert "    gains: {kp: 0.9}" in block
    assert parse_policy(out).get("batch").gains == Gains(0.9, 0.5)


def test_only_restricts_what_is_written():
    policy = parse_policy(COMMENTED_POLICY)
    web = policy.get("web")
    edited = policy.with_class(replace(web, gains=Gains(2.0, 2.0), importance=3))
    out = render_updated_yaml(COMMENTED_POLICY, edited, only={"web": {"kp"}})
    again = parse_policy(out).get("web")
    assert again.gains == Gains(2.0, 0.7) and again.importance == 1


def test_token_budget_and_pool():
    policy = parse_policy(COMMENTED_POLICY)
    agents = policy.get("agents")
    edited = replace(agents, goal=replace(agents.goal, target="20K/hour", value=20000.0), pool="team")
    assert changed_fields(agents, edited) == {"budget", "pool"}
    out = render_updated_yaml(COMMENTED_POLICY, policy.with_class(edited))
    assert re.search(r"^    budget: 20K/hour +# per calendar hour$", out, re.M)
    again = parse_policy(out).get("agents")
    assert again.goal.value == 20000 and again.pool == "team"
    back = render_updated_yaml(out, parse_policy(out).with_class(replace(again, pool=None)))
    assert "pool" not in back


def test_bad_original_text_is_a_save_error():
    policy = parse_policy(COMMENTED_POLICY)
    with pytest.raises(SaveError):
        render_updated_yaml("service_classes: [", policy)
    with pytest.raises(SaveError):
        render_updated_yaml("just: a mapping\n", policy, only={"web": {"kp"}})


def test_detect_indent():
    assert detect_indent(COMMENTED_POLICY) == (2, 4, 2)
    assert detect_indent("a:\n    b: 1\nlist:\n- x: 1\n  y: 2\n") == (4, 2, 0)


def test_policy_without_file_gets_a_fresh_text():
    policy = parse_policy(COMMENTED_POLICY)
    again = parse_policy(policy_to_yaml(policy))
    for c in policy.classes:
        d = again.get(c.name)
        assert (d.gains, d.importance, d.max_step, d.deadband, d.psi_threshold, d.goal.value, d.min_weight, d.max_weight, d.base_weight) == \
               (c.gains, c.importance, c.max_step, c.deadband, c.psi_threshold, c.goal.value, c.min_weight, c.max_weight, c.base_weight)


def test_atomic_write_keeps_a_backup_and_the_mode(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    stamp = atomic_write_with_backup(path, "new\n")
    assert path.read_text() == "new\n"
    assert backup_path(path).read_text() == "old\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stamp == FileStamp.of(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_new_file_and_failure(tmp_path):
    fresh = tmp_path / "fresh.yaml"
    atomic_write_with_backup(fresh, "x: 1\n")
    assert fresh.read_text() == "x: 1\n" and not backup_path(fresh).exists()
    with pytest.raises(SaveError):
        atomic_write_with_backup(tmp_path / "missing-dir" / "p.yaml", "x\n")


def test_file_stamp_notices_changes(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    stamp = FileStamp.of(path)
    assert not changed_on_disk(path, stamp)
    os.utime(path, ns=(1, 1))  # touched, same bytes: not a change
    assert not changed_on_disk(path, stamp)
    path.write_text("a: 2\n")
    assert changed_on_disk(path, stamp)
    path.unlink()
    assert changed_on_disk(path, stamp)
    assert FileStamp.of(path) is None
    assert not changed_on_disk(path, None)
