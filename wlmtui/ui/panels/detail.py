"""The selected class in detail: what it is, why it does what it does, its
gains, and plots of weight, PI and pressure over the last minutes."""

from __future__ import annotations

import os
import re

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual_plotext import PlotextPlot

from wlmtui.engine import ClassDecision
from wlmtui.goals import BUCKETS, RT_WINDOW_S
from wlmtui.policy import ServiceClass
from wlmtui.snapshot import Snapshot
from wlmtui.ui import fmt
from wlmtui.ui.history import History
from wlmtui.ui.panels.classes import DELAY_QUIET
from wlmtui.ui.panels.lines import TextLines
from wlmtui.ui.style import status_colour, var


#: groups of z/OS buckets for a panel too narrow for all fourteen: (first, last) bucket index;
#: a group is labelled by its last bucket's edge
BUCKET_GROUPS = ((0, 0), (1, 5), (6, 10), (11, 11), (12, 12), (13, 13))
#: cells per bucket in the histogram (bar / count / label, and a gap)
BUCKET_CELLS = 5
#: what makes a PI come from CPU pressure instead of the goal's own measure
PROXY_WHY = {"response_time": "too few transactions reported", "throughput": "no completions reported"}


def _pi_bucket(buckets: tuple[int, ...], pct: float | None) -> int | None:
    """The bucket in which the goal's percentile completion falls (its edge is the PI)."""
    total = sum(buckets)
    if not pct or not total:
        return None
    need, running = pct / 100.0 * total, 0
    for i, n in enumerate(buckets):
        running += n
        if running >= need:
            return i
    return len(buckets) - 1


def histogram(dist, percentile: float | None, colours: dict[str, str], width: int) -> list[Text]:
    """The response-time buckets as three lines: bars, counts, labels (% of the goal).

    All fourteen z/OS buckets when ``width`` allows, else six groups
    (≤50, ≤100, ≤150, ≤200, ≤400, >400). The label of the bucket holding the
    goal's percentile is underlined: its upper edge is the PI."""
    labels = fmt.bucket_labels(BUCKETS)
    counts = list(dist.buckets)
    hit = _pi_bucket(dist.buckets, percentile)
    edges = [*BUCKETS, float("inf")]
    if len(counts) != len(labels):
        return []
    if width < BUCKET_CELLS * len(counts):
        groups = BUCKET_GROUPS
    else:
        groups = tuple((i, i) for i in range(len(counts)))
    cells = BUCKET_CELLS
    values = [sum(counts[a:b + 1]) for a, b in groups]
    top = max(values, default=0)
    bars, nums, names = (Text(no_wrap=True, overflow="ellipsis") for _ in range(3))
    for (a, b), n in zip(groups, values):
        over = edges[b] > 1.0
        colour = colours.get("missing" if over else "meeting", "")
        bars.append(fmt.bar(n, top) * (cells - 1) + " ", style=colour)
        nums.append(f"{fmt.count(n):>{cells - 1}} ", style="" if n else "dim")
        style = "dim"
        if hit is not None and a <= hit <= b:
            style = f"bold underline {colour}"
        names.append(f"{labels[b]:>{cells - 1}}", style=style)
        names.append(" ")
    if width >= names.cell_len + 9:
        names.append("% of goal", style="dim")
    return [bars, nums, names]


def _line() -> Text:
    return Text(no_wrap=True, overflow="ellipsis")


