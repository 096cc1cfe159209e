"""The header line: host, kernel, backend, interval, tick, loop time, policy."""

from __future__ import annotations

import os

from rich.text import Text

from wlmtui.snapshot import Snapshot
from wlmtui.ui import fmt
from wlmtui.ui.panels.lines import TextLines
from wlmtui.ui.style import var


class HeaderPanel(TextLines):
    DEFAULT_CSS = """
    HeaderPanel { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, host: str = "", kernel: str = "", backend: str = "", policy_file: str | None = None,
                 interval: float = 1.0, **kw):
        super().__init__(**kw)
        self.snap: Snapshot | None = None
        self.host, self.kernel, self.backend, self.policy_file, self.interval = host, kernel, backend, policy_file, interval
        self.dirty = False
        self.flags: list[str] = []

    def update_snapshot(self, snap: Snapshot | None, *, dirty: bool, flags: list[str]) -> None:
        self.snap = snap
        if snap is not None:
            self.host, self.kernel = snap.host, snap.kernel
            self.backend, self.policy_file, self.interval = snap.backend_kind, snap.policy.source, snap.interval
        self.dirty, self.flags = dirty, flags
        self.redraw()

    def render(self) -> Text:
        width = self.size.width or 80
        snap = self.snap
        accent = var(self.app, "accent")
        warn = var(self.app, "wlm-missing")
        policy = os.path.basename(self.policy_file) if self.policy_file else "demo policy (no file)"
        if width >= 140 and self.policy_file:
            policy = self.policy_file
        # (priority, text, style): lower priority numbers survive narrow terminals
        pieces: list[tuple[int, str, str]] = [
            (0, "wlmtui", f"bold {accent}"),
            (1, self.host or "?", "bold"),
            (5, f"kernel {self.kernel}" if self.kernel else "", ""),
            (2, fmt.BACKEND_NAMES.get(self.backend, self.backend or "?"), ""),
            (4, f"every {fmt.duration(self.interval)}", ""),
            (1, f"tick {snap.tick}" if snap else "waiting for the first tick", ""),
            (3, f"loop {snap.loop_ms:.1f}ms" if snap else "", ""),
            (0, policy + (" ● unsaved" if self.dirty else ""), f"bold {warn}" if self.dirty else ""),
        ]
        pieces += [(0, f, f"reverse bold {warn}") for f in self.flags]
        pieces.append((2, fmt.clock(snap.wall) if snap else "", ""))
        pieces = [p for p in pieces if p[1]]
        sep = " │ "
        for drop in (6, 5, 4, 3, 2, 1):
            total = sum(len(t) for _, t, _ in pieces) + len(sep) * (len(pieces) - 1) + 1
            if total <= width:
                break
            pieces = [p for p in pieces if p[0] < drop]
        out = Text(" ", no_wrap=True, overflow="ellipsis")
        for i, (_, text, style) in enumerate(pieces):
            if i:
                out.append(sep, style="dim")
            out.append(text, style=style)
        return out
