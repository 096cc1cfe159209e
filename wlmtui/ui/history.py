"""Recent history for sparklines and plots: ring buffers fed from snapshots.

The UI keeps this itself (the loop publishes one frozen snapshot per tick
and remembers nothing for the console). Appending costs O(1) per class.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from wlmtui.snapshot import Snapshot
from wlmtui.ui.panels.tokens import _number, pick

#: ticks kept per series (10 minutes at the default 1 s interval)
DEFAULT_SIZE = 600
RESOURCES = ("cpu", "memory", "io")


@dataclass(slots=True)
class ClassSeries:
    size: int
    t: deque = field(init=False)
    weight: deque = field(init=False)
    pi: deque = field(init=False)
    stall: deque = field(init=False)
    usage: deque = field(init=False)
    tokens_used: deque = field(init=False)  # token classes: consumed in the window
    token_rate: deque = field(init=False)  # token classes: burn rate per minute

    def __post_init__(self) -> None:
        for name in ("t", "weight", "pi", "stall", "usage", "tokens_used", "token_rate"):
            setattr(self, name, deque(maxlen=self.size))


class History:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self.t: deque[float] = deque(maxlen=size)
        self.system: dict[str, deque] = {r: deque(maxlen=size) for r in RESOURCES}
        self.system_full: dict[str, deque] = {r: deque(maxlen=size) for r in RESOURCES}
        self.classes: dict[str, ClassSeries] = {}
        self.last_tick = 0

    def clear(self) -> None:
        """Forget every series (a replay jumping to another time feeds them again)."""
        self.t.clear()
        for r in RESOURCES:
            self.system[r].clear()
            self.system_full[r].clear()
        self.classes.clear()
        self.last_tick = 0

    def add(self, snap: Snapshot) -> None:
        if snap.tick <= self.last_tick and self.t:
            return  # already seen (a replayed snapshot)
        self.last_tick = snap.tick
        self.t.append(snap.wall)
        for r in RESOURCES:
            p = snap.system.get(r)
            self.system[r].append(None if p is None else p.some)
            self.system_full[r].append(None if p is None else p.full)
        for c in snap.decision.classes:
            s = self.classes.get(c.name)
            if s is None:
                s = self.classes[c.name] = ClassSeries(self.size)
            m = c.measure
            s.t.append(snap.wall)
            s.weight.append(c.weight)
            s.pi.append(c.pi)
            s.stall.append(None if m is None or not m.present else m.cpu_stall)
            s.usage.append(None if m is None or not m.present else m.usage)
            status = snap.tokens.get(c.name)
            if status is None:
                s.tokens_used.append(None)
                s.token_rate.append(None)
            else:
                s.tokens_used.append(_number(pick(status, "consumed", "used", "tokens")))
                s.token_rate.append(_number(pick(status, "rate_per_min", "rate", "consumption_rate")))

    def series(self, name: str) -> ClassSeries | None:
        return self.classes.get(name)
