"""The selected class in detail: what it is, why it does what it does, its
gains, and plots of weight, PI and pressure over the last minutes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
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


class DetailPanel(Vertical):
    DEFAULT_CSS = """
    DetailPanel { height: 1fr; }
    DetailPanel #detail-info { height: auto; max-height: 4; }
    DetailPanel #plots { height: 1fr; min-height: 5; }
    DetailPanel PlotextPlot { width: 1fr; height: 1fr; min-height: 5; }
    """

    def __init__(self, history: History, **kw):
        super().__init__(**kw)
        self.history = history
        self.name_shown: str | None = None
        self._plotted: tuple | None = None
        self.border_title = "Selected class"

    def compose(self) -> ComposeResult:
        yield Static("Select a class in the table.", id="detail-info")
        with Horizontal(id="plots"):
            yield PlotextPlot(id="plot-weight")
            yield PlotextPlot(id="plot-pi")
            yield PlotextPlot(id="plot-pressure")

    def show(self, snap: Snapshot | None, name: str | None, cls: ServiceClass | None, tokens_line: str = "") -> None:
        colours = {s: status_colour(self.app, s) for s in ("missing", "meeting", "beating", "idle", "absent", "token")}
        info = self.query_one("#detail-info", Static)
        if name is None or cls is None:
            info.update("Select a class in the table.")
            return
        c = snap.decision.get(name) if snap is not None else None
        self.border_title = f"Selected class: {name}"
        info.update(describe(cls, c, colours, tokens_line))
        self.name_shown = name
        self._plot(snap, name, cls)

    def _plot(self, snap: Snapshot | None, name: str, cls: ServiceClass) -> None:
        series = self.history.series(name)
        key = (name, snap.tick if snap else 0, self.app.theme, self.size)
        if series is None or not series.t or key == self._plotted or not self.display:
            return
        self._plotted = key
        t_end = series.t[-1]
        xs = [t - t_end for t in series.t]
        colour = var(self.app, "wlm-spark")
        self._draw("#plot-weight", "weight", xs, list(series.weight), colour,
                   hlines=[(cls.min_weight, "min"), (cls.max_weight, "max")] if cls.has_cgroup else [])
        self._draw("#plot-pi", "PI (1 = on goal)", xs, list(series.pi), var(self.app, "wlm-missing"),
                   hlines=[(1.0, "goal")])
        self._draw("#plot-pressure", "cpu stall %", xs, [None if v is None else v * 100 for v in series.stall],
                   var(self.app, "wlm-beating"), hlines=[(cls.psi_threshold * 100, "psi")] if not cls.is_token else [])

    def _draw(self, selector: str, title: str, xs: list[float], ys: list, colour: str, hlines) -> None:
        widget = self.query_one(selector, PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        points = [(x, y) for x, y in zip(xs, ys) if y is not None]
        rgb = _rgb(colour)
        if points:
            px, py = zip(*points)
            plt.plot(px, py, marker="braille", color=rgb)
            lo, hi = min(py), max(py)
            for y, _label in hlines:
                if lo * 0.5 <= y <= hi * 2 or lo <= y <= hi:
                    plt.hline(y, color="gray")
        span = -xs[0] if xs else 0
        plt.xlabel(f"last {fmt.duration(span)}" if span else "")
        widget.refresh()


def _rgb(colour: str):
    colour = colour.strip()
    if colour.startswith("#") and len(colour) == 7:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return colour
