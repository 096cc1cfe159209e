"""Token signals: a lamp per token class, used of budget, burn rate,
projected use and exhaustion, and time to the window's reset.

The token subsystem's status objects are read defensively (``getattr`` with
the names the design and the original wlmd signal file use), so this panel
draws whatever fields exist and an empty mapping.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from wlmtui.ui import fmt
from wlmtui.ui.panels.table import ContentTable
from wlmtui.ui.style import signal_style

COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("lamp", "", 1, False),
    ("name", "Class", 10, False),
    ("signal", "Signal", 6, False),
    ("used", "Used/budget", 11, True),
    ("rate", "Rate", 8, True),
    ("exhausts", "Exhausts", 8, True),
    ("resets", "Resets", 6, True),
    ("bar", "", 6, False),
    ("projected", "Projected", 11, True),
)


def pick(status: Any, *names: str) -> Any:
    """The first attribute (or mapping key) of ``status`` that exists and is not None."""
    for name in names:
        value = status.get(name) if isinstance(status, Mapping) else getattr(status, name, None)
        if value is not None:
            return value
    return None


def _has_any(status: Any, names: tuple[str, ...]) -> bool:
    if isinstance(status, Mapping):
        return any(n in status for n in names)
    return any(hasattr(status, n) for n in names)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return None


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return _number(value)


def _seconds_text(value: Any, now: float) -> str:
    """A duration from seconds, an epoch, a datetime or an already formatted string."""
    if isinstance(value, str) and _epoch(value) is None:
        return value.removeprefix("in ")
    if isinstance(value, datetime) or isinstance(value, str):
        at = _epoch(value)
        return fmt.duration(None if at is None else at - now)
    n = _number(value)
    if n is None:
        return "-"
    return fmt.duration(n - now if n > 1e9 else n)


def token_cells(name: str, status: Any, now: float) -> dict[str, tuple[str, str]]:
    """Text and a style key for each column of one token class."""
    signal = str(pick(status, "signal") or "?").lower()
    consumed = _number(pick(status, "consumed", "used", "tokens"))
    budget = _number(pick(status, "budget", "budget_total", "total"))
    remaining = _number(pick(status, "remaining", "budget_remaining"))
    if consumed is None and budget is not None and remaining is not None:
        consumed = budget - remaining
    if remaining is None and consumed is not None and budget is not None:
        remaining = budget - consumed
    rate = _number(pick(status, "rate_per_min", "rate", "consumption_rate", "burn_rate"))
    projected = _number(pick(status, "projected", "projected_consumption"))
    frac = consumed / budget if consumed is not None and budget else None
    reset_raw = pick(status, "window_end", "window_resets_at", "resets_at", "window_reset")
    reset_in = None
    if reset_raw is not None:
        resets = _seconds_text(reset_raw, now)
        at = _epoch(reset_raw)
        reset_in = None if at is None else at - now
    else:
        wr = pick(status, "window_remaining", "window_remaining_s")
        resets = "-" if wr is None else _seconds_text(wr, now)
        reset_in = _number(wr)
    exhaust_names = ("exhaustion_in", "exhausts_in", "exhaustion_s", "projected_exhaustion", "exhaustion_at")
    exhaust_raw = pick(status, *exhaust_names)
    if exhaust_raw is not None:
        exhausts = _seconds_text(exhaust_raw, now)
    elif _has_any(status, exhaust_names):
        exhausts = "-"  # the ledger says: not within this window
    elif rate and remaining is not None and rate > 0:
        seconds = max(0.0, remaining) / rate * 60.0
        exhausts = "-" if reset_in is not None and seconds > reset_in else fmt.duration(seconds)
    else:
        exhausts = "-"
    filled = 0 if frac is None else max(0, min(6, int(round(frac * 6))))
    return {
        "lamp": ("●", f"signal:{signal}"),
        "name": (name, "bold"),
        "signal": (signal, f"signal:{signal}"),
        "used": (f"{fmt.count(consumed)}/{fmt.count(budget)}", ""),
        "bar": ("█" * filled + "░" * (6 - filled) if frac is not None else "", f"signal:{signal}"),
        "rate": (f"{fmt.count(rate)}/min" if rate is not None else "-", ""),
        "projected": ((fmt.count(projected) + (f" {projected / budget:4.0%}" if budget else "")) if projected is not None else "-", ""),
        "exhausts": (exhausts, ""),
        "resets": (resets, ""),
    }


class TokenTable(ContentTable):
    """Shows its cursor only while focused, so the lamps keep their colours."""

    def on_focus(self) -> None:
        self.show_cursor = True

    def on_blur(self) -> None:
        self.show_cursor = False


class TokenPanel(Vertical):
    DEFAULT_CSS = """
    TokenPanel { height: 1fr; }
    TokenPanel #tokens-empty { height: auto; color: $text-muted; padding: 0 1; }
    TokenPanel DataTable { height: 1fr; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._cells: dict[str, dict[str, tuple[str, str]]] = {}
        self.border_title = "Token budgets"

    def compose(self) -> ComposeResult:
        yield Static("No token classes report yet.", id="tokens-empty")
        yield TokenTable(id="tokens-table", cursor_type="row", show_cursor=False)

    def on_mount(self) -> None:
        table = self.table
        for key, label, width, right in COLUMNS:
            table.add_column(Text(label, justify="right" if right else "left"), width=width, key=key)
        table.display = False

    @property
    def table(self) -> TokenTable:
        return self.query_one("#tokens-table", TokenTable)

    def restyle(self) -> None:
        self._cells = {name: {} for name in self._cells}
        self.table.clear_render_cache()

    def _styled(self, key: str, text: str, style_key: str) -> Text:
        style = style_key
        if style_key.startswith("signal:"):
            style = signal_style(self.app, style_key.split(":", 1)[1])
            if key == "signal" and style_key.endswith("black"):
                text = "BLACK"
        right = next(r for k, _, _, r in COLUMNS if k == key)
        return Text(text, style=style, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")

    def update_tokens(self, tokens: Mapping[str, Any], now: float, expected: list[str]) -> None:
        """Draw the statuses; ``expected`` names token classes still waiting for data."""
        table = self.table
        names = list(tokens) + [n for n in expected if n not in tokens]
        for gone in [n for n in self._cells if n not in names]:
            table.remove_row(gone)
            del self._cells[gone]
        updates = []
        for name in names:
            status = tokens.get(name)
            cells = token_cells(name, status, now) if status is not None else {
                **{k: ("", "") for k, *_ in COLUMNS}, "lamp": ("○", "dim"), "name": (name, "bold"),
                "signal": ("wait", "dim")}
            old = self._cells.get(name)
            if old is None:
                table.tokens.update({(name, k): v for k, v in cells.items()})
                table.add_row(*(self._styled(k, *cells[k]) for k, *_ in COLUMNS), key=name)
                self._cells[name] = cells
                continue
            for key, value in cells.items():
                if old.get(key) != value:
                    updates.append((name, key, self._styled(key, *value), value))
                    old[key] = value
        table.update_cells(updates)
        has_rows = bool(names)
        if table.display != has_rows:
            table.display = has_rows
            self.query_one("#tokens-empty", Static).display = not has_rows
        if not has_rows:
            self.query_one("#tokens-empty", Static).update(
                "No token classes in this policy." if not expected else "Waiting for token data…")
