"""System pressure: cpu/memory/io ``some`` (and ``full`` where meaningful),
this interval and the kernel's avg10/60/300, with a sparkline of history."""

from __future__ import annotations

from rich.text import Text

from wlmtui.snapshot import Snapshot
from wlmtui.ui import fmt
from wlmtui.ui.history import RESOURCES, History
from wlmtui.ui.panels.lines import TextLines
from wlmtui.ui.style import var

#: system-wide cpu "full" is not meaningful (the kernel reports 0 since 5.13)
FULL_MEANINGFUL = ("memory", "io")


class PressurePanel(TextLines):
    DEFAULT_CSS = """
    PressurePanel { height: auto; min-height: 3; }
    """

    def __init__(self, history: History, **kw):
        super().__init__(**kw)
        self.history = history
        self.snap: Snapshot | None = None
        self.border_title = "System pressure"

    def update_snapshot(self, snap: Snapshot) -> None:
        self.snap = snap
        self.redraw()

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(RESOURCES)

    def render(self) -> Text:
        width = max(20, self.content_size.width or 80)
        spark_style = var(self.app, "wlm-spark")
        hot = var(self.app, "wlm-missing")
        lines = Text(no_wrap=True, overflow="crop")
        wide = width >= 100
        for i, res in enumerate(RESOURCES):
            p = self.snap.system.get(res) if self.snap else None
            some = fmt.pct(p.some) if p else "-"
            full = fmt.pct(p.full) if p is not None and p.full is not None and res in FULL_MEANINGFUL else "-"
            avg = p.avg if p else (0.0, 0.0, 0.0)
            if wide:
                fixed = (f"{res:<7}some {some:>6}   full {full:>6}   "
                         f"avg10 {avg[0]:5.2f}  avg60 {avg[1]:5.2f}  avg300 {avg[2]:5.2f}  ")
            else:
                fixed = f"{res:<4}{some:>6} full{full:>6} avg {avg[0]:4.1f} {avg[1]:4.1f} {avg[2]:4.1f} "
            hist = self.history.system[res]
            peak = max((v for v in hist if v is not None), default=0.0)
            tail = f" max {fmt.pct(peak, 0)}"
            room = width - len(fixed) - len(tail)
            if i:
                lines.append("\n")
            style = f"bold {hot}" if p is not None and p.some >= 0.10 else ""
            lines.append(fixed[:width], style=style)
            if room >= 4:
                lines.append(fmt.sparkline(hist, room, 0.0, max(peak, 0.10)), style=spark_style)
                lines.append(tail, style="dim")
        return lines
