"""The service policy: an immutable value, loaded and validated from YAML.

A superset of the original wlmd ``policy.yaml``. :func:`load_policy` reports
*every* problem at once, each with ``file:line`` and the field path, and
raises :class:`PolicyError` carrying them all; nothing half-valid escapes.
"""

from __future__ import annotations

import difflib
import math
import posixpath
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from wlmtui.classify.rules import parse_rules
from wlmtui.record.config import RecordConfig, parse_record
from wlmtui.units import parse_budget, parse_duration, parse_rate

GOAL_TYPES = ("response_time", "velocity", "throughput", "discretionary", "token")
BACKENDS = ("auto", "v2", "v1", "sim")
WEIGHT_MIN, WEIGHT_MAX = 1, 10000
DISCRETIONARY_PI = 0.81
DEFAULT_VELOCITY = 20.0  # what an empty velocity target (as wlmd writes it) means
DEFAULT_STATE_DIR = "/var/lib/wlmtui"

TOP_KEYS = ("service_classes", "interval", "backend", "cgroup_root", "defaults", "state_dir", "simulation",
            "control_group", "metrics", "record")
DEFAULT_KEYS = ("gains", "max_step", "deadband", "min_weight", "max_weight", "base_weight")
CLASS_KEYS = (
    "name", "type", "cgroup", "goal", "importance", "min_weight", "max_weight", "base_weight",
    "gains", "max_step", "deadband", "psi_threshold", "percentile",
    "signal_file", "counter_file", "budget", "pool", "model_weights", "window_tz", "hard_ceiling",
    "simulate", "classify",
)
GOAL_KEYS = ("type", "target", "percentile")
GAIN_KEYS = ("kp", "ki")
SIM_TOP_KEYS = ("cpus", "seed", "start")
SIM_CLASS_KEYS = ("demand", "period", "service_ms", "tokens_per_min")


@dataclass(frozen=True, slots=True)
class Gains:
    kp: float = 0.3
    ki: float = 0.5


@dataclass(frozen=True, slots=True)
class Goal:
    """What a class must achieve. ``value`` is in base units per ``type``:
    seconds (response_time), velocity 1–99, completions/s (throughput),
    tokens per window (token), ``None`` (discretionary)."""

    type: str
    target: str = ""
    value: float | None = None
    percentile: float | None = None
    window: str | None = None  # token goals: hour/day/week/month

    def describe(self) -> str:
        if self.type == "response_time":
            pct = f" p{self.percentile:g}" if self.percentile else ""
            return f"rt{pct} < {self.target}"
        if self.type == "velocity":
            return f"velocity ≥ {self.value:g}"
        if self.type == "throughput":
            return f"≥ {self.target}"
        if self.type == "token":
            return f"≤ {self.target} tokens"
        return "discretionary"


@dataclass(frozen=True, slots=True)
class SimSpec:
    """How the simulated host (``sim`` backend) makes this class behave.

    ``demand`` (cores) and ``tokens_per_min`` are lists of
    ``(start_second, value)`` steps repeating every ``period`` seconds;
    ``service_ms`` is the CPU time of one request.
    """

    demand: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    period: float | None = None
    service_ms: float = 20.0
    tokens_per_min: tuple[tuple[float, float], ...] = ((0.0, 0.0),)


@dataclass(frozen=True, slots=True)
class ServiceClass:
    name: str
    goal: Goal
    importance: int = 3
    cgroup: str | None = None
    min_weight: int = 10
    max_weight: int = 1000
    base_weight: int = 100
    gains: Gains = field(default_factory=Gains)
    max_step: float = 2.0
    deadband: float = 0.05
    psi_threshold: float = 0.03
    signal_file: str | None = None
    counter_file: str | None = None
    pool: str | None = None
    model_weights: tuple[tuple[str, float], ...] = ()
    window_tz: str | None = None
    hard_ceiling: float = 1.2
    simulate: SimSpec | None = None
    classify: tuple = ()  # wlmtui.classify.rules.Rule, in policy order
    line: int = 0

    @property
    def is_token(self) -> bool:
        return self.goal.type == "token"

    @property
    def is_discretionary(self) -> bool:
        return self.goal.type == "discretionary"

    @property
    def has_cgroup(self) -> bool:
        return self.cgroup is not None


