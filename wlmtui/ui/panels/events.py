"""The event log: arbitration decisions, operator edits, reloads, errors.

A scrolling list of one-line entries drawn with the line API. Unlike
Textual's RichLog it does not lay out the whole screen each time it grows:
a longer log changes only its own scroll range and scrollbar (a new layout
happens only if the scrollbar has to appear). Entries are kept as plain
``(wall, kind, text)`` tuples (which the garbage collector does not track)
and styled when a line is first shown; the lines on screen are kept, so a new
entry costs one line. The view follows new entries while it is scrolled to
the end.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Iterable

from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from wlmtui.snapshot import Event
from wlmtui.ui import fmt
from wlmtui.ui.panels.lines import PassStyle
from wlmtui.ui.style import EVENT_VAR, var

MAX_LINES = 2000
#: drawn lines kept: those on screen, and some to scroll back to
STRIPS_KEPT = 200


class EventLog(PassStyle, ScrollView, can_focus=True):
    DEFAULT_CSS = """
    EventLog {
        height: 1fr; background: $surface; color: $foreground;
        overflow-y: scroll; overflow-x: hidden; scrollbar-size-vertical: 1;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.border_title = "Events"
        self.count = 0
        self._entries: deque[tuple[float, str, str]] = deque(maxlen=MAX_LINES)
        self._strips: LRUCache[tuple, Strip] = LRUCache(STRIPS_KEPT)

    def plain_lines(self) -> list[str]:
        """The entries as plain text, oldest first."""
        return [f"{fmt.clock(wall)} {kind:<8} {text}" for wall, kind, text in self._entries]

    def add_events(self, events: Iterable[Event]) -> None:
        entries = [(e.wall, e.kind, e.text) for e in events]
        if entries:
            self._append(entries)

    def clear(self) -> None:
        """Drop every entry (a replay jumping to another time shows that time's events)."""
        self._entries.clear()
        self._strips.clear()
        self._append([])

    def _styled(self, wall: float, kind: str, text: str) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(fmt.clock(wall), style="dim")
        line.append(f" {kind:<8} ", style=f"bold {var(self.app, EVENT_VAR.get(kind, 'wlm-idle'))}")
        line.append(text, style=var(self.app, "wlm-missing") if kind == "error" else "")
        return line

    def note(self, wall: float | None, kind: str, text: str) -> None:
        """A console-side event (save, refused action, keymap problem)."""
        self.add_events([Event(wall if wall is not None else time.time(), kind, text)])

    def _append(self, entries: list[tuple[float, str, str]]) -> None:
        follow = self.scroll_y >= self.max_scroll_y
        self._entries.extend(entries)
        self.count += len(entries)
        size = Size(self.scrollable_content_region.width, len(self._entries))
        try:
            # the new scroll range, without the screen-wide layout that setting
            # ``virtual_size`` asks for (the widget's own size has not changed)
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        except AttributeError:  # Textual changed: take the layout
            self.virtual_size = size
        self.refresh()
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        style = self.pass_style
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if index >= len(self._entries):
            return Strip.blank(width, style)
        # entries are numbered from the first ever written, so a dropped one never shifts the cache
        number = self.count - len(self._entries) + index
        key = (number, width, style, self.app.theme)
        strip = self._strips.get(key)
        if strip is None:
            segments = list(self._styled(*self._entries[index]).render(self.app.console))
            strip = Strip(segments).crop_extend(0, width, style).apply_style(style)
            self._strips[key] = strip
        return strip
