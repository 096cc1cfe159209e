"""The processes view (``p``): every process the classifier placed or would
place, its class, the rule that matched and where that rule is written.

Fed from the snapshots' :class:`~wlmtui.classify.ClassifyReport` (the view
draws only while it is shown). ``c`` or ``enter`` moves the selected process
to another class through a small modal, which sends
:class:`~wlmtui.classify.commands.MoveProcess` to the loop; refused in a
read-only console. ``s`` changes the order (CPU first by default), ``/``
filters.
"""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from wlmtui.ui.panels.table import ContentTable
from wlmtui.ui.style import status_colour, var

#: orders the view offers, in the order ``s`` cycles through them
SORTS = ("cpu", "pid", "class", "command")
SORT_TITLES = {"cpu": "CPU, busiest first", "pid": "PID", "class": "class, then CPU", "command": "command"}
#: at most this many rows (the busiest, in the order chosen); the filter finds the rest
MAX_ROWS = 250
NO_CLASSIFIER = "no process classifier on this backend"
#: cell Texts kept for reuse
TEXT_CACHE = 20_000

# key, label, width (command: the rest), right-aligned
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("pid", "PID", 7, True),
    ("cpu", "CPU", 6, True),
    ("cls", "Class", 13, False),
    ("command", "Command", 0, False),
    ("rule", "Rule", 22, False),
    ("state", "State", 14, False),
    ("where", "Where", 20, False),
)
COMMAND_WIDTH = (20, 70)


def process_key(p) -> str:
    return f"{p.pid}:{p.start}"


def command_text(p) -> str:
    """The command line, or the executable when it has none (kernel-ish or unreadable)."""
    return p.cmdline or p.exe or "?"


def _cpu_key(p) -> float:
    return -(p.cpu if p.cpu is not None else -1.0)


def process_rows(processes: Iterable, sort: str = "cpu", query: str = "") -> list:
    """The processes to list: those matching ``query`` (any words, case-insensitive,
    in pid, command, class, rule or state), in the ``sort`` order."""
    rows = list(processes)
    words = query.lower().split()
    if words:
        def hay(p) -> str:
            return f"{p.pid} {p.exe} {p.cmdline} {p.cls or ''} {p.want or ''} {p.rule or ''} {p.state}".lower()

        rows = [p for p in rows if all(w in hay(p) for w in words)]
    if sort == "pid":
        rows.sort(key=lambda p: p.pid)
    elif sort == "class":
        rows.sort(key=lambda p: (p.cls is None, p.cls or "", _cpu_key(p), p.pid))
    elif sort == "command":
        rows.sort(key=lambda p: (command_text(p).lower(), p.pid))
    else:
        rows.sort(key=lambda p: (_cpu_key(p), p.pid))
    return rows


def process_cells(p) -> dict[str, tuple[str, str]]:
    """Plain text and a style key per column."""
    cls = p.cls or "-"
    if p.sticky:
        cls += " ◆"
    style = "name" if p.cls else "dim"
    state = p.state or ""
    state_style = "failed" if state.startswith("failed") else "dim" if state.startswith(("no rule", "excluded")) else ""
    if p.want and p.want != p.cls:
        style = "moving"
        if p.want not in state:
            state = f"{state} → {p.want}" if state else f"→ {p.want}"
        state_style = "moving"
    return {
        "pid": (str(p.pid), ""),
        "cpu": ("-" if p.cpu is None else f"{p.cpu:.2f}", "busy" if p.cpu is not None and p.cpu >= 0.5 else ""),
        "cls": (cls, style),
        "command": (command_text(p), ""),
        "rule": (p.rule or "-", "" if p.rule else "dim"),
        "state": (state, state_style),
        "where": (p.where or "-", "dim"),
    }


