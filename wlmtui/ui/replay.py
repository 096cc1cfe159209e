"""The console on a recording: the same panels, a time cursor instead of a loop.

:class:`ReplayApp` is :class:`~wlmtui.ui.app.WlmApp` shown read-only on a
:class:`~wlmtui.record.replay.ReplaySource`; no loop thread runs. The
cursor steps one tick (``,`` ``.``), jumps a minute (``[`` ``]``) or ten
(``{`` ``}``), goes to the start or end (``<`` ``>``) or to a typed time
(``g``), and plays at the recorded pace times a speed (space, ``+``/``-``).

The history panels (sparklines, plots) and the event log are built from
successive snapshots, so after any move that is not one tick forward the
console forgets them and feeds the snapshots before the cursor again (as
many as the history holds, from the last daemon restart on): what is on
screen is what a console watching live at that moment would have shown.
"""

from __future__ import annotations

import time

from textual.binding import Binding

from wlmtui.record.replay import Recording, ReplaySource, describe_span, parse_at
from wlmtui.ui.app import WlmApp
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.modals.field import OneFieldScreen

SPEEDS = (1, 2, 5, 10, 30, 60, 300)
#: the play timer never fires more often than this (faster speeds step several ticks at once)
MIN_PERIOD = 0.1


def stamp(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


class JumpScreen(OneFieldScreen):
    """Ask for a time to go to (the same forms as ``--at``); dismisses with the text."""

    DIALOG_ID, FIELD, LABEL, APPLY = "jump-dialog", "time", "Time", "Go"

    def __init__(self, recording: Recording, current: float):
        super().__init__()
        self.recording = recording
        self.current = current

    def dialog_title(self) -> str:
        return "Go to time"

    def dialog_text(self) -> str:
        return (f"The recording holds {describe_span(self.recording)}. "
                "Type 03:12, 03:12:04, 2026-12-08 03:12:00, -10m (before the end) or +5m (after the start).")

    def initial(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.current))

    def check(self, text: str) -> tuple[float | None, str]:
        try:
            return parse_at(text, self.recording.first_wall, self.recording.last_wall), ""
        except ValueError as exc:
            return None, str(exc).removeprefix("--at ")

    def result(self, value: float, text: str) -> str:
        return text


