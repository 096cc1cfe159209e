"""A small SVG line-chart writer in plain Python (no plotting dependency)."""

from __future__ import annotations

import math
from html import escape

COLOURS = {"equal": "#888888", "favour": "#1f77b4", "wlmtui": "#d62728", "batch": "#2ca02c"}
W, PANEL_H, LEFT, RIGHT, TOP, GAP = 900, 200, 70, 150, 40, 60


def _fmt(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g}k" if v < 1e6 else f"{v:.0e}"
    return f"{v:g}"


class Panel:
    def __init__(self, y0: float, title: str, x_max: float, y_min: float, y_max: float, log: bool, unit: str):
        self.y0, self.title, self.x_max, self.log, self.unit = y0, title, x_max, log, unit
        self.y_min, self.y_max = y_min, y_max
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, bool]] = []

    def x(self, t: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * max(0.0, min(1.0, t / self.x_max))

    def y(self, v: float) -> float:
        if self.log:
            v = max(v, self.y_min)
            frac = (math.log10(v) - math.log10(self.y_min)) / (math.log10(self.y_max) - math.log10(self.y_min))
        else:
            frac = (v - self.y_min) / (self.y_max - self.y_min)
        frac = max(0.0, min(1.0, frac))
        return self.y0 + PANEL_H * (1 - frac)

    def shade(self, a: float, b: float, label: str) -> None:
        self.parts.append(f'<rect x="{self.x(a):.1f}" y="{self.y0}" width="{self.x(b) - self.x(a):.1f}" '
                          f'height="{PANEL_H}" fill="#fff2cc"/>')
        self.parts.append(f'<text x="{(self.x(a) + self.x(b)) / 2:.1f}" y="{self.y0 + 12}" font-size="10" '
                          f'text-anchor="middle" fill="#a0801a">{escape(label)}</text>')

    def hline(self, v: float, label: str) -> None:
        y = self.y(v)
        self.parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#000" '
                          f'stroke-dasharray="5,4" stroke-width="1"/>')
        self.parts.append(f'<text x="{W - RIGHT + 4}" y="{y + 4:.1f}" font-size="10">{escape(label)}</text>')

    def line(self, points: list[tuple[float, float | None]], colour: str, label: str, dashed: bool = False,
             step: bool = False) -> None:
        segs: list[list[tuple[float, float]]] = [[]]
        for t, v in points:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                segs.append([])
                continue
            if step and segs[-1]:
                segs[-1].append((self.x(t), segs[-1][-1][1]))
            segs[-1].append((self.x(t), self.y(v)))
        dash = ' stroke-dasharray="6,3"' if dashed else ""
        for seg in segs:
            if len(seg) > 1:
                pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in seg)
                self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>')
        self.legend.append((label, colour, dashed))

    def svg(self) -> str:
        out = [f'<text x="{LEFT}" y="{self.y0 - 8}" font-size="13" font-weight="bold">{escape(self.title)}</text>']
        out += self.parts
        out.append(f'<rect x="{LEFT}" y="{self.y0}" width="{W - LEFT - RIGHT}" height="{PANEL_H}" fill="none" '
                   f'stroke="#444"/>')
        if self.log:
            ticks = [10 ** k for k in range(math.floor(math.log10(self.y_min)), math.ceil(math.log10(self.y_max)) + 1)
                     if self.y_min <= 10 ** k <= self.y_max]
        else:
            ticks = [self.y_min + (self.y_max - self.y_min) * k / 4 for k in range(5)]
        for v in ticks:
            y = self.y(v)
            out.append(f'<line x1="{LEFT - 4}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{_fmt(v)}</text>')
        out.append(f'<text x="14" y="{self.y0 + PANEL_H / 2}" font-size="10" transform="rotate(-90 14 '
                   f'{self.y0 + PANEL_H / 2})" text-anchor="middle">{escape(self.unit)}</text>')
        step = 10 if self.x_max > 30 else 5
        for k in range(0, int(self.x_max) + 1, step):
            x = self.x(k)
            out.append(f'<text x="{x:.1f}" y="{self.y0 + PANEL_H + 13}" font-size="10" text-anchor="middle">{k}</text>')
        for i, (label, colour, dashed) in enumerate(self.legend):
            y = self.y0 + 10 + 16 * i
            dash = ' stroke-dasharray="6,3"' if dashed else ""
            out.append(f'<line x1="{W - RIGHT + 6}" x2="{W - RIGHT + 26}" y1="{y}" y2="{y}" stroke="{colour}" '
                       f'stroke-width="2"{dash}/>')
            out.append(f'<text x="{W - RIGHT + 30}" y="{y + 4}" font-size="10">{escape(label)}</text>')
        return "\n".join(out)