def describe_process(p) -> Text:
    """Two lines about the highlighted process: what it is, and why it is where it is."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"pid {p.pid}", style="bold")
    out.append(f"  {p.exe or '?'}", style="bold")
    if p.cmdline:
        out.append(f"  {p.cmdline}")
    out.append("\n")
    out.append(f"in {p.cls}" if p.cls else "in none of the classes")
    if p.sticky:
        out.append(" — placed by hand (sticky: the rules leave it alone; c releases it)")
    elif p.rule:
        out.append(f" — rule {p.rule}" + (f" at {p.where}" if p.where else ""))
        if p.want and p.want != p.cls:
            out.append(f", which puts it in {p.want}")
    else:
        out.append(" — no rule matches it")
    out.append(f"  · {p.state}" if p.state else "", style="dim")
    out.append(f"  · cpu {p.cpu:.2f} cores" if p.cpu is not None else "", style="dim")
    return out


class ProcessTable(ContentTable):
    """Rows are keyed by position, so a new order (CPU changes every tick) is a
    batch of cell updates, never a rebuild; the cursor follows its process."""

    DEFAULT_CSS = "ProcessTable { height: 1fr; }"

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.procs: list = []  # the process on each row
        self._cells: list[dict[str, tuple[str, str]]] = []
        self.command_width = COMMAND_WIDTH[0]
        self._right = {key for key, _, _, right in COLUMNS if right}
        self._order = [key for key, *_ in COLUMNS]
        self._texts: dict[tuple, Text] = {}

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, label, width, right in COLUMNS:
            self.add_column(Text(label, justify="right" if right else "left"),
                            width=width or self.command_width, key=key)

    def set_width(self, width: int) -> None:
        """Give the command column what the terminal leaves it."""
        # pid, cpu, class, command and rule fill the screen; state and where may need scrolling
        fixed = sum(w + 2 for key, _, w, _ in COLUMNS if key in ("pid", "cpu", "cls", "rule")) + 2 + 4
        command = max(COMMAND_WIDTH[0], min(COMMAND_WIDTH[1], width - fixed))
        if command == self.command_width:
            return
        self.command_width = command
        if self.is_mounted:
            procs, row = self.procs, self.cursor_row
            self.clear(columns=True)
            self._add_columns()
            self.procs, self._cells = [], []
            self.tokens.clear()
            self.clear_render_cache()
            self.show_rows(procs)
            if self.row_count:
                self.move_cursor(row=min(row, self.row_count - 1), animate=False)

    def _styled(self, key: str, text: str, style_key: str) -> Text:
        """A cell's Text, shared between rows (a new order moves the same values
        around; DataTable never changes a cell it was given)."""
        ck = (key, text, style_key, self.app.theme)
        cell = self._texts.get(ck)
        if cell is None:
            if len(self._texts) > TEXT_CACHE:
                self._texts.clear()
            cell = self._texts[ck] = self._make(key, text, style_key)
        return cell

    def _make(self, key: str, text: str, style_key: str) -> Text:
        style = ""
        if style_key == "name":
            style = "bold"
        elif style_key == "dim":
            style = "dim"
        elif style_key == "moving":
            style = f"bold {var(self.app, 'wlm-yellow')}"
        elif style_key == "failed":
            style = status_colour(self.app, "missing")
        elif style_key == "busy":
            style = f"bold {var(self.app, 'wlm-beating')}"
        return Text(text, style=style, justify="right" if key in self._right else "left", no_wrap=True,
                    overflow="ellipsis")

    def restyle(self) -> None:
        """Theme changed: every cell is drawn again at the next update."""
        self._cells = [{} for _ in self._cells]
        self.clear_render_cache()

    @property
    def selected_process(self):
        row = self.cursor_row
        return self.procs[row] if self.row_count and 0 <= row < len(self.procs) else None

    @property
    def selected_key(self) -> str | None:
        p = self.selected_process
        return process_key(p) if p is not None else None

    def show_rows(self, rows: list) -> None:
        """List ``rows`` in this order; the cursor stays on its process while it is listed."""
        selected = self.selected_key
        order = self._order
        updates = []
        for i, p in enumerate(rows):
            cells = process_cells(p)
            key = str(i)
            if i >= len(self._cells):
                self._cells.append(cells)
                self.tokens.update({(key, col): cells[col] for col in order})
                self.add_row(*(self._styled(col, *cells[col]) for col in order), key=key)
                continue
            old = self._cells[i]
            if old != cells:
                for col in order:
                    if old.get(col) != cells[col]:
                        updates.append((key, col, self._styled(col, *cells[col]), cells[col]))
                self._cells[i] = cells
        for i in range(len(self._cells) - 1, len(rows) - 1, -1):
            self.remove_row(str(i))
            del self._cells[i]
            for col in order:
                self.tokens.pop((str(i), col), None)
        self.procs = list(rows)
        self.update_cells(updates)
        if selected is not None and rows:
            at = next((i for i, p in enumerate(rows) if process_key(p) == selected), None)
            if at is not None and at != self.cursor_row:
                self.move_cursor(row=at, animate=False)


class ProcessScreen(Screen[None]):
    """The processes view; the app feeds it with :meth:`update_snapshot`."""

    DEFAULT_CSS = """
    ProcessScreen { layout: vertical; }
    ProcessScreen #procs-box { height: 1fr; border: round $primary; border-title-color: $primary;
                               border-title-style: bold; }
    ProcessScreen #procs-summary { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ProcessScreen #procs-empty { padding: 1 2; color: $text-muted; display: none; }
    ProcessScreen #procs-filter-row { display: none; height: 1; }
    ProcessScreen #procs-filter-row.-shown { display: block; }
    ProcessScreen #procs-filter-label { width: auto; padding: 0 1; color: $text-muted; }
    ProcessScreen #procs-filter { width: 1fr; height: 1; border: none; background: $boost; }
    ProcessScreen #procs-detail { height: 2; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ProcessScreen.-empty #procs-empty { display: block; }
    ProcessScreen.-empty ProcessTable, ProcessScreen.-empty #procs-detail { display: none; }
    """

    BINDINGS = [
        Binding("p", "close", "Back", id="wlmtui.processes", tooltip="Back to the service classes"),
        Binding("escape", "close", "Back", show=False),
        Binding("c", "move", "Move", id="wlmtui.move-process", tooltip="Move the process to another class"),
        Binding("s", "sort", "Sort", id="wlmtui.sort-processes", tooltip="Change the order"),
        Binding("slash", "filter", "Filter", id="wlmtui.filter-processes", tooltip="Show only matching processes"),
    ]

    #: what the screen's own keys are called in the help screen
    ACTION_TITLES = {
        "move": ("Move process to another class", "processes view: a sticky placement by hand, or release it"),
        "sort": ("Sort processes", "processes view: CPU, PID, class, command"),
        "filter": ("Filter processes", "processes view: by pid, command, class, rule or state"),
    }

    def __init__(self, readonly: bool = False):
        super().__init__()
        self.readonly = readonly
        self.sort = "cpu"
        self.query_text = ""
        self.report = None
        self._backend = ""
        self._drawn: tuple | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="procs-box") as box:
            box.border_title = "Processes"
            yield Static("", id="procs-summary")
            with Horizontal(id="procs-filter-row"):
                yield Label("filter /", id="procs-filter-label")
                yield Input(placeholder="pid, command, class, rule or state — enter keeps it, esc clears",
                            id="procs-filter", compact=True)
            yield Static("", id="procs-empty")
            yield ProcessTable(id="procs-table")
            yield Static("", id="procs-detail")
        yield Footer()

    def on_mount(self) -> None:
        self._fit(self.size.width)
        self.query_one(ProcessTable).focus()
        if self.app.snapshot is not None:  # type: ignore[attr-defined]
            self.update_snapshot(self.app.snapshot)  # type: ignore[attr-defined]

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        from wlmtui.ui.app import PALETTE_HINT_WIDTH

        self.query_one(ProcessTable).set_width(width)
        footer = self.query_one(Footer)
        footer.compact = width < 110
        footer.show_command_palette = width >= PALETTE_HINT_WIDTH

    # -- drawing ------------------------------------------------------------------
    def update_snapshot(self, snap) -> None:
        self.report = snap.classify
        self._backend = snap.backend_kind
        self._draw()

    def _draw(self) -> None:
        empty = self.has_class("-empty")
        self._draw_report()
        if self.has_class("-empty") != empty:
            self.refresh_bindings()

    def _draw_report(self) -> None:
        report = self.report
        summary = self.query_one("#procs-summary", Static)
        empty = self.query_one("#procs-empty", Static)
        if report is None:
            self.add_class("-empty")
            where = " (simulated host)" if self._backend == "sim" else ""
            empty.update(f"{NO_CLASSIFIER}{where}: nothing to list. Press p or esc to go back.")
            summary.update("")
            return
        if not report.detail:
            self.add_class("-empty")
            empty.update("The classifier runs without per-process detail here: only counts per class "
                         "(see the Procs column).")
        else:
            self.remove_class("-empty")
        key = (id(report), self.sort, self.query_text)
        if key != self._drawn:
            self._drawn = key
            rows = process_rows(report.processes, self.sort, self.query_text)
            shown = rows[:MAX_ROWS]
            self.query_one(ProcessTable).show_rows(shown)
            summary.update(self._summary(report, len(rows), len(shown)))
        self._show_detail()

    def restyle(self) -> None:
        self.query_one(ProcessTable).restyle()
        self._drawn = None
        if self.report is not None:
            self._draw()

    def _summary(self, report, matching: int, shown: int) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        total = len(report.processes)
        out.append(f"{total} processes", style="bold")
        if self.query_text:
            out.append(f", {matching} matching “{self.query_text}”")
        if shown < matching:
            out.append(f", the first {shown} shown")
        out.append(f"  · sorted by {SORT_TITLES[self.sort]}", style="dim")
        out.append(f"  · {report.scanned} scanned in {report.scan_ms:.1f} ms  · {report.events}", style="dim")
        if report.dry_run:
            out.append("  · DRY RUN: nothing is moved", style=f"bold {var(self.app, 'wlm-yellow')}")
        return out

    def _show_detail(self) -> None:
        p = self.query_one(ProcessTable).selected_process
        self.query_one("#procs-detail", Static).update(describe_process(p) if p is not None else "")

    @on(DataTable.RowHighlighted, "#procs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#procs-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_move()

    @on(DataTable.HeaderSelected, "#procs-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        by = {"cpu": "cpu", "pid": "pid", "cls": "class", "command": "command"}.get(str(event.column_key.value))
        if by is not None:
            self.set_sort(by)

    # -- keys ---------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "move" and self.readonly:
            return False
        if action in ("move", "sort", "filter") and self.has_class("-empty"):
            return False  # nothing listed
        return True

    def action_close(self) -> None:
        filt = self.query_one("#procs-filter", Input)
        if filt.has_focus:
            self._set_filter("")
            return
        self.dismiss(None)

    def set_sort(self, sort: str) -> None:
        self.sort = sort
        self._draw()
        self.notify(f"Processes sorted by {SORT_TITLES[sort]}.", timeout=2)

    def action_sort(self) -> None:
        self.set_sort(SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)])

    def action_filter(self) -> None:
        self.query_one("#procs-filter-row").add_class("-shown")
        self.query_one("#procs-filter", Input).focus()

    def _set_filter(self, text: str) -> None:
        filt = self.query_one("#procs-filter", Input)
        self.query_text = text.strip()
        if filt.value != text:
            filt.value = text
        self.query_one("#procs-filter-row").set_class(bool(self.query_text), "-shown")
        self.query_one(ProcessTable).focus()
        self._draw()

    @on(Input.Changed, "#procs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._draw()

    @on(Input.Submitted, "#procs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._set_filter(event.value)

    def action_move(self) -> None:
        self.app.action_move_process()  # type: ignore[attr-defined]

    @property
    def selected_process(self):
        return self.query_one(ProcessTable).selected_process
