"""What the loop publishes once per tick: frozen values the UI only reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from wlmtui.engine import Decision
from wlmtui.observation import SystemPressure
from wlmtui.policy import Policy


@dataclass(frozen=True, slots=True)
class Event:
    wall: float
    kind: str  # decision / edit / reload / error / info / token
    text: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    tick: int
    wall: float  # epoch seconds at the end of the tick
    dt: float  # measured interval
    loop_ms: float  # time the tick itself took
    interval: float
    policy: Policy
    decision: Decision
    backend_kind: str  # v2 / v1 / sim
    backend_label: str
    host: str = ""
    kernel: str = ""
    system: Mapping[str, SystemPressure] = field(default_factory=dict)
    tokens: Mapping[str, Any] = field(default_factory=dict)  # class name -> TokenStatus
    events: tuple[Event, ...] = ()  # new during this tick
    errors: tuple[str, ...] = ()
    paused: bool = False
    dry_run: bool = False
    dirty: bool = False  # policy edited since loaded/saved
    classify: Any = None  # wlmtui.classify.ClassifyReport; None without a classifier

    def to_json(self) -> dict:
        """The headless ``--json`` document (plain types only)."""
        doc = self.json_head()
        doc["classes"] = [class_json(c, self.tokens.get(c.name)) for c in self.decision.classes]
        doc["events"] = [{"kind": e.kind, "text": e.text} for e in self.events]
        doc["errors"] = list(self.errors)
        return doc

    def json_head(self, classify: bool = True) -> dict:
        """The ``--json`` document's keys before ``classes`` (in order);
        ``classify=False`` leaves ``None`` there (for an encoder of its own)."""
        return {
            "tick": self.tick,
            "classify": None if self.classify is None or not classify else self.classify.to_json(processes=False),
            "time": self.wall,
            "dt": round(self.dt, 4),
            "loop_ms": round(self.loop_ms, 3),
            "backend": self.backend_kind,
            "paused": self.paused,
            "dry_run": self.dry_run,
            "system": {r: {"some": round(p.some, 4), "full": None if p.full is None else round(p.full, 4),
                           "avg10": p.avg[0], "avg60": p.avg[1], "avg300": p.avg[2]} for r, p in self.system.items()},
        }


def class_json(c, tok=None) -> dict:
    """One class's entry in the ``--json`` document (plain types only)."""
    m = c.measure
    t = c.terms
    return {
        "name": c.name,
        "importance": c.importance,
        "goal": c.goal,
        "status": c.status,
        "pi": None if c.pi is None else round(c.pi, 4),
        "pi_source": c.perf.source,
        "pi_detail": c.perf.detail,
        "response_times": None if c.perf.distribution is None else c.perf.distribution.to_json(),
        "measured": c.perf.measured,
        "weight": c.weight,
        "old_weight": c.old_weight,
        "pinned": c.pinned,
        "reason": c.reason,
        "role": c.role,
        "share": None if c.share is None else round(c.share, 4),
        "floor_share": round(c.floor_share, 4),
        "projection": {"share": None if c.projection.share is None else round(c.projection.share, 4),
                       "basis": c.projection.basis, "target_pi": c.projection.target_pi,
                       "level": c.projection.level, "load_rate": c.load_rate},
        "plot": [[round(p.share, 4), round(p.pi, 4), round(p.raw_pi, 4), round(p.confidence, 2)]
                 for p in c.plot],
        "controller": {"error": round(t.error, 5), "p": round(t.p, 5), "i": round(t.i, 5),
                       "step": round(t.step, 5), "proposed": round(t.proposed, 2),
                       "windup": t.windup, "held": t.held},
        "measurements": None if m is None else {
            "present": m.present, "usage_cores": round(m.usage, 4), "cpu_stall": round(m.cpu_stall, 4),
            "cpu_full": None if m.cpu_full is None else round(m.cpu_full, 4), "mem_stall": round(m.mem_stall, 4),
            "io_stall": round(m.io_stall, 4),
            "velocity": None if m.velocity is None else round(m.velocity, 2),
            "transactions": m.completions,
            "failed": m.failed,
            "delay": {k: round(v, 3) for k, v in m.delay_shares().items()},
        },
        "token": tok.to_json() if tok is not None and hasattr(tok, "to_json") else None,
    }