class ReplayApp(WlmApp):
    TITLE = "wlmtui replay"

    BINDINGS = [b for b in WlmApp.BINDINGS if b.key != "space"] + [
        Binding("comma", "step(-1)", "◀ tick", id="wlmtui.replay.back"),
        Binding("full_stop", "step(1)", "tick ▶", id="wlmtui.replay.forward"),
        Binding("left_square_bracket", "jump(-60)", "-1m", id="wlmtui.replay.back-minute"),
        Binding("right_square_bracket", "jump(60)", "+1m", id="wlmtui.replay.forward-minute"),
        Binding("left_curly_bracket", "jump(-600)", "-10m", id="wlmtui.replay.back-10min", show=False),
        Binding("right_curly_bracket", "jump(600)", "+10m", id="wlmtui.replay.forward-10min", show=False),
        Binding("less_than_sign", "edge(0)", "start", id="wlmtui.replay.start", show=False),
        Binding("greater_than_sign", "edge(1)", "end", id="wlmtui.replay.end", show=False),
        Binding("space", "play", "Play", id="wlmtui.replay.play"),
        Binding("plus", "speed(1)", "faster", id="wlmtui.replay.faster", show=False),
        Binding("minus", "speed(-1)", "slower", id="wlmtui.replay.slower", show=False),
        Binding("g", "goto", "Go to", id="wlmtui.replay.goto"),
    ]

    ACTION_TITLES = {
        **{k: v for k, v in WlmApp.ACTION_TITLES.items() if k != "pause"},
        "step": ("Step one tick forward", ", back / . forward"),
        "jump": ("Jump one minute forward", "[ ] one minute, { } ten minutes"),
        "edge": ("End of the recording", "< start, > end"),
        "play": ("Play / pause", "at the recorded pace times the speed (+ / - change it)"),
        "speed": ("Faster", "+ faster, - slower"),
        "goto": ("Go to time", "03:12, 2026-12-08 03:12:00, -10m …"),
    }

    def __init__(self, recording: Recording, pos: int = 0, **kw):
        self.recording = recording
        self.pos = max(0, min(pos, len(recording) - 1))
        self.playing = False
        self.speed = 1
        self._timer = None
        source = ReplaySource(recording, self.pos)
        super().__init__(source, readonly=True, autostart=False, **kw)

    # -- the cursor ----------------------------------------------------------------
    def on_mount(self) -> None:
        super().on_mount()
        self.show(self.pos)

    def mode_flags(self) -> list[str]:
        snap = self.snapshot
        when = stamp(snap.wall) if snap is not None else "?"
        play = f" ▶ x{self.speed}" if self.playing else f" ‖ x{self.speed}"
        end = " (end)" if self.pos >= len(self.recording) - 1 else ""
        return [f"REPLAY {when}{play}{end}"]

    def show(self, pos: int) -> None:
        """Put the cursor at ``pos``: one tick forward draws it, anything else feeds the history again."""
        pos = max(0, min(pos, len(self.recording) - 1))
        current = self.snapshot
        if current is not None and pos == self.pos + 1:
            snap = self.recording.frame(pos)
            if snap is not None and snap.tick > current.tick:
                self.pos = pos
                self._draw(snap, absorbed=False)
                return
        self._refeed(pos)

    def _refeed(self, pos: int) -> None:
        frames = self.recording.frames(pos - self.history.size + 1, pos + 1)
        for i in range(len(frames) - 1, 0, -1):  # the history starts again after a daemon restart
            if frames[i].tick <= frames[i - 1].tick:
                frames = frames[i:]
                break
        if not frames:
            self.notify("This part of the recording is damaged.", severity="error")
            return
        self.pos = pos
        self.history.clear()
        self._last_errors = ()
        events = self.query_one(EventLog)
        events.clear()
        events.note(frames[0].wall, "info", f"replay: history and events from {stamp(frames[0].wall)} "
                                            f"({len(frames)} ticks) up to the cursor")
        for w in self.recording.warnings:
            events.note(frames[0].wall, "error", f"recording: {w}")
        for snap in frames[:-1]:
            self._absorb(snap)
        self._draw(frames[-1], absorbed=False)

    def _draw(self, snap, absorbed: bool) -> None:
        self.loop.last = snap
        self.loop.policy = snap.policy
        self.apply_snapshot(snap, absorbed=absorbed)
        self._draw_header()

    def advance(self, n: int = 1, dt: float | None = None):  # noqa: ARG002 - tests drive the cursor
        self.action_step(n)
        return self.snapshot

    # -- actions -------------------------------------------------------------------
    def action_step(self, n: int = 1) -> None:
        self.show(self.pos + n)

    def action_jump(self, seconds: float = 60) -> None:
        if self.snapshot is None:
            return
        target = self.snapshot.wall + seconds
        pos = self.recording.seek(target)
        if seconds < 0 and pos > 0 and (s := self.recording.frame(pos)) is not None and s.wall > target:
            pos -= 1  # the last tick at or before the target
        if pos == self.pos:
            self.notify("At the end of the recording." if seconds > 0 else "At the start of the recording.")
            return
        self.show(pos)

    def action_edge(self, end: int = 1) -> None:
        self.show(len(self.recording) - 1 if end else 0)

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing and self.pos >= len(self.recording) - 1:
            self.show(0)
        self._restart_timer()
        self._draw_header()

    def action_speed(self, direction: int = 1) -> None:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, i + direction))]
        self._restart_timer()
        self._draw_header()

    def _period(self) -> tuple[float, int]:
        interval = self.snapshot.interval if self.snapshot is not None else 1.0
        period = max(MIN_PERIOD, interval / self.speed)
        return period, max(1, round(period * self.speed / interval))

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.playing:
            period, _ = self._period()
            self._timer = self.set_interval(period, self._play_tick)

    def _play_tick(self) -> None:
        if self.pos >= len(self.recording) - 1:
            self.playing = False
            self._restart_timer()
            self._draw_header()
            return
        _, n = self._period()
        for _ in range(n - 1):  # faster than the timer: the ticks between go into the history unseen
            if self.pos + 1 >= len(self.recording) - 1:
                break
            snap = self.recording.frame(self.pos + 1)
            if snap is None or self.snapshot is None or snap.tick <= self.snapshot.tick:
                break
            self.pos += 1
            self._absorb(snap)
            self.snapshot = snap
        self.show(self.pos + 1)

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                target = parse_at(text, self.recording.first_wall, self.recording.last_wall)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.show(self.recording.seek(target))
            if not self.recording.first_wall <= target <= self.recording.last_wall:
                self.notify(f"{text} is outside the recording ({describe_span(self.recording)}); "
                            "showing the nearest tick.", severity="warning")

        self.push_screen(JumpScreen(self.recording, self.snapshot.wall if self.snapshot else self.recording.first_wall),
                         done)

    def _allowed(self, action: str) -> bool:
        if action in ("edit", "pin", "pause", "emergency_stop", "reload", "save", "move_process"):
            self.notify("This is a recording: nothing can be changed in replay.", severity="warning")
            return False
        return True


def run_replay_console(recording: Recording, pos: int, theme: str | None = None) -> int:
    from wlmtui.ui.app import UnknownTheme

    import sys

    from wlmtui.record.replay import RecordingError

    try:
        app = ReplayApp(recording, pos, theme=theme)
    except UnknownTheme as exc:
        print(f"wlmtui: {exc}", file=sys.stderr)
        return 2
    except RecordingError as exc:
        print(f"wlmtui: {exc}", file=sys.stderr)
        return 1
    result = app.run()
    return result if isinstance(result, int) else 0
