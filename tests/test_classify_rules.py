"""Classify rules: validation (every problem with file:line) and matching
(first match in policy order; every attribute of a rule must match) —
examples and hypothesis properties against an independent oracle."""

from __future__ import annotations

import fnmatch
import os
import re
import textwrap
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlmtui.classify.rules import Rule, compile_glob, first_match, ordered_rules
from wlmtui.policy import PolicyError, parse_policy

HEAD = """
service_classes:
  - name: web
    cgroup: web
    goal: {type: velocity, target: 20}
"""


def problems(classify_yaml: str, head: str = HEAD) -> list[str]:
    text = textwrap.dedent(head) + textwrap.indent(textwrap.dedent(classify_yaml).lstrip("\n"), "    ")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [str(p) for p in info.value.problems]


def rules_of(classify_yaml: str) -> tuple[Rule, ...]:
    text = textwrap.dedent(HEAD) + textwrap.indent(textwrap.dedent(classify_yaml).lstrip("\n"), "    ")
    return parse_policy(text, "p.yaml").classes[0].classify


# ---------------------------------------------------------------- validation

def test_valid_rules_load_with_lines_and_descriptions():
    rules = rules_of("""
        classify:
          - {exe: [nginx, 'php-fpm*'], user: root}
          - cmdline: 'gunicorn|uvicorn'
            exe: 'python3*'
          - {tag: web}
          - {tag: 'APP=web', parent: /usr/sbin/sshd, gid: [0, 10]}
          - {uid: 990, group: root}
    """)
    assert [r.line for r in rules] == [7, 8, 10, 11, 12]
    assert rules[0].uids == frozenset({0}) and rules[0].text == "exe=[nginx,php-fpm*] user=root"
    assert rules[2].tags == (("WLM_TAG", "web"),)
    assert rules[3].tags == (("APP", "web"),) and rules[3].gids == frozenset({0, 10})
    assert rules[3].parent[0].full_path and not rules[0].exe[0].full_path
    assert rules[4].uids == frozenset({990}) and rules[4].gids == frozenset({0})
    assert rules[1].label("web") == "web#2 exe=python3* cmdline=gunicorn|uvicorn"
    assert rules[1].where == "p.yaml:8"


def test_every_rule_problem_is_reported_with_file_line_and_path():
    found = problems("""
        classify:
          - cmdline: '(unclosed'
          - {}
          - user: no-such-user-xyz
          - {group: no-such-group-xyz}
          - {exe: bin/python}
          - {uid: -1}
          - {uid: www}
          - {exe: nginx, colour: red}
          - {user: root, uid: 0}
          - {tag: 'bad name=1'}
          - {exe: []}
          - nginx
    """)
    assert found == [
        "p.yaml:7: service_classes[0].classify[0].cmdline ('(unclosed') is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
        "p.yaml:8: service_classes[0].classify[1] is empty; a rule needs at least one of: "
        "exe, cmdline, user, uid, group, gid, tag, parent",
        "p.yaml:9: service_classes[0].classify[2].user ('no-such-user-xyz') is not a known user on this host",
        "p.yaml:10: service_classes[0].classify[3].group ('no-such-group-xyz') is not a known group on this host",
        "p.yaml:11: service_classes[0].classify[4].exe ('bin/python') is a relative path; give a bare name "
        "('python') or an absolute path glob ('/…/bin/python')",
        "p.yaml:12: service_classes[0].classify[5].uid (-1) is outside 0–4294967294",
        "p.yaml:13: service_classes[0].classify[6].uid ('www') is not a number (use 'user:' for names)",
        "p.yaml:14: service_classes[0].classify[7].colour is not a known key "
        "(expected one of: exe, cmdline, user, uid, group, gid, tag, parent)",
        "p.yaml:15: service_classes[0].classify[8].uid and user both set; give one of them",
        "p.yaml:16: service_classes[0].classify[9].tag ('bad name=1') must be a tag ('web', meaning WLM_TAG=web) "
        "or NAME=value with NAME a variable name",
        "p.yaml:17: service_classes[0].classify[10].exe is an empty list; give at least one value or remove it",
        "p.yaml:18: service_classes[0].classify[11] must be a mapping of attributes "
        "(exe, cmdline, user, uid, group, gid, tag, parent), not str",
    ]


def test_unknown_user_suggests_a_near_name():
    (msg,) = problems("""
        classify:
          - user: rooot
    """)
    assert msg.startswith("p.yaml:7: service_classes[0].classify[0].user ('rooot') is not a known user")
    assert "did you mean 'root'?" in msg


