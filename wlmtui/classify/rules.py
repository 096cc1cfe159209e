"""Classification rules: which service class a process belongs to.

A class's ``classify:`` is a list of rules. A rule is a mapping of task
attributes, and it matches a process when *every* attribute it names
matches (an attribute given as a list matches when any of its values does):

========== ===============================================================
``exe``     executable: a bare name or glob matches the basename
            (``nginx``, ``python3*``); a glob with ``/`` matches the full
            path (``/opt/app/bin/*``). From ``/proc/PID/exe``.
``cmdline`` regular expression, searched (``re.search``) in the command
            line with its arguments joined by single spaces.
``user``    user name(s) — or ``uid``: number(s) — matched against the
            effective uid. Names are resolved when the policy is loaded.
``group``   group name(s) — or ``gid``: number(s) — matched against the
            effective gid and the supplementary groups.
``tag``     the application tag of CKRM: ``web`` means the environment
            variable ``WLM_TAG=web``; ``NAME=value`` names another variable.
            Read from ``/proc/PID/environ``: the environment the process
            was started (exec'd) with.
``parent``  the parent's executable, as ``exe``.
========== ===============================================================

Rules are evaluated in policy order — classes in file order, each class's
rules in order — and the first rule that matches wins (:func:`first_match`).

:func:`parse_rules` is the validator the policy loader calls for each
class; it reports problems through the loader's checker, with ``file:line``
and field path, like the rest of the policy.
"""

from __future__ import annotations

import difflib
import grp
import os
import pwd
import re
from dataclasses import dataclass
from fnmatch import translate
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence

if TYPE_CHECKING:  # the checker lives in wlmtui.policy, which imports this module
    from wlmtui.policy import _Checker

