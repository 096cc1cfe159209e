"""Policy loading and validation: wlmd compatibility and every-problem reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wlmtui.cli import main
from wlmtui.policy import PolicyError, load_policy, parse_policy

SAMPLES = Path(__file__).resolve().parent.parent / "sample_policies"


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(textwrap.dedent(text), "p.yaml")
    return [str(p) for p in info.value.problems]


def test_wlmd_readme_cpu_example_loads_unchanged():
    policy = load_policy(SAMPLES / "wlmd-compat.yaml")
    inter, batch = policy.classes
    assert (inter.name, inter.cgroup, inter.goal.type, inter.goal.value) == ("interactive", "wlm/interactive",
                                                                            "response_time", 2.0)
    assert (inter.importance, inter.min_weight, inter.max_weight) == (1, 10, 1000)
    # wlmd writes an empty velocity target: it means the default velocity
    assert batch.goal.type == "velocity" and batch.goal.value == 20.0
    assert (batch.min_weight, batch.max_weight, batch.base_weight) == (1, 900, 100)
    assert inter.psi_threshold == pytest.approx(0.05)  # 2 s target → 5 %


def test_every_sample_policy_is_valid():
    for path in sorted(SAMPLES.glob("*.yaml")):
        load_policy(path)


def test_minimal_token_class_of_wlmd_loads():
    policy = parse_policy(textwrap.dedent("""
        service_classes:
          - name: "llm-agent"
            type: "token"
            goal:
              target: "10000/hour"
            importance: 1
            signal_file: "/var/run/wlm/token_state.json"
            counter_file: "/var/run/wlm/token_counters.jsonl"
    """))
    (cls,) = policy.classes
    assert cls.is_token and cls.goal.value == 10000 and cls.goal.window == "hour"
    assert cls.cgroup is None


BROKEN = [
    ("service_classes: [", "p.yaml:1: is not valid YAML"),
    ("", "p.yaml:1: is empty"),
    ("- just a list", "must be a YAML mapping"),
    ("interval: 1s\n", "p.yaml:1: service_classes is missing"),
    ("service_classes: []", "service_classes must be a non-empty list"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         min_weight: 2000
         max_weight: 900
     """, "p.yaml:6: service_classes[0].min_weight (2000) is above max_weight (900)"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         max_weight: 20000
     """, "p.yaml:6: service_classes[0].max_weight (20000) is outside 1–10000"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
       - name: a
         cgroup: b
         goal: {type: velocity, target: 20}
     """, "p.yaml:6: service_classes[1].name ('a') duplicates service_classes[0]"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: response_time, target: soon}
     """, "p.yaml:5: service_classes[0].goal.target 'soon' is not a duration"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         importance: 6
     """, "p.yaml:6: service_classes[0].importance (6) is outside 1–5"),
    ("""
     service_classes:
       - name: a
         cgroup: ../../etc
         goal: {type: velocity, target: 20}
     """, "p.yaml:4: service_classes[0].cgroup ('../../etc') escapes the cgroup root"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         imporance: 1
     """, "p.yaml:6: service_classes[0].imporance is not a known key (did you mean 'importance'?)"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: throughput, target: lots}
     """, "service_classes[0].goal.target 'lots' is not a rate"),
    ("cgroup_root: ../up\nservice_classes:\n  - {name: a, cgroup: a, goal: {type: discretionary}}\n",
     "p.yaml:1: cgroup_root ('../up') escapes the cgroup mount"),
    ("""
     service_classes:
       - {name: a, type: token, goal: {target: 1M/month}, pool: p}
       - {name: b, type: token, goal: {target: 10K/hour}, pool: p}
     """, "p.yaml:4: service_classes[1].pool ('p') members must share one window: 'b' budgets per hour, 'a' per month"),
    ("""
     interval: fast
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
     """, "p.yaml:2: interval 'fast' is not a duration"),
    ("""
     service_classes:
       - name: t
         type: token
         goal: {target: 10000/fortnight}
     """, "service_classes[0].goal.target '10000/fortnight' is not a token budget"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         deadband: 5
     """, "service_classes[0].deadband (5) must be between 0 and 100% (did you mean '5%'?)"),
    ("""
     service_classes:
       - name: a
         cgroup: a
         goal: {type: velocity, target: 20}
         counter_file: /tmp/x
     """, "service_classes[0].counter_file only applies to token classes"),
    ("""
     service_classes:
       - name: a
         cgroup: shared
         goal: {type: velocity, target: 20}
       - name: b
         cgroup: /shared/
         goal: {type: velocity, target: 20}
     """, "service_classes[1].cgroup ('shared') is already the cgroup of class 'a'"),
]


@pytest.mark.parametrize("text,expected", BROKEN, ids=range(len(BROKEN)))
def test_broken_policy_reports_file_line_and_path(text, expected):
    found = problems(text)
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once():
    found = problems("""
        interval: 2x
        service_classes:
          - name: a
            cgroup: ../x
            goal: {type: respone_time, target: 1s}
            importance: 0
          - cgroup: b
            goal: {type: velocity, target: 200}
    """)
    assert len(found) == 6, found
    assert found[0].startswith("p.yaml:2: interval")
    assert any("did you mean 'response_time'" in p for p in found)
    assert any("service_classes[1].name is missing" in p for p in found)
    assert any("(200) must be a velocity between 1 and 99" in p for p in found)


def test_check_command_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text((SAMPLES / "web-and-batch.yaml").read_text())
    assert main(["check", str(good)]) == 0
    assert "OK — 3 service classes" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("service_classes:\n  - name: a\n    goal: {type: velocity}\n    cgroup: a\n    max_weight: 0\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:5: service_classes[0].max_weight (0) is outside 1–10000" in err
    assert main(["check", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: does not exist" in capsys.readouterr().err


def test_missing_policy_suggests_demo(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("WLMTUI_POLICY", raising=False)
    monkeypatch.setattr("wlmtui.cli.DEFAULT_POLICY", str(tmp_path / "nope.yaml"))
    assert main(["--no-ui"]) == 2
    assert "wlmtui --demo" in capsys.readouterr().err


def test_policy_from_environment(monkeypatch, capsys):
    monkeypatch.setenv("WLMTUI_POLICY", str(SAMPLES / "wlmd-compat.yaml"))
    assert main(["check"]) == 0
    assert "wlmd-compat.yaml: OK" in capsys.readouterr().out