@dataclass(frozen=True, slots=True)
class Policy:
    classes: tuple[ServiceClass, ...]
    interval: float = 1.0
    backend: str = "auto"
    cgroup_root: str | None = None
    state_dir: str = DEFAULT_STATE_DIR
    sim_cpus: float = 2.0
    sim_seed: int = 1
    sim_start: float | None = None  # epoch the simulated host's wall clock starts at
    record: RecordConfig = RecordConfig()  # record & replay (wlmtui.record), dir resolved under state_dir
    source: str | None = None
    control_group: str | None = None  # members may edit through the control socket (wlmtui attach)
    metrics: str | None = None  # HOST:PORT of the OpenMetrics endpoint (headless), or None

    def get(self, name: str) -> ServiceClass | None:
        return next((c for c in self.classes if c.name == name), None)

    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def with_class(self, updated: ServiceClass) -> "Policy":
        return replace(self, classes=tuple(updated if c.name == updated.name else c for c in self.classes))

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for c in self.classes:
            kinds[c.goal.type] = kinds.get(c.goal.type, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
        return f"{len(self.classes)} service classes ({detail}), interval {self.interval:g}s, backend {self.backend}"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path + ' ' if self.path else ''}{self.message}"


class PolicyError(Exception):
    """The policy could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def psi_threshold_for(rt_seconds: float | None) -> float:
    """Default CPU-stall threshold for a response-time target."""
    if rt_seconds is None or rt_seconds < 1:
        return 0.03
    if rt_seconds < 5:
        return 0.05
    return 0.10


class _Checker:
    """Collects problems while converting YAML nodes into typed values."""

    def __init__(self, filename: str):
        self.filename = filename
        self.problems: list[Problem] = []

    def add(self, line: int, path: str, message: str) -> None:
        self.problems.append(Problem(self.filename, line, path, message))

    @staticmethod
    def key_line(node: Any, key: Any, default: int) -> int:
        try:
            if isinstance(node, CommentedMap):
                return node.lc.key(key)[0] + 1
            if isinstance(node, CommentedSeq):
                return node.lc.item(key)[0] + 1
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        return default

    @staticmethod
    def node_line(node: Any, default: int) -> int:
        lc = getattr(node, "lc", None)
        return lc.line + 1 if lc is not None and lc.line is not None else default

    def known_keys(self, node: CommentedMap, allowed: Iterable[str], path: str, line: int) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(allowed)})"
            self.add(self.key_line(node, key, line), f"{path}.{key}" if path else str(key), f"is not a known key{suggestion}")

    def mapping(self, value: Any, path: str, line: int) -> CommentedMap | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add(line, path, f"must be a mapping, not {type(value).__name__}")
            return None
        return value

    def number(self, node, key, path, line, *, default, lo=None, hi=None, integer=False):
        if key not in node or node[key] is None:
            return default
        value = node[key]
        where = self.key_line(node, key, line)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(str(value))
            except ValueError:
                self.add(where, path, f"({value!r}) is not a number")
                return default
        if not math.isfinite(value):
            self.add(where, path, f"({value}) must be finite")
            return default
        if integer and value != int(value):
            self.add(where, path, f"({value}) must be a whole number")
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.add(where, path, f"({value:g}) is outside {lo:g}–{hi:g}")
            return default
        return int(value) if integer else float(value)

    def fraction(self, node, key, path, line, *, default):
        """``"5%"`` or ``0.05``; bare numbers above 1 are refused as ambiguous."""
        if key not in node or node[key] is None:
            return default
        raw = node[key]
        where = self.key_line(node, key, line)
        text = str(raw).strip()
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            self.add(where, path, f"({raw!r}) is not a fraction (try '5%' or 0.05)")
            return default
        if isinstance(raw, bool) or not 0 < value <= 1:
            hint = f" (did you mean '{text}%'?)" if not text.endswith("%") and 1 < value <= 100 else ""
            self.add(where, path, f"({raw!r}) must be between 0 and 100%{hint}")
            return default
        return value

    def text(self, node, key, path, line, *, default=None):
        if key not in node or node[key] is None:
            return default
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.add(self.key_line(node, key, line), path, f"({value!r}) must be a non-empty string")
            return default
        return value.strip()


def _cgroup_path(check: _Checker, raw: str, path: str, line: int) -> str | None:
    """Normalise a class cgroup to a path relative to the cgroup root."""
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        check.add(line, path, f"({raw!r}) escapes the cgroup root ('..' is not allowed)")
        return None
    if not parts:
        check.add(line, path, f"({raw!r}) is the cgroup root itself; give each class its own cgroup")
        return None
    if any("\n" in p or "\x00" in p for p in parts):
        check.add(line, path, f"({raw!r}) contains characters not allowed in a cgroup name")
        return None
    return posixpath.join(*parts)


def _goal(check: _Checker, node: CommentedMap, cls_type: str | None, budget: Any, path: str, line: int) -> Goal | None:
    goal_node = check.mapping(node.get("goal"), f"{path}.goal", check.key_line(node, "goal", line))
    gline = check.key_line(node, "goal", line)
    if goal_node is not None:
        check.known_keys(goal_node, GOAL_KEYS, f"{path}.goal", gline)
    gtype = (goal_node or {}).get("type") or ("token" if cls_type == "token" else None)
    if cls_type is not None and cls_type != "token":
        check.add(check.key_line(node, "type", line), f"{path}.type", f"({cls_type!r}) must be 'token' or absent")
        return None
    if gtype is None:
        if goal_node is None and budget is None:
            check.add(line, f"{path}.goal", "is missing (give a goal with a type and a target)")
        else:
            check.add(gline, f"{path}.goal.type", f"is missing (one of: {', '.join(GOAL_TYPES)})")
        return None
    if gtype not in GOAL_TYPES:
        hint = difflib.get_close_matches(str(gtype), GOAL_TYPES, n=1)
        check.add(check.key_line(goal_node, "type", gline), f"{path}.goal.type",
                  f"({gtype!r}) is not a goal type{f' (did you mean {hint[0]!r}?)' if hint else ''}")
        return None
    raw_target = (goal_node or {}).get("target")
    tline = check.key_line(goal_node, "target", gline) if goal_node is not None else line
    if gtype == "token" and budget is not None:
        if raw_target not in (None, ""):
            check.add(check.key_line(node, "budget", line), f"{path}.budget", "and goal.target both set; keep one")
        raw_target, tline = budget, check.key_line(node, "budget", line)
    target = "" if raw_target is None else str(raw_target).strip()
    percentile = check.number(goal_node or {}, "percentile", f"{path}.goal.percentile", gline, default=None, lo=1, hi=99.9)
    if percentile is None and "percentile" in node:
        percentile = check.number(node, "percentile", f"{path}.percentile", line, default=None, lo=1, hi=99.9)
    tpath = f"{path}.goal.target" if gtype != "token" or budget is None else f"{path}.budget"
    try:
        if gtype == "response_time":
            return Goal(gtype, target, parse_duration(target), percentile)
        if gtype == "velocity":
            value = DEFAULT_VELOCITY if target == "" else float(target)
            if not 1 <= value <= 99:
                raise ValueError(f"({target}) must be a velocity between 1 and 99")
            return Goal(gtype, target or f"{value:g}", value)
        if gtype == "throughput":
            return Goal(gtype, target, parse_rate(target))
        if gtype == "token":
            amount, window = parse_budget(target)
            return Goal(gtype, target, float(amount), window=window)
        if target:
            check.add(tline, tpath, "is ignored for a discretionary goal; remove it")
        return Goal(gtype)
    except ValueError as exc:
        msg = str(exc)
        if not target:
            msg = "is missing"
        elif gtype == "velocity" and "could not convert" in msg:
            msg = f"({target!r}) is not a velocity (a number from 1 to 99)"
        check.add(tline, tpath, msg)
        return None


def _gains(check: _Checker, node: Any, path: str, line: int, default: Gains) -> Gains:
    gnode = check.mapping(node, path, line)
    if gnode is None:
        return default
    check.known_keys(gnode, GAIN_KEYS, path, line)
    return Gains(
        kp=check.number(gnode, "kp", f"{path}.kp", line, default=default.kp, lo=0, hi=100),
        ki=check.number(gnode, "ki", f"{path}.ki", line, default=default.ki, lo=0, hi=100),
    )


def _steps(check: _Checker, snode: CommentedMap, key: str, path: str, line: int,
           default: float) -> tuple[tuple[float, float], ...]:
    """A number, or a list of ``[second, value]`` steps, as sorted steps."""
    raw = snode.get(key, default)
    steps: list[tuple[float, float]] = []
    is_num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if is_num(raw):
        steps = [(0.0, float(raw))]
    elif isinstance(raw, list) and raw and all(isinstance(s, list) and len(s) == 2 and all(map(is_num, s)) for s in raw):
        steps = sorted((float(a), float(b)) for a, b in raw)
    else:
        check.add(check.key_line(snode, key, line), f"{path}.{key}", "must be a number or a list of [second, value] steps")
    if any(v < 0 for _, v in steps):
        check.add(check.key_line(snode, key, line), f"{path}.{key}", "must not be negative")
    return tuple(steps) or ((0.0, default),)


def _sim_spec(check: _Checker, node: Any, path: str, line: int) -> SimSpec | None:
    snode = check.mapping(node, path, line)
    if snode is None:
        return None
    check.known_keys(snode, SIM_CLASS_KEYS, path, line)
    return SimSpec(
        demand=_steps(check, snode, "demand", path, line, 0.0),
        period=check.number(snode, "period", f"{path}.period", line, default=None, lo=1, hi=86400),
        service_ms=check.number(snode, "service_ms", f"{path}.service_ms", line, default=20.0, lo=0.01, hi=60000),
        tokens_per_min=_steps(check, snode, "tokens_per_min", path, line, 0.0),
    )


def _service_class(check: _Checker, node: Any, index: int, defaults: dict, line: int) -> ServiceClass | None:
    path = f"service_classes[{index}]"
    if not isinstance(node, dict):
        check.add(line, path, "must be a mapping with at least a name and a goal")
        return None
    line = check.node_line(node, line)
    check.known_keys(node, CLASS_KEYS, path, line)
    before = len(check.problems)
    name = check.text(node, "name", f"{path}.name", line)
    if name is None and "name" not in node:
        check.add(line, f"{path}.name", "is missing")
    cls_type = node.get("type")
    goal = _goal(check, node, cls_type, node.get("budget"), path, line)
    is_disc = goal is not None and goal.type == "discretionary"
    importance = check.number(node, "importance", f"{path}.importance", line,
                              default=5 if is_disc else 3, lo=1, hi=5, integer=True)
    cgroup = None
    if node.get("cgroup") not in (None, ""):
        raw = node["cgroup"]
        if not isinstance(raw, str):
            check.add(check.key_line(node, "cgroup", line), f"{path}.cgroup", f"({raw!r}) must be a path")
        else:
            cgroup = _cgroup_path(check, raw, f"{path}.cgroup", check.key_line(node, "cgroup", line))
    elif goal is not None and goal.type != "token":
        check.add(line, f"{path}.cgroup", "is missing (the cgroup this class's processes run in)")
    wpath = lambda k: f"{path}.{k}"  # noqa: E731
    min_w = check.number(node, "min_weight", wpath("min_weight"), line, default=defaults["min_weight"],
                         lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True)
    max_w = check.number(node, "max_weight", wpath("max_weight"), line, default=defaults["max_weight"],
                         lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True)
    if min_w > max_w:
        check.add(check.key_line(node, "min_weight", line), wpath("min_weight"), f"({min_w}) is above max_weight ({max_w})")
    base_default = min(max(defaults["base_weight"], min_w), max_w)
    base_w = check.number(node, "base_weight", wpath("base_weight"), line, default=base_default,
                          lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True)
    if "base_weight" in node and not min_w <= base_w <= max_w:
        check.add(check.key_line(node, "base_weight", line), wpath("base_weight"),
                  f"({base_w}) is outside min_weight..max_weight ({min_w}..{max_w})")
    gains = _gains(check, node.get("gains"), wpath("gains"), check.key_line(node, "gains", line), defaults["gains"])
    max_step = check.number(node, "max_step", wpath("max_step"), line, default=defaults["max_step"], lo=1.01, hi=100)
    deadband = check.fraction(node, "deadband", wpath("deadband"), line, default=defaults["deadband"])
    rt = goal.value if goal is not None and goal.type == "response_time" else None
    psi = check.fraction(node, "psi_threshold", wpath("psi_threshold"), line, default=psi_threshold_for(rt))
    token_only = ("signal_file", "counter_file", "budget", "pool", "model_weights", "window_tz", "hard_ceiling")
    if goal is not None and goal.type != "token":
        for key in token_only:
            if key in node:
                check.add(check.key_line(node, key, line), wpath(key), "only applies to token classes (goal type 'token')")
    mw: list[tuple[str, float]] = []
    mnode = check.mapping(node.get("model_weights"), wpath("model_weights"), check.key_line(node, "model_weights", line))
    for model, weight in (mnode or {}).items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1e6:
            check.add(check.key_line(mnode, model, line), f"{path}.model_weights.{model}", f"({weight!r}) must be a positive number")
        else:
            mw.append((str(model), float(weight)))
    tz = check.text(node, "window_tz", wpath("window_tz"), line)
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            check.add(check.key_line(node, "window_tz", line), wpath("window_tz"), f"({tz!r}) is not a known time zone (try 'UTC' or 'Europe/Berlin')")
            tz = None
    hard = check.number(node, "hard_ceiling", wpath("hard_ceiling"), line, default=1.2, lo=1.0, hi=10.0)
    sim = _sim_spec(check, node.get("simulate"), wpath("simulate"), check.key_line(node, "simulate", line))
    rules = parse_rules(check, node.get("classify"), wpath("classify"), check.key_line(node, "classify", line),
                        has_cgroup=node.get("cgroup") not in (None, ""))
    if len(check.problems) > before or goal is None or name is None:
        return None
    return ServiceClass(
        name=name, goal=goal, importance=importance, cgroup=cgroup,
        min_weight=min_w, max_weight=max_w, base_weight=base_w, gains=gains,
        max_step=max_step, deadband=deadband, psi_threshold=psi,
        signal_file=check.text(node, "signal_file", wpath("signal_file"), line),
        counter_file=check.text(node, "counter_file", wpath("counter_file"), line),
        pool=check.text(node, "pool", wpath("pool"), line),
        model_weights=tuple(mw), window_tz=tz, hard_ceiling=hard,
        simulate=sim, classify=rules, line=line,
    )


def _under_state(state_dir: str, path: str | None) -> str | None:
    return path if path is None or posixpath.isabs(path) else posixpath.join(state_dir, path)


def parse_policy(text: str, filename: str = "policy.yaml") -> Policy:
    """Validate policy text; raise :class:`PolicyError` listing every problem."""
    check = _Checker(filename)
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise PolicyError([Problem(filename, line, "", f"is not valid YAML: {exc.problem or exc.context}")]) from None
    except YAMLError as exc:
        raise PolicyError([Problem(filename, 0, "", f"is not valid YAML: {exc}")]) from None
    if doc is None:
        raise PolicyError([Problem(filename, 1, "", "is empty; a policy needs at least 'service_classes'")])
    if not isinstance(doc, dict):
        raise PolicyError([Problem(filename, 1, "", "must be a YAML mapping with 'service_classes'")])
    check.known_keys(doc, TOP_KEYS, "", 1)
    interval = 1.0
    if doc.get("interval") is not None:
        try:
            interval = parse_duration(doc["interval"])
            if not 0.05 <= interval <= 3600:
                raise ValueError(f"({doc['interval']}) must be between 50ms and 1h")
        except ValueError as exc:
            check.add(check.key_line(doc, "interval", 1), "interval", str(exc))
    backend = doc.get("backend", "auto") or "auto"
    if backend not in BACKENDS:
        check.add(check.key_line(doc, "backend", 1), "backend", f"({backend!r}) must be one of: {', '.join(BACKENDS)}")
    cgroup_root = check.text(doc, "cgroup_root", "cgroup_root", 1)
    if cgroup_root is not None and ".." in cgroup_root.split("/"):
        check.add(check.key_line(doc, "cgroup_root", 1), "cgroup_root",
                  f"({cgroup_root!r}) escapes the cgroup mount ('..' is not allowed)")
    state_dir = check.text(doc, "state_dir", "state_dir", 1, default=DEFAULT_STATE_DIR)
    control_group = check.text(doc, "control_group", "control_group", 1)
    if control_group is not None:
        import grp

        try:
            grp.getgrnam(control_group)
        except KeyError:
            check.add(check.key_line(doc, "control_group", 1), "control_group",
                      f"({control_group!r}) is not a group on this host (see /etc/group)")
    if isinstance(doc.get("metrics"), int) and not isinstance(doc.get("metrics"), bool):
        doc["metrics"] = str(doc["metrics"])  # a bare port: loopback
    metrics = check.text(doc, "metrics", "metrics", 1)
    if metrics is not None:
        from wlmtui.listen_address import MetricsError, parse_address

        try:
            parse_address(metrics)
        except MetricsError as exc:
            check.add(check.key_line(doc, "metrics", 1), "metrics", str(exc).removeprefix("metrics address "))
    dnode = check.mapping(doc.get("defaults"), "defaults", check.key_line(doc, "defaults", 1)) or {}
    dline = check.key_line(doc, "defaults", 1)
    if dnode:
        check.known_keys(dnode, DEFAULT_KEYS, "defaults", dline)
    defaults = {
        "gains": _gains(check, dnode.get("gains"), "defaults.gains", check.key_line(dnode, "gains", dline), Gains()),
        "max_step": check.number(dnode, "max_step", "defaults.max_step", dline, default=2.0, lo=1.01, hi=100),
        "deadband": check.fraction(dnode, "deadband", "defaults.deadband", dline, default=0.05),
        "min_weight": check.number(dnode, "min_weight", "defaults.min_weight", dline, default=10, lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True),
        "max_weight": check.number(dnode, "max_weight", "defaults.max_weight", dline, default=1000, lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True),
        "base_weight": check.number(dnode, "base_weight", "defaults.base_weight", dline, default=100, lo=WEIGHT_MIN, hi=WEIGHT_MAX, integer=True),
    }
    snode = check.mapping(doc.get("simulation"), "simulation", check.key_line(doc, "simulation", 1)) or {}
    sline = check.key_line(doc, "simulation", 1)
    if snode:
        check.known_keys(snode, SIM_TOP_KEYS, "simulation", sline)
    sim_cpus = check.number(snode, "cpus", "simulation.cpus", sline, default=2.0, lo=0.1, hi=1024)
    sim_seed = check.number(snode, "seed", "simulation.seed", sline, default=1, lo=0, hi=2**31, integer=True)
    sim_start = None
    if snode.get("start") is not None:
        try:
            stamp = datetime.fromisoformat(str(snode["start"]).replace("Z", "+00:00"))
            sim_start = (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            check.add(check.key_line(snode, "start", sline), "simulation.start",
                      f"({snode['start']!r}) is not an ISO 8601 time (try '2026-01-05T09:10:00Z')")
    record = parse_record(check, doc.get("record"), check.key_line(doc, "record", 1), state_dir)
    raw_classes = doc.get("service_classes")
    classes: list[ServiceClass] = []
    seen_names: dict[str, int] = {}
    if raw_classes is None:
        check.add(1, "service_classes", "is missing (a list of service classes)")
    elif not isinstance(raw_classes, list) or not raw_classes:
        check.add(check.key_line(doc, "service_classes", 1), "service_classes", "must be a non-empty list")
    else:
        seen_cgroups: dict[str, str] = {}
        for i, node in enumerate(raw_classes):
            line = check.key_line(raw_classes, i, check.key_line(doc, "service_classes", 1))
            cls = _service_class(check, node, i, defaults, line)
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str):
                if name in seen_names:
                    check.add(check.key_line(node, "name", line), f"service_classes[{i}].name",
                              f"({name!r}) duplicates service_classes[{seen_names[name]}]")
                    cls = None
                seen_names.setdefault(name, i)
            if cls is None:
                continue
            if cls.cgroup is not None:
                if cls.cgroup in seen_cgroups:
                    check.add(check.key_line(node, "cgroup", line), f"service_classes[{i}].cgroup",
                              f"({cls.cgroup!r}) is already the cgroup of class {seen_cgroups[cls.cgroup]!r}")
                seen_cgroups.setdefault(cls.cgroup, cls.name)
            classes.append(cls)
    pools: dict[str, ServiceClass] = {}
    for c in classes:
        if c.is_token and c.pool:
            first = pools.setdefault(c.pool, c)
            if (c.goal.window, c.window_tz) != (first.goal.window, first.window_tz):
                check.add(c.line, f"service_classes[{seen_names[c.name]}].pool",
                          f"({c.pool!r}) members must share one window: {c.name!r} budgets per "
                          f"{c.goal.window}{' in ' + c.window_tz if c.window_tz else ''}, {first.name!r} per "
                          f"{first.goal.window}{' in ' + first.window_tz if first.window_tz else ''}")
    if check.problems:
        raise PolicyError(sorted(check.problems, key=lambda p: p.line))
    # relative token files live in the state directory
    classes = [
        replace(c, counter_file=_under_state(state_dir, c.counter_file),
                signal_file=_under_state(state_dir, c.signal_file)) if c.is_token else c
        for c in classes
    ]
    return Policy(
        classes=tuple(classes), interval=interval, backend=backend, cgroup_root=cgroup_root,
        state_dir=state_dir, sim_cpus=sim_cpus, sim_seed=sim_seed, sim_start=sim_start,
        control_group=control_group, metrics=metrics, record=record,
    )


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (see :func:`parse_policy`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Problem(str(path), 0, "", "does not exist")]) from None
    except IsADirectoryError:
        raise PolicyError([Problem(str(path), 0, "", "is a directory, not a policy file")]) from None
    except PermissionError:
        raise PolicyError([Problem(str(path), 0, "", "cannot be read (permission denied)")]) from None
    except UnicodeDecodeError:
        raise PolicyError([Problem(str(path), 0, "", "is not UTF-8 text")]) from None
    policy = parse_policy(text, str(path))
    return replace(policy, source=str(path))