def test_classify_must_be_a_list_and_needs_a_cgroup():
    assert problems("classify: {exe: nginx}\n") == [
        "p.yaml:6: service_classes[0].classify must be a list of rules (mappings such as {exe: nginx}), not CommentedMap"]
    token_head = """
service_classes:
  - name: agents
    type: token
    goal: {target: 10000/hour}
"""
    assert problems("classify: [{exe: claude}]\n", head=token_head) == [
        "p.yaml:6: service_classes[0].classify needs the class to have a cgroup (matching processes are moved into it)"]


def test_classify_problems_are_reported_with_the_rest_of_the_policy():
    found = problems("""
        min_weight: 0
        classify:
          - cmdline: '['
    """)
    assert [f.split(":")[1] for f in found] == ["6", "8"]


def test_classes_without_rules_have_none():
    policy = parse_policy(textwrap.dedent(HEAD))
    assert policy.classes[0].classify == ()


# ---------------------------------------------------------------- matching

@dataclass
class P:
    """A process as rules see it (a ProcessView)."""

    exe: str | None = "/usr/bin/true"
    cmdline: str | None = ""
    euid: int | None = 0
    gids: frozenset[int] | None = frozenset({0})
    parent_exe: str | None = "/usr/bin/bash"
    envs: dict[str, str] = field(default_factory=dict)

    def env(self, name: str) -> str | None:
        return self.envs.get(name)


def test_exe_basename_glob_and_path_glob():
    (base, path, star) = rules_of("""
        classify:
          - {exe: 'python3*'}
          - {exe: '/opt/*/bin/python3*'}
          - {exe: '*/libexec/*'}
    """)
    assert base.matches(P(exe="/usr/bin/python3.11")) and not base.matches(P(exe="/usr/bin/python2"))
    assert not base.matches(P(exe="/usr/bin/python3/../x"))
    assert path.matches(P(exe="/opt/app/bin/python3.12")) and not path.matches(P(exe="/usr/bin/python3"))
    assert star.matches(P(exe="/usr/libexec/gcc/cc1"))
    assert not base.matches(P(exe=None))  # unreadable exe never matches an exe rule


def test_cmdline_is_searched_user_group_tag_parent():
    (cmd, user, group, tag, other_tag, parent) = rules_of("""
        classify:
          - {cmdline: 'manage\\.py runserver'}
          - {uid: [1000, 1001]}
          - {gid: 27}
          - {tag: web}
          - {tag: 'APP=shop'}
          - {parent: sshd}
    """)
    assert cmd.matches(P(cmdline="python3 manage.py runserver 0:8000"))
    assert not cmd.matches(P(cmdline="python3 manage.py migrate")) and not cmd.matches(P(cmdline=None))
    assert user.matches(P(euid=1001)) and not user.matches(P(euid=0))
    assert group.matches(P(gids=frozenset({1000, 27}))) and not group.matches(P(gids=frozenset({1000})))
    assert tag.matches(P(envs={"WLM_TAG": "web"})) and not tag.matches(P(envs={"WLM_TAG": "webx"}))
    assert other_tag.matches(P(envs={"APP": "shop"})) and not other_tag.matches(P(envs={"WLM_TAG": "shop"}))
    assert parent.matches(P(parent_exe="/usr/sbin/sshd")) and not parent.matches(P(parent_exe=None))


def test_first_match_in_policy_order_across_classes():
    policy = parse_policy(textwrap.dedent("""
        service_classes:
          - name: web
            cgroup: web
            goal: {type: velocity, target: 20}
            classify: [{exe: nginx}, {tag: web}]
          - name: tokens
            type: token
            goal: {target: 10/hour}
          - name: batch
            cgroup: batch
            goal: {type: velocity, target: 20}
            classify: [{exe: nginx, uid: 33}, {exe: make}]
    """))
    rules = ordered_rules(policy.classes)
    assert [(c, r.index) for c, r in rules] == [("web", 0), ("web", 1), ("batch", 0), ("batch", 1)]
    assert first_match(rules, P(exe="/usr/sbin/nginx", euid=33))[0] == "web"  # web's rule comes first
    cls, rule = first_match(rules, P(exe="/usr/bin/make", envs={"WLM_TAG": "web"}))
    assert (cls, rule.index) == ("web", 1)
    assert first_match(rules, P(exe="/usr/bin/vim")) is None


# ---------------------------------------------------------------- properties

EXES = ["/usr/bin/python3.11", "/usr/sbin/nginx", "/usr/bin/make", "/opt/app/bin/server", None]
EXE_GLOBS = ["python3*", "nginx", "make", "/opt/*", "/usr/*/nginx", "*", "server", "*/bin/*"]
CMDS = ["", "python3 app.py --port 80", "make -j8", "nginx: worker process", None]
REGEXES = ["app\\.py", "^make", "worker", "-j[0-9]+", "port 8[0-9]"]
TAGS = [("WLM_TAG", "web"), ("WLM_TAG", "batch"), ("APP", "web")]


