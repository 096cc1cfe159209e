"""``?``: every key (as remapped), what the colours mean, where config lives."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from wlmtui.ui.keymap import keymap_path
from wlmtui.ui import fmt
from wlmtui.ui.style import signal_style, status_colour, var
from wlmtui.ui.themes import user_theme_dir


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="wlmtui.modal.close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]], readonly: bool = False):
        """``rows``: (keys as shown, description, binding id)."""
        super().__init__(classes="wlm-modal")
        self.rows = rows
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="help-dialog") as box:
            box.border_title = "wlmtui — help"
            box.border_subtitle = "esc closes"
            with VerticalScroll(id="help-scroll"):
                yield Static(self._keys(), id="help-keys")
                yield Static(self._legend(), id="help-legend")
                yield Static(self._config(), id="help-config", markup=False)

    def _keys(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1), expand=False)
        table.add_column("Key", no_wrap=True)
        table.add_column("Action")
        table.add_column("Binding id", style="dim", no_wrap=True)
        for keys, description, bid in self.rows:
            table.add_row(Text(keys, style="bold"), description, bid)
        if self.readonly:
            table.add_row("", Text("read-only console: editing actions are off", style="italic"), "")
        return table

    def _legend(self) -> Text:
        app = self.app
        out = Text("\n")
        out.append("Performance index (PI): ", style="bold")
        out.append("1.00 is exactly on goal. ")
        for status, words in (("missing", "MISS above 1 + deadband"), ("meeting", "meet on goal"),
                              ("beating", "beat below 1 − deadband"), ("idle", "idle: nothing to judge")):
            out.append(f"■ {words}  ", style=status_colour(app, status))
        out.append("\nWeight: ▲ raised / ▼ lowered this tick, ◆ pinned by the operator; "
                   "min‥max shows where the weight sits between its bounds (log scale).\n")
        out.append("Token signals: ", style="bold")
        for sig, words in (("green", "go"), ("yellow", "skip non-essential calls"), ("red", "budget spent: wait"),
                           ("black", "emergency stop")):
            out.append("●", style=signal_style(app, sig))
            out.append(f" {sig}: {words}  ")
        out.append("\nController terms: error = ln(PI) outside the deadband; P = Kp·Δerror; I = Ki·error·dt; "
                   "step = the applied change of ln(weight).")
        out.append("\nSrc", style="bold")
        out.append(" (where the PI comes from): " + "  ".join(f"{tag} {words}" for tag, words in fmt.SOURCE_WORDS.items())
                   + ".")
        out.append("\nDelay", style="bold")
        out.append(": each resource's share of the class's stall time, biggest first (cpu, mem, io). ")
        out.append("Yellow when memory or I/O dominate: weights cannot fix those waits.", style=var(app, "wlm-yellow"))
        out.append("\nResponse times", style="bold")
        out.append(": completions per z/OS bucket in % of the goal (bars on a square-root scale); the underlined "
                   "bucket holds the goal's percentile, and its edge is the PI.")
        out.append("\nProcesses", style="bold")
        out.append(" (p): ◆ placed by hand (sticky: the rules leave it alone); a yellow class: the rules would move it.")
        return out

    def _config(self) -> str:
        return (f"\nRemap keys in {keymap_path()} (binding id: key, e.g. 'edit: E'; the 'wlmtui.' prefix may be "
                f"left out). Extra themes: {user_theme_dir()}/*.yaml. Switch theme with t or the palette "
                f"(ctrl+p), start with --theme NAME.")

    def action_close(self) -> None:
        self.dismiss(None)