def describe(cls: ServiceClass, c: ClassDecision | None, colours: dict[str, str], tokens_line: str = "",
             procs=None, width: int = 80) -> Text:
    """What and how the class does, why (the last decision and what it waits
    for), its response times, its processes, its settings — one line each
    (the histogram three)."""
    lines: list[Text] = []
    head = _line()
    head.append(cls.name, style="bold")
    head.append(f"  imp {cls.importance}  {cls.goal.describe()}")
    proxy = c is not None and c.perf.source == "psi-proxy"
    if c is not None:
        colour = colours.get(c.status, "")
        head.append("  PI ")
        head.append(fmt.pi(c.pi), style=f"bold {colour}")
        head.append(f" {c.status}", style=colour)
        if proxy:
            head.append("  from CPU pressure", style=colours.get("proxy", ""))
        elif c.perf.detail and c.perf.distribution is None:
            head.append(f"  {c.perf.detail}", style="dim")
    lines.append(head)
    if c is not None:
        why = _line()
        if c.weight is not None:
            why.append(f"weight {c.old_weight}→{c.weight}: " if c.changed else f"weight {c.weight}: ")
        why.append(c.reason or "-", style="italic")
        lines.append(why)
        if c.share is not None and not cls.is_discretionary:
            lines.append(plot_line(c, colours, width))
        if proxy:
            line = _line()
            line.append("judged by CPU pressure: ", style=f"bold {colours.get('proxy', '')}")
            line.append(f"{PROXY_WHY.get(c.goal_type, 'the goal is not measured')} — {c.perf.detail}")
            lines.append(line)
        dist = c.perf.distribution
        if dist is not None:
            lines.append(rt_line(c.perf.detail, dist))
            lines += histogram(dist, getattr(cls.goal, "percentile", None), colours, width)
        if cls.has_cgroup and not cls.is_token and c.measure is not None and c.measure.present:
            lines.append(delay_line(c, colours))
    if procs is not None:
        lines.append(procs_line(procs))
    settings = _line()
    if cls.has_cgroup and not cls.is_token:
        settings.append(f"Kp {cls.gains.kp:g}  Ki {cls.gains.ki:g}", style="bold")
        settings.append(f"  deadband ±{cls.deadband * 100:g}%  max step ×{cls.max_step:g}  "
                        f"weight {cls.min_weight}‥{cls.base_weight}‥{cls.max_weight}  "
                        f"psi {cls.psi_threshold * 100:g}%  cgroup {cls.cgroup}")
    elif cls.is_token:
        settings.append(f"token budget {cls.goal.target}" + (f"  pool {cls.pool}" if cls.pool else "") + tokens_line)
    else:
        settings.append("no cgroup")
    lines.append(settings)
    return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)