@st.composite
def processes(draw) -> P:
    envs = {}
    for var, value in draw(st.lists(st.sampled_from(TAGS), max_size=2)):
        envs[var] = value
    return P(exe=draw(st.sampled_from(EXES)), cmdline=draw(st.sampled_from(CMDS)),
             euid=draw(st.sampled_from([0, 33, 1000, None])),
             gids=draw(st.sampled_from([frozenset({0}), frozenset({100, 27}), frozenset({33}), None])),
             parent_exe=draw(st.sampled_from(EXES)), envs=envs)


def _some(draw, values):
    return draw(st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True)))


@st.composite
def rules(draw, index: int = 0) -> Rule:
    exe, parent, cmd = _some(draw, EXE_GLOBS), _some(draw, EXE_GLOBS), _some(draw, REGEXES)
    uids, gids, tags = _some(draw, [0, 33, 1000]), _some(draw, [0, 27, 33]), _some(draw, TAGS)
    if not any(x is not None for x in (exe, parent, cmd, uids, gids, tags)):
        exe = [draw(st.sampled_from(EXE_GLOBS))]
    return Rule(index=index, exe=None if exe is None else tuple(compile_glob(g) for g in exe),
                parent=None if parent is None else tuple(compile_glob(g) for g in parent),
                cmdline=None if cmd is None else tuple(re.compile(r) for r in cmd),
                uids=None if uids is None else frozenset(uids), gids=None if gids is None else frozenset(gids),
                tags=None if tags is None else tuple(tags))


def _glob_oracle(pattern: str, exe: str | None) -> bool:
    if exe is None:
        return False
    return fnmatch.fnmatchcase(exe if "/" in pattern else os.path.basename(exe), pattern)


def attribute_results(rule: Rule, p: P) -> list[bool]:
    """Each attribute the rule names, judged on its own (the oracle)."""
    out = []
    if rule.exe is not None:
        out.append(any(_glob_oracle(g.text, p.exe) for g in rule.exe))
    if rule.parent is not None:
        out.append(any(_glob_oracle(g.text, p.parent_exe) for g in rule.parent))
    if rule.cmdline is not None:
        out.append(p.cmdline is not None and any(re.search(rx.pattern, p.cmdline) for rx in rule.cmdline))
    if rule.uids is not None:
        out.append(p.euid in rule.uids)
    if rule.gids is not None:
        out.append(p.gids is not None and bool(p.gids & rule.gids))
    if rule.tags is not None:
        out.append(any(p.envs.get(var) == value for var, value in rule.tags))
    return out


@settings(max_examples=400, deadline=None)
@given(rule=rules(), p=processes())
def test_a_rule_matches_iff_every_attribute_it_names_matches(rule, p):
    results = attribute_results(rule, p)
    assert results, "a rule names at least one attribute"
    assert rule.matches(p) == all(results)


@st.composite
def rule_lists(draw) -> list[tuple[str, Rule]]:
    n = draw(st.integers(0, 6))
    return [(draw(st.sampled_from(["a", "b", "c"])), draw(rules(i))) for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(rs=rule_lists(), p=processes())
def test_first_match_is_the_first_rule_in_order_that_matches(rs, p):
    expected = next((i for i, (_c, r) in enumerate(rs) if all(attribute_results(r, p))), None)
    got = first_match(rs, p)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[1] is rs[expected][1] and got[0] == rs[expected][0]


@settings(max_examples=200, deadline=None)
@given(rs=rule_lists(), extra=rule_lists(), p=processes(), data=st.data())
def test_order_appending_never_changes_a_match_and_a_matching_rule_put_first_wins(rs, extra, p, data):
    before = first_match(rs, p)
    after = first_match(rs + extra, p)
    if before is not None:
        assert after is not None and after[1] is before[1]  # later rules never override
    head = data.draw(rules(99))
    lead = first_match([("z", head)] + rs, p)
    if head.matches(p):
        assert lead[0] == "z" and lead[1] is head
    else:
        assert lead == before


@settings(max_examples=200, deadline=None)
@given(rule=rules(), p=processes())
def test_adding_an_attribute_only_narrows_a_rule(rule, p):
    narrower = Rule(index=rule.index, exe=rule.exe, parent=rule.parent, cmdline=rule.cmdline,
                    uids=rule.uids, gids=rule.gids, tags=rule.tags if rule.tags is not None else (("WLM_TAG", "web"),))
    if rule.tags is not None:
        assert narrower.matches(p) == rule.matches(p)
    else:
        assert narrower.matches(p) == (rule.matches(p) and p.envs.get("WLM_TAG") == "web")
