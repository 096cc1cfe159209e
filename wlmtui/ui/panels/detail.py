"""The selected class in detail: what it is, why it does what it does, its
gains, and plots of weight, PI and pressure over the last minutes."""

from __future__ import annotations

import re

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual_plotext import PlotextPlot

from wlmtui.engine import ClassDecision
from wlmtui.policy import ServiceClass
from wlmtui.snapshot import Snapshot
from wlmtui.ui import fmt
from wlmtui.ui.history import History
from wlmtui.ui.style import status_colour, var


def describe(cls: ServiceClass, c: ClassDecision | None, colours: dict[str, str], tokens_line: str = "") -> Text:
    """Three lines: what and how it does, why (the last decision), its settings."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(cls.name, style="bold")
    out.append(f"  imp {cls.importance}  {cls.goal.describe()}")
    if c is not None:
        colour = colours.get(c.status, "")
        out.append("  PI ")
        out.append(fmt.pi(c.pi), style=f"bold {colour}")
        out.append(f" {c.status}", style=colour)
        if c.perf.detail:
            out.append(f"  {c.perf.detail}", style="dim")
        out.append("\n")
        if c.weight is not None:
            out.append(f"weight {c.old_weight}→{c.weight}: " if c.changed else f"weight {c.weight}: ")
        out.append(c.reason or "-", style="italic")
    out.append("\n")
    if cls.has_cgroup and not cls.is_token:
        out.append(f"Kp {cls.gains.kp:g}  Ki {cls.gains.ki:g}", style="bold")
        out.append(f"  deadband ±{cls.deadband * 100:g}%  max step ×{cls.max_step:g}  "
                   f"weight {cls.min_weight}‥{cls.base_weight}‥{cls.max_weight}  "
                   f"psi {cls.psi_threshold * 100:g}%  cgroup {cls.cgroup}")
    elif cls.is_token:
        out.append(f"token budget {cls.goal.target}" + (f"  pool {cls.pool}" if cls.pool else "") + tokens_line)
    else:
        out.append("no cgroup")
    return out


#: seconds between plot redraws for the same class (a new selection redraws at once)
PLOT_PERIOD = 1.9


class InfoLines(Widget):
    """Three fixed lines of text; redrawing them never needs a new layout."""

    DEFAULT_CSS = "InfoLines { height: 3; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.text = Text("Select a class in the table.")

    def show(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return self.text


class DetailPanel(Vertical):
    DEFAULT_CSS = """
    DetailPanel { height: 1fr; }
    DetailPanel #plots { height: 1fr; min-height: 5; }
    DetailPanel TimePlot { width: 1fr; height: 1fr; min-height: 5; }
    """

    def __init__(self, history: History, **kw):
        super().__init__(**kw)
        self.history = history
        self.name_shown: str | None = None
        self._plotted: tuple | None = None
        self.border_title = "Selected class"

    def compose(self) -> ComposeResult:
        yield InfoLines(id="detail-info")
        with Horizontal(id="plots"):
            yield TimePlot(id="plot-weight")
            yield TimePlot(id="plot-pi")
            yield TimePlot(id="plot-pressure")

    def show(self, snap: Snapshot | None, name: str | None, cls: ServiceClass | None, tokens_line: str = "") -> None:
        colours = {s: status_colour(self.app, s) for s in ("missing", "meeting", "beating", "idle", "absent", "token")}
        info = self.query_one("#detail-info", InfoLines)
        if name is None or cls is None:
            info.show(Text("Select a class in the table."))
            return
        c = snap.decision.get(name) if snap is not None else None
        title = f"Selected class: {name}"
        if self.border_title != title:
            self.border_title = title  # setting it repaints the whole panel: only when it changes
        info.show(describe(cls, c, colours, tokens_line))
        self.name_shown = name
        self._plot(snap, name, cls)

    def _plot(self, snap: Snapshot | None, name: str, cls: ServiceClass) -> None:
        series = self.history.series(name)
        if series is None or not series.t or not self.display:
            return
        wall = series.t[-1]
        if self._plotted is not None and self._plotted[0] == name and wall - self._plotted[1] < PLOT_PERIOD:
            return  # plots span minutes: redrawing them every other second is plenty, and plotext is costly
        self._plotted = (name, wall)
        t_end = series.t[-1]
        xs = [t - t_end for t in series.t]
        if cls.is_token:
            budget = cls.goal.value
            self.query_one("#plot-weight", TimePlot).set_data(
                "tokens used", xs, list(series.tokens_used), "wlm-spark", [budget] if budget else [])
            self.query_one("#plot-pi", TimePlot).set_data("PI (projected)", xs, list(series.pi),
                                                         "wlm-missing", [1.0])
            self.query_one("#plot-pressure", TimePlot).set_data(
                "burn rate /min", xs, list(series.token_rate), "wlm-beating", [])
            return
        self.query_one("#plot-weight", TimePlot).set_data(
            "weight", xs, list(series.weight), "wlm-spark",
            [cls.min_weight, cls.max_weight] if cls.has_cgroup else [])
        self.query_one("#plot-pi", TimePlot).set_data("PI (1 = on goal)", xs, list(series.pi), "wlm-missing", [1.0])
        self.query_one("#plot-pressure", TimePlot).set_data(
            "cpu stall %", xs, [None if v is None else v * 100 for v in series.stall], "wlm-beating",
            [cls.psi_threshold * 100] if not cls.is_token else [])


class TimePlot(PlotextPlot):
    """A plot of one series over time, drawn only when its data, size or theme change.

    Plotext is costly (milliseconds per build), so the built picture is cached
    and the points are thinned to one per column, keeping each bucket's peak.
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._data: tuple | None = None
        self._version = 0
        self._cache_key: tuple | None = None
        self._cached: list[Strip] | None = None

    def set_data(self, title: str, xs: list[float], ys: list, colour_var: str, hlines: list[float]) -> None:
        self._data = (title, xs, ys, colour_var, hlines)
        self._version += 1
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """Line API: the built plot is kept as strips, so a repaint costs nothing."""
        width, height = self.size
        key = (self._version, width, height, self.app.theme)
        if key != self._cache_key or self._cached is None:
            self._draw()
            plt = self.plt
            plt.plotsize(width, height)
            plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
            plt.theme(self._get_plotext_theme_name(self.app.theme))
            self._cached = ansi_strips(plt.build(), width)
            self._cache_key = key
        if y < len(self._cached):
            return self._cached[y]
        return Strip.blank(width, self.rich_style)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self._data is None:
            return
        title, xs, ys, colour_var, hlines = self._data
        plt.title(title)
        points = thin([(x, y) for x, y in zip(xs, ys) if y is not None], max(8, self.size.width))
        if points:
            px, py = zip(*points)
            plt.plot(px, py, marker="braille", color=_rgb(var(self.app, colour_var)))
            lo, hi = min(py), max(py)
            for y in hlines:
                if lo * 0.5 <= y <= hi * 2:
                    plt.hline(y, color="gray")
        span = -xs[0] if xs else 0
        plt.xlabel(f"last {fmt.duration(span)}" if span else "")


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _sgr(params: str, fg, bg, bold: bool):
    """Apply one SGR sequence (the few plotext writes) to the current colours."""
    codes = [int(c) for c in params.split(";") if c] or [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            fg, bg, bold = None, None, False
        elif c == 1:
            bold = True
        elif c in (38, 48) and i + 1 < len(codes):
            if codes[i + 1] == 5 and i + 2 < len(codes):
                colour = Color.from_ansi(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                colour = Color.from_rgb(*codes[i + 2:i + 5])
                i += 4
            else:
                colour = None
            if c == 38:
                fg = colour
            else:
                bg = colour
        elif c == 39:
            fg = None
        elif c == 49:
            bg = None
        i += 1
    return fg, bg, bold


def ansi_strips(text: str, width: int) -> list[Strip]:
    """Plotext's ANSI picture as strips, without Rich's general ANSI decoder."""
    styles: dict[tuple, Style] = {}
    strips = []
    for line in text.split("\n"):
        segments = []
        fg = bg = None
        bold = False
        pos = 0
        for m in _SGR.finditer(line):
            if m.start() > pos:
                key = (fg, bg, bold)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(color=fg, bgcolor=bg, bold=bold or None)
                segments.append(Segment(line[pos:m.start()], style))
            fg, bg, bold = _sgr(m.group(1), fg, bg, bold)
            pos = m.end()
        if pos < len(line):
            segments.append(Segment(line[pos:], styles.get((fg, bg, bold)) or Style(color=fg, bgcolor=bg)))
        strips.append(Strip(segments).adjust_cell_length(width))
    return strips


def thin(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most ``most`` points: consecutive buckets, each keeping its peak."""
    n = len(points)
    if n <= most:
        return points
    out = []
    for b in range(most):
        chunk = points[b * n // most:(b + 1) * n // most]
        if chunk:
            peak = max(chunk, key=lambda p: p[1])
            out.append((chunk[-1][0], peak[1]))
    return out


def _rgb(colour: str):
    colour = colour.strip()
    if colour.startswith("#") and len(colour) == 7:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return colour
