"""The event log: arbitration decisions, operator edits, reloads, errors."""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.widgets import RichLog

from wlmtui.snapshot import Event
from wlmtui.ui import fmt
from wlmtui.ui.style import EVENT_VAR, var

MAX_LINES = 2000


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kw):
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, highlight=False, auto_scroll=True, **kw)
        self.border_title = "Events"
        self.count = 0

    def add_events(self, events: Iterable[Event]) -> None:
        lines = []
        for e in events:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(fmt.clock(e.wall), style="dim")
            line.append(f" {e.kind:<8} ", style=f"bold {var(self.app, EVENT_VAR.get(e.kind, 'wlm-idle'))}")
            line.append(e.text, style=var(self.app, "wlm-missing") if e.kind == "error" else "")
            lines.append(line)
        if lines:
            # one write per batch: RichLog renders each write, so ten events cost one render
            self.write(Text("\n", no_wrap=True).join(lines), scroll_end=None)
            self.count += len(lines)

    def note(self, wall: float | None, kind: str, text: str) -> None:
        """A console-side event (save, refused action, keymap problem)."""
        import time

        self.add_events([Event(wall if wall is not None else time.time(), kind, text)])