def control_quality_svg(results: list[dict], args) -> str:
    q1, peak = args.quiet, args.peak
    total = q1 + peak + q1
    panels = []
    y = TOP
    p95 = Panel(y, f"Interactive p{args.percentile:g} response time per 1-s interval (log scale)", total,
                1.0, 10000.0, True, "ms")
    p95.shade(q1, q1 + peak, f"peak: interactive needs {args.peak_load:.0%} of the CPU")
    p95.hline(args.goal_ms, f"goal {args.goal_ms:g} ms")
    for r in results:
        pts = [(s + 0.5, None if v is None else max(1.0, 1000 * v if not math.isinf(v) else 1e4))
               for s, _n, v in r["per_second"]]
        p95.line(pts, COLOURS.get(r["strategy"], "#000"), r["strategy"])
    panels.append(p95)
    y += PANEL_H + GAP
    cpu = Panel(y, "Batch CPU per second (cores of the one pinned CPU)", total, 0.0, 1.0, False, "cores")
    cpu.shade(q1, q1 + peak, "peak")
    for r in results:
        u = r["usage_series"]
        pts = [(u[k][0], (u[k + 1][1] - u[k][1]) / 1e6 / max(1e-3, u[k + 1][0] - u[k][0])) for k in range(len(u) - 1)]
        cpu.line([(t + 0.5, v) for t, v in pts], COLOURS.get(r["strategy"], "#000"), r["strategy"])
    panels.append(cpu)
    y += PANEL_H + GAP
    other = Panel(y, "Pinned CPU taken by other tenants of the host (noise)", total, 0.0, 1.0, False, "cores")
    other.shade(q1, q1 + peak, "peak")
    for r in results:
        u = r["usage_series"]
        pts = [(u[k][0] + 0.5, max(0.0, 1 - (u[k + 1][1] - u[k][1] + u[k + 1][2] - u[k][2]) / 1e6
                                   / max(1e-3, u[k + 1][0] - u[k][0]))) for k in range(len(u) - 1)]
        other.line(pts, COLOURS.get(r["strategy"], "#000"), r["strategy"])
    panels.append(other)
    wl = next((r for r in results if r["strategy"] == "wlmtui"), None)
    if wl is not None and wl["weights"]:
        y += PANEL_H + GAP
        wp = Panel(y, "wlmtui: weights it set (log scale)", total, 5.0, 2000.0, True, "weight")
        wp.shade(q1, q1 + peak, "peak")
        pts = [(t, wi, wb) for t, wi, wb, _pi in wl["weights"] if t is not None and 0 <= t <= total and wi]
        wp.line([(t, wi) for t, wi, _ in pts], COLOURS["wlmtui"], "interactive", step=True)
        wp.line([(t, wb) for t, _, wb in pts], COLOURS["batch"], "batch", step=True)
        panels.append(wp)
    height = y + PANEL_H + 40
    body = "\n".join(p.svg() for p in panels)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
            f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n{body}\n'
            f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{height - 10}" font-size="11" text-anchor="middle">'
            f'seconds from the start of the first quiet phase</text>\n</svg>\n')
