"""The edit form's model, without Textual: which fields a class offers, their
initial text, and validation by the policy's own rules.

:func:`validate` writes the operator's raw text into a one-class policy
document and runs it through :func:`wlmtui.policy.parse_policy`, so the form
refuses exactly what a policy file would refuse, with the same messages,
each mapped back to the field it concerns.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Mapping

from ruamel.yaml import YAML

from wlmtui.policy import Gains, PolicyError, ServiceClass, parse_policy


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    label: str
    hint: str


def form_fields(cls: ServiceClass) -> list[FieldSpec]:
    """The fields the edit form shows for this class, in order."""
    out: list[FieldSpec] = []
    if cls.has_cgroup and not cls.is_token:
        out += [FieldSpec("kp", "Kp", "proportional gain, 0–100"),
                FieldSpec("ki", "Ki", "integral gain per second, 0–100")]
    out.append(FieldSpec("importance", "Importance", "1 (most) … 5 (least)"))
    if cls.has_cgroup:
        out += [FieldSpec("min_weight", "Min weight", "1–10000"),
                FieldSpec("base_weight", "Base weight", "min…max; relaxes here"),
                FieldSpec("max_weight", "Max weight", "1–10000")]
    if cls.is_token:
        out += [FieldSpec("budget", "Token budget", "e.g. 10000/hour, 2M/day"),
                FieldSpec("pool", "Pool", "shared budget pool (empty: none)")]
    else:
        if cls.goal.type == "response_time":
            out.append(FieldSpec("target", "Goal target", "response time, e.g. 250ms"))
        elif cls.goal.type == "velocity":
            out.append(FieldSpec("target", "Goal target", "velocity 1–99"))
        elif cls.goal.type == "throughput":
            out.append(FieldSpec("target", "Goal target", "rate, e.g. 100/min"))
        if cls.has_cgroup and cls.goal.type in ("response_time", "throughput"):
            out.append(FieldSpec("psi_threshold", "PSI threshold", "cpu stall on goal, e.g. 3%"))
    return out


def _g(x: float) -> str:
    return f"{x:g}"


def initial_values(cls: ServiceClass) -> dict[str, str]:
    values = {
        "kp": _g(cls.gains.kp),
        "ki": _g(cls.gains.ki),
        "importance": str(cls.importance),
        "min_weight": str(cls.min_weight),
        "base_weight": str(cls.base_weight),
        "max_weight": str(cls.max_weight),
        "target": cls.goal.target if cls.goal.type != "velocity" else _g(cls.goal.value or 0),
        "psi_threshold": f"{round(cls.psi_threshold * 100, 6):g}%",
        "budget": cls.goal.target,
        "pool": cls.pool or "",
    }
    return {f.key: values[f.key] for f in form_fields(cls)}


def _scalar(text: str) -> object:
    """A number when the text is one, else the text (the policy check words the error)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


_PATHS = {
    "gains.kp": "kp", "gains.ki": "ki", "importance": "importance", "min_weight": "min_weight",
    "base_weight": "base_weight", "max_weight": "max_weight", "goal.target": "target", "budget": "budget",
    "psi_threshold": "psi_threshold", "pool": "pool",
}


def _candidate_doc(cls: ServiceClass, raw: Mapping[str, str]) -> dict:
    def value(key: str, current: object) -> object:
        if key not in raw:
            return current
        return _scalar(raw[key].strip())

    node: dict = {"name": cls.name}
    if cls.cgroup:
        node["cgroup"] = cls.cgroup
    goal: dict = {"type": cls.goal.type}
    if cls.is_token:
        goal["target"] = raw["budget"].strip() if "budget" in raw else cls.goal.target
    elif cls.goal.type == "velocity":
        goal["target"] = value("target", cls.goal.value)
    elif cls.goal.type in ("response_time", "throughput"):
        goal["target"] = raw["target"].strip() if "target" in raw else cls.goal.target
    if cls.goal.percentile:
        goal["percentile"] = cls.goal.percentile
    node["goal"] = goal
    node["importance"] = value("importance", cls.importance)
    node["min_weight"] = value("min_weight", cls.min_weight)
    node["base_weight"] = value("base_weight", cls.base_weight)
    node["max_weight"] = value("max_weight", cls.max_weight)
    node["gains"] = {"kp": value("kp", cls.gains.kp), "ki": value("ki", cls.gains.ki)}
    node["max_step"] = cls.max_step
    node["deadband"] = cls.deadband
    if not cls.is_token:
        node["psi_threshold"] = raw["psi_threshold"].strip() if "psi_threshold" in raw else cls.psi_threshold
    else:
        for key in ("signal_file", "counter_file", "window_tz"):
            if getattr(cls, key):
                node[key] = getattr(cls, key)
        pool = raw.get("pool", cls.pool or "")
        if pool and pool.strip():
            node["pool"] = pool.strip()
        if cls.model_weights:
            node["model_weights"] = dict(cls.model_weights)
        node["hard_ceiling"] = cls.hard_ceiling
    return {"service_classes": [node]}


@dataclass(frozen=True, slots=True)
class Validation:
    cls: ServiceClass | None  # the candidate, when every field is valid
    errors: dict[str, str]  # field key -> message
    general: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.cls is not None


def validate(cls: ServiceClass, raw: Mapping[str, str]) -> Validation:
    """Check the form's text against the policy rules; build the edited class."""
    errors: dict[str, str] = {}
    for key, text in raw.items():
        if key != "pool" and not text.strip():
            errors[key] = "is required"
    if errors:
        return Validation(None, errors)
    doc = _candidate_doc(cls, raw)
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, out)
    try:
        parsed = parse_policy(out.getvalue(), "edit form").classes[0]
    except PolicyError as exc:
        general: list[str] = []
        for p in exc.problems:
            rest = p.path.split(".", 1)[1] if "." in p.path else p.path
            key = _PATHS.get(rest)
            if key == "target" and cls.is_token:
                key = "budget"
            if key is not None and key in raw:
                errors.setdefault(key, p.message)
            else:
                general.append(f"{p.path} {p.message}".strip())
        return Validation(None, errors, tuple(general))
    candidate = replace(
        cls,
        importance=parsed.importance,
        gains=Gains(parsed.gains.kp, parsed.gains.ki),
        goal=replace(parsed.goal) if parsed.goal != cls.goal else cls.goal,
        pool=parsed.pool if cls.is_token else cls.pool,
    )
    if cls.has_cgroup:
        candidate = replace(candidate, min_weight=parsed.min_weight, base_weight=parsed.base_weight,
                            max_weight=parsed.max_weight)
    if not cls.is_token and "psi_threshold" in raw:
        candidate = replace(candidate, psi_threshold=parsed.psi_threshold)
    return Validation(candidate, {})