RULE_KEYS = ("exe", "cmdline", "user", "uid", "group", "gid", "tag", "parent")
DEFAULT_TAG_VAR = "WLM_TAG"
ID_MAX = 2**32 - 2  # (uid_t) -1 is "no id"
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ProcessView(Protocol):
    """The attributes a rule can ask about (read lazily by the classifier).

    Each is ``None`` when it cannot be read (process gone, permission)."""

    @property
    def exe(self) -> str | None: ...
    @property
    def cmdline(self) -> str | None: ...
    @property
    def euid(self) -> int | None: ...
    @property
    def gids(self) -> frozenset[int] | None: ...  # effective gid and supplementary groups
    @property
    def parent_exe(self) -> str | None: ...
    def env(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Glob:
    """An ``exe``/``parent`` pattern: basename glob, or full-path glob with ``/``."""

    text: str
    regex: re.Pattern
    full_path: bool

    def match(self, exe: str) -> bool:
        return self.regex.match(exe if self.full_path else exe.rsplit("/", 1)[-1]) is not None


def compile_glob(text: str) -> Glob:
    return Glob(text, re.compile(translate(text), re.DOTALL), "/" in text)


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule. ``None`` attributes are not tested."""

    index: int = 0  # position in its class's list (0-based)
    line: int = 0
    file: str = ""
    exe: tuple[Glob, ...] | None = None
    cmdline: tuple[re.Pattern, ...] | None = None
    uids: frozenset[int] | None = None
    gids: frozenset[int] | None = None
    tags: tuple[tuple[str, str], ...] | None = None  # (variable, value)
    parent: tuple[Glob, ...] | None = None
    text: str = ""  # compact description, as written: "exe=nginx user=www-data"

    def matches(self, p: ProcessView, *, exe_known: bool = False) -> bool:
        """Every attribute named must match. Cheap reads are tried first.
        ``exe_known``: the caller already knows ``exe`` matches (:class:`RuleSet`)."""
        if self.exe is not None and not exe_known:
            exe = p.exe
            if exe is None or not self.exe_matches(exe):
                return False
        if self.parent is not None:
            pexe = p.parent_exe
            if pexe is None or not any(g.match(pexe) for g in self.parent):
                return False
        if self.cmdline is not None:
            cmd = p.cmdline
            if cmd is None or not any(rx.search(cmd) for rx in self.cmdline):
                return False
        if self.uids is not None:
            uid = p.euid
            if uid is None or uid not in self.uids:
                return False
        if self.gids is not None:
            gids = p.gids
            if gids is None or self.gids.isdisjoint(gids):
                return False
        if self.tags is not None:
            if not any(p.env(var) == value for var, value in self.tags):
                return False
        return True

    def exe_matches(self, exe: str | None) -> bool:
        return self.exe is None or (exe is not None and any(g.match(exe) for g in self.exe))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else f"line {self.line}"

    def label(self, cls: str) -> str:
        """``web#2 exe=nginx`` — class, 1-based rule number, attributes."""
        return f"{cls}#{self.index + 1} {self.text}"


#: (class name, rule) in evaluation order
RuleList = Sequence[tuple[str, Rule]]


def ordered_rules(classes: Iterable[Any]) -> tuple[tuple[str, Rule], ...]:
    """Every class's rules in policy order (classes without a cgroup skipped)."""
    return tuple((c.name, r) for c in classes if getattr(c, "cgroup", None) for r in getattr(c, "classify", ()))


def first_match(rules: RuleList, p: ProcessView) -> tuple[str, Rule] | None:
    """The first ``(class, rule)`` whose rule matches ``p``, or ``None``."""
    for cls, rule in rules:
        if rule.matches(p):
            return cls, rule
    return None


def _predicates(rule: Rule) -> tuple[Callable[[ProcessView], bool], ...]:
    """The rule's attributes other than ``exe`` as small tests, cheapest first
    (what :meth:`Rule.matches` does, without its generic branching)."""
    tests: list[Callable[[ProcessView], bool]] = []
    if rule.parent is not None:
        globs = rule.parent
        tests.append(lambda p: (x := p.parent_exe) is not None and any(g.match(x) for g in globs))
    if rule.cmdline is not None:
        if len(rule.cmdline) == 1:
            search = rule.cmdline[0].search
            tests.append(lambda p: (x := p.cmdline) is not None and search(x) is not None)
        else:
            rxs = rule.cmdline
            tests.append(lambda p: (x := p.cmdline) is not None and any(rx.search(x) for rx in rxs))
    if rule.uids is not None:
        uids = rule.uids
        tests.append(lambda p: p.euid in uids)
    if rule.gids is not None:
        gids = rule.gids
        tests.append(lambda p: (x := p.gids) is not None and not gids.isdisjoint(x))
    if rule.tags is not None:
        if len(rule.tags) == 1:
            ((var, value),) = rule.tags
            tests.append(lambda p: p.env(var) == value)
        else:
            tags = rule.tags
            tests.append(lambda p: any(p.env(var) == value for var, value in tags))
    return tuple(tests)


class RuleSet:
    """Rules in policy order, with :func:`first_match`'s result, but faster.

    Most processes are told apart by their executable, and a host runs few
    distinct ones: for each executable path the rules whose ``exe`` can
    match it (and the rules without ``exe``) are computed once and cached,
    so a process is tested only against those, in policy order, each rule
    as a few precompiled tests of its other attributes.
    """

    CACHE_MAX = 4096

    def __init__(self, rules: RuleList) -> None:
        self.rules = tuple(rules)
        #: per rule: (class, rule, label, where) — what a match reports
        self.matches = tuple((c, r, r.label(c), r.where) for c, r in self.rules)
        self._tests = tuple(_predicates(r) for _c, r in self.rules)
        self._by_exe: dict[str | None, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def candidates(self, exe: str | None) -> tuple[int, ...]:
        found = self._by_exe.get(exe)
        if found is None:
            if len(self._by_exe) >= self.CACHE_MAX:
                self._by_exe.clear()
            found = tuple(i for i, (_c, r) in enumerate(self.rules) if r.exe is None or r.exe_matches(exe))
            self._by_exe[exe] = found
        return found

    def first_match(self, p: ProcessView) -> tuple[str, Rule, str, str] | None:
        """``(class, rule, label, where)`` of the first rule matching ``p``."""
        exe = p.exe
        found = self._by_exe.get(exe)
        if found is None:
            found = self.candidates(exe)
        tests = self._tests
        for i in found:
            for test in tests[i]:
                if not test(p):
                    break
            else:
                return self.matches[i]
        return None


# ---------------------------------------------------------------- validation

def _values(check: _Checker, raw: Any, path: str, line: int) -> list[tuple[Any, int]] | None:
    """A scalar or a non-empty list of scalars, with each item's line."""
    if isinstance(raw, list):
        if not raw:
            check.add(line, path, "is an empty list; give at least one value or remove it")
            return None
        out = []
        for i, item in enumerate(raw):
            iline = check.key_line(raw, i, line)
            if isinstance(item, (dict, list)) or item is None:
                check.add(iline, f"{path}[{i}]", f"({item!r}) must be a single value")
                return None
            out.append((item, iline))
        return out
    if isinstance(raw, dict) or raw is None:
        check.add(line, path, f"({raw!r}) must be a value or a list of values")
        return None
    return [(raw, line)]


def _globs(check: _Checker, raw: Any, path: str, line: int) -> tuple[Glob, ...] | None:
    items = _values(check, raw, path, line)
    if items is None:
        return None
    out = []
    for value, vline in items:
        text = str(value).strip() if not isinstance(value, bool) else ""
        if not text:
            check.add(vline, path, f"({value!r}) must be an executable name or glob, e.g. 'nginx' or '/usr/bin/python3*'")
            return None
        if "/" in text and not text.startswith(("/", "*")):
            check.add(vline, path, f"({text!r}) is a relative path; give a bare name ('{text.rsplit('/', 1)[-1]}') "
                                   f"or an absolute path glob ('/…/{text}')")
            return None
        if "\x00" in text:
            check.add(vline, path, f"({text!r}) contains a NUL character")
            return None
        out.append(compile_glob(text))
    return tuple(out)


def _regexes(check: _Checker, raw: Any, path: str, line: int) -> tuple[re.Pattern, ...] | None:
    items = _values(check, raw, path, line)
    if items is None:
        return None
    out = []
    for value, vline in items:
        if not isinstance(value, str) or not value:
            check.add(vline, path, f"({value!r}) must be a regular expression (a non-empty string)")
            return None
        try:
            out.append(re.compile(value))
        except re.error as exc:
            check.add(vline, path, f"({value!r}) is not a valid regular expression: {exc}")
            return None
    return tuple(out)


def _ids(check: _Checker, raw: Any, path: str, line: int, *, by_name: bool, kind: str) -> frozenset[int] | None:
    """``user``/``group`` (names, resolved now) or ``uid``/``gid`` (numbers)."""
    items = _values(check, raw, path, line)
    if items is None:
        return None
    out = set()
    for value, vline in items:
        if isinstance(value, bool):
            check.add(vline, path, f"({value!r}) is not a {kind}")
            return None
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit() and not by_name):
            number = int(value)
            if not 0 <= number <= ID_MAX:
                check.add(vline, path, f"({number}) is outside 0–{ID_MAX}")
                return None
            out.add(number)
            continue
        if not by_name:
            other = "user" if kind == "uid" else "group"
            check.add(vline, path, f"({value!r}) is not a number (use '{other}:' for names)")
            return None
        name = str(value).strip()
        try:
            out.add(pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid)
        except KeyError:
            known = [e.pw_name for e in pwd.getpwall()] if kind == "user" else [e.gr_name for e in grp.getgrall()]
            hint = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            check.add(vline, path, f"({name!r}) is not a known {kind} on this host"
                                   f"{f' (did you mean {hint[0]!r}?)' if hint else ''}")
            return None
        except (OSError, ValueError) as exc:
            check.add(vline, path, f"({name!r}) cannot be looked up: {exc}")
            return None
    return frozenset(out)


def _tags(check: _Checker, raw: Any, path: str, line: int) -> tuple[tuple[str, str], ...] | None:
    items = _values(check, raw, path, line)
    if items is None:
        return None
    out = []
    for value, vline in items:
        text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
        var, eq, val = text.partition("=")
        if not eq:
            var, val = DEFAULT_TAG_VAR, text
        if not val or not _VAR.match(var) or "\x00" in val:
            check.add(vline, path, f"({value!r}) must be a tag ('web', meaning {DEFAULT_TAG_VAR}=web) "
                                   "or NAME=value with NAME a variable name")
            return None
        out.append((var, val))
    return tuple(out)


def _describe(node: dict) -> str:
    parts = []
    for key in RULE_KEYS:
        if key in node:
            raw = node[key]
            shown = "[" + ",".join(str(v) for v in raw) + "]" if isinstance(raw, list) else str(raw)
            parts.append(f"{key}={shown}")
    return " ".join(parts)


def parse_rule(check: _Checker, node: Any, index: int, path: str, line: int) -> Rule | None:
    """One rule mapping → :class:`Rule`, or ``None`` after reporting why not."""
    if not isinstance(node, dict):
        check.add(line, path, f"must be a mapping of attributes ({', '.join(RULE_KEYS)}), not {type(node).__name__}")
        return None
    line = check.node_line(node, line)
    before = len(check.problems)
    check.known_keys(node, RULE_KEYS, path, line)
    given = [k for k in RULE_KEYS if k in node]
    if not given:
        if not node:
            check.add(line, path, f"is empty; a rule needs at least one of: {', '.join(RULE_KEYS)}")
        return None
    for a, b in (("user", "uid"), ("group", "gid")):
        if a in node and b in node:
            check.add(check.key_line(node, b, line), f"{path}.{b}", f"and {a} both set; give one of them")
    at = lambda key: (node[key], f"{path}.{key}", check.key_line(node, key, line))  # noqa: E731
    rule = Rule(
        index=index, line=line, file=check.filename, text=_describe(node),
        exe=_globs(check, *at("exe")) if "exe" in node else None,
        parent=_globs(check, *at("parent")) if "parent" in node else None,
        cmdline=_regexes(check, *at("cmdline")) if "cmdline" in node else None,
        uids=(_ids(check, *at("user"), by_name=True, kind="user") if "user" in node
              else _ids(check, *at("uid"), by_name=False, kind="uid") if "uid" in node else None),
        gids=(_ids(check, *at("group"), by_name=True, kind="group") if "group" in node
              else _ids(check, *at("gid"), by_name=False, kind="gid") if "gid" in node else None),
        tags=_tags(check, *at("tag")) if "tag" in node else None,
    )
    return None if len(check.problems) > before else rule


def parse_rules(check: _Checker, node: Any, path: str, line: int, *, has_cgroup: bool = True) -> tuple[Rule, ...]:
    """A class's ``classify:`` list → rules in order (``()`` when absent).

    Every problem goes to ``check`` with its line; the valid rules are
    returned either way (the loader refuses the policy if anything was
    reported)."""
    if node is None:
        return ()
    if not isinstance(node, list):
        check.add(line, path, f"must be a list of rules (mappings such as {{exe: nginx}}), not {type(node).__name__}")
        return ()
    if not has_cgroup:
        check.add(line, path, "needs the class to have a cgroup (matching processes are moved into it)")
    rules = []
    for i, item in enumerate(node):
        rule = parse_rule(check, item, i, f"{path}[{i}]", check.key_line(node, i, line))
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def basename(exe: str | None) -> str:
    return os.path.basename(exe) if exe else ""