def plot_line(c: ClassDecision, colours: dict[str, str], width: int = 80) -> Text:
    """The class's plot and the projection behind the last decision:
    ``plot share 52% · PI 0.85 at 61% (plot, 118/s) · keeps ≥ 58% │ 40% 2.1  55% 1.0  70% 0.6``."""
    line = _line()
    line.append("plot ", style="bold")
    line.append(f"share {c.share:.0%}")
    p = c.projection
    if p.share is not None:
        line.append(f" · PI {p.target_pi:.2f} at ")
        line.append(f"{p.share:.0%}", style="bold")
        load = f", {c.load_rate:.0f}/s" if c.load_rate else ""
        line.append(f" ({p.basis}{load})", style="dim")
    else:
        line.append(f" · no projection yet (PI above {p.target_pi:.2f} at every share seen)", style="dim")
    if c.floor_share > 0:
        line.append(f" · keeps ≥ {c.floor_share:.0%}")
    if c.plot:
        line.append(" │", style="dim")
        room = max(1, (width - line.cell_len) // 10)
        step = max(1, -(-len(c.plot) // room))
        for pt in c.plot[::step]:
            state = "missing" if pt.pi > 1.05 else "beating" if pt.pi < 0.95 else "meeting"
            line.append(f" {pt.share:.0%} ")
            line.append(f"{pt.pi:.2f}", style=colours.get(state, ""))
    return line


def rt_line(detail: str, dist) -> Text:
    """``measured p95 749ms of 166 vs goal 250ms · p50 73ms · p99 1.29s (last 3s)``:
    the PI's own sentence, then the percentiles it does not name."""
    line = _line()
    line.append("measured ", style="bold")
    line.append(detail or f"{dist.count} completions vs goal {fmt.rt(dist.goal)}")
    for label, value in (("p50", dist.p50), ("p95", dist.p95), ("p99", dist.p99)):
        if f"{label} " in detail:
            continue
        line.append("  · ", style="dim")
        line.append(f"{label} ")
        line.append(fmt.rt(value), style="bold" if value > dist.goal else "")
    line.append(f"  (last {RT_WINDOW_S:g}s)", style="dim")
    return line


def delay_line(c: ClassDecision, colours: dict[str, str]) -> Text:
    """What the class waited for this interval, and whether weights can help."""
    m = c.measure
    line = _line()
    line.append("delay ", style="bold")
    shares = m.delay_shares()
    if not shares:
        line.append("no stall")
    else:
        parts = sorted(shares.items(), key=lambda kv: -kv[1])
        line.append("  ".join(f"{k} {v * 100:.0f}%" for k, v in parts if v >= 0.005))
        total = m.cpu_stall + m.mem_stall + m.io_stall
        if total >= DELAY_QUIET:
            if shares.get("cpu", 0.0) >= 0.5:
                line.append(" — waits for CPU: weights can help")
            else:
                worst = max((k for k in shares if k != "cpu"), key=lambda k: shares[k])
                line.append(f" — waits for {'I/O' if worst == 'io' else worst}: weights cannot fix that",
                            style=f"{'bold ' if c.status == 'missing' else ''}{colours.get('proxy', '')}")
        line.append(f"  (stall cpu {fmt.pct(m.cpu_stall)}  mem {fmt.pct(m.mem_stall)}  io {fmt.pct(m.io_stall)})",
                    style="dim")
    if m.completions or m.failed:
        line.append(f"  · {m.completions} transactions", style="dim")
        if m.failed:
            line.append(f", {m.failed} failed", style=colours.get("missing", ""))
    return line


def process_name(p) -> str:
    name = os.path.basename(p.exe) if p.exe else ""
    return name or (p.cmdline.split(" ", 1)[0] if p.cmdline else "?")


def procs_line(cc) -> Text:
    """``processes 14 · nginx 1234 0.82c · …`` (the classifier's busiest few)."""
    line = _line()
    line.append("processes ", style="bold")
    if not getattr(cc, "present", True):
        line.append("? (cgroup not readable)")
        return line
    line.append(str(cc.count))
    for p in cc.busiest:
        line.append("  · ", style="dim")
        line.append(process_name(p))
        line.append(f" {p.pid} {'-' if p.cpu is None else f'{p.cpu:.2f}c'}", style="dim")
    return line


class InfoLines(TextLines):
    """Lines of text; its height follows the number of lines (a new layout
    only when that number changes)."""

    DEFAULT_CSS = "InfoLines { height: 3; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.text = Text("Select a class in the table.")
        self.lines = 3

    def show(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            lines = text.plain.count("\n") + 1
            if lines != self.lines:
                self.lines = lines
                self.styles.height = lines
            self.redraw()

    def render(self) -> Text:
        return self.text


#: seconds between plot redraws for the same class
PLOT_PERIOD = 1.9
#: the plots need this many rows; with fewer left under the text they are hidden
PLOTS_MIN_HEIGHT = 6


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
        self._shown: tuple | None = None  # what show() was last given
        self._width = 0  # the width the text was laid out for
        self.border_title = "Selected class"

    def compose(self) -> ComposeResult:
        yield InfoLines(id="detail-info")
        with Horizontal(id="plots"):
            yield TimePlot(id="plot-weight")
            yield TimePlot(id="plot-pi")
            yield TimePlot(id="plot-pressure")
            yield SharePlot(id="plot-share")

    def show(self, snap: Snapshot | None, name: str | None, cls: ServiceClass | None, tokens_line: str = "") -> None:
        colours = {s: status_colour(self.app, s) for s in ("missing", "meeting", "beating", "idle", "absent", "token")}
        colours["proxy"] = var(self.app, "wlm-yellow")
        info = self.query_one("#detail-info", InfoLines)
        if name is None or cls is None:
            info.show(Text("Select a class in the table."))
            return
        c = snap.decision.get(name) if snap is not None else None
        title = f"Selected class: {name}"
        if self.border_title != title:
            self.border_title = title  # setting it repaints the whole panel: only when it changes
        procs = None
        report = snap.classify if snap is not None else None
        if report is not None:
            procs = next((cc for cc in report.classes if cc.name == name), None)
        self._width = self.size.width
        info.show(describe(cls, c, colours, tokens_line, procs, self._width or 80))
        self.name_shown = name
        self._shown = (snap, name, cls, tokens_line)
        if self._place_plots():
            self._plot(snap, name, cls)

    def _place_plots(self) -> bool:
        """Show the plots only when the text leaves them room; whether they show."""
        plots = self.query_one("#plots")
        room = self.size.height - self.query_one("#detail-info", InfoLines).lines >= PLOTS_MIN_HEIGHT
        if plots.display != room:
            plots.display = room
            self._plotted = None
        return room

    def on_resize(self) -> None:
        if self._shown is None:
            return
        if self.size.width != self._width:
            self.show(*self._shown)  # the histogram fits itself to the width
        elif self._place_plots() and self._plotted is None:
            self._plot(*self._shown[:3])

    def _plot(self, snap: Snapshot | None, name: str, cls: ServiceClass) -> None:
        series = self.history.series(name)
        if series is None or not series.t or not self.display:
            return
        wall = series.t[-1]
        if self._plotted is not None and self._plotted[0] == (name, cls) and wall - self._plotted[1] < PLOT_PERIOD:
            return  # plots span minutes: every other second is plenty (a new selection or edit: at once)
        self._plotted = ((name, cls), wall)
        t_end = series.t[-1]
        xs = [t - t_end for t in series.t]
        if cls.is_token:
            self.query_one("#plot-share", SharePlot).set_curve(None)
            budget = cls.goal.value
            self.query_one("#plot-weight", TimePlot).set_data(
                "tokens used", xs, list(series.tokens_used), "wlm-spark", [budget] if budget else [])
            self.query_one("#plot-pi", TimePlot).set_data("PI (projected)", xs, list(series.pi),
                                                         "wlm-missing", [1.0])
            self.query_one("#plot-pressure", TimePlot).set_data(
                "burn rate /min", xs, list(series.token_rate), "wlm-beating", [])
            return
        c = snap.decision.get(name) if snap is not None else None
        self.query_one("#plot-share", SharePlot).set_curve(c)
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


class SharePlot(TimePlot):
    """The class's plot as z/OS keeps it: PI against the CPU share it held.

    Dots are the plot's bins (their own averages), the line is the monotone
    fit the arbiter reads, the gray line PI 1 and the projection's target;
    the x axis is the share in %; its label names where the class is now and
    where the projection puts the target."""

    def set_curve(self, c) -> None:
        if c is None or not c.plot:
            self._data = None
        else:
            self._data = (c.plot, c.share, c.projection)
        self._version += 1
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self._data is None:
            plt.title("PI vs share: no points yet")
            return
        points, share, proj = self._data
        xs = [p.share * 100 for p in points]
        plt.scatter(xs, [p.raw_pi for p in points], marker="dot", color=_rgb(var(self.app, "wlm-beating")))
        plt.plot(xs, [p.pi for p in points], marker="braille", color=_rgb(var(self.app, "wlm-spark")))
        plt.hline(1.0, color="gray")
        if proj.share is not None:
            plt.hline(proj.target_pi, color="gray")
        plt.title("PI vs share")
        label = "share %" + (f", now {share:.0%}" if share is not None else "")
        if proj.share is not None:
            label += f"; {proj.target_pi:.2f} at {proj.share:.0%}"
        plt.xlabel(label)


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
