"""Service classes: one row per class, updated in place.

Rows are keyed by class name and cells are changed with ``update_cell`` only
when their text changed, so the table never flickers and the cursor stays
on the class the operator selected.

Below :data:`COMPACT_WIDTH` columns the table keeps only the columns that
fit, by :data:`PRIORITY` (no horizontal scrolling); the Procs column exists
only when the snapshot carries a process classifier's report.
"""

from __future__ import annotations

from rich.text import Text

from wlmtui.engine import ClassDecision
from wlmtui.policy import Policy
from wlmtui.snapshot import Snapshot
from wlmtui.ui import fmt
from wlmtui.ui.panels.table import ContentTable
from wlmtui.ui.style import status_colour, var

# key, label, width, right-aligned
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("name", "Class", 12, False),
    ("imp", "Imp", 3, True),
    ("pi", "PI", 5, True),
    ("src", "Src", 4, False),
    ("status", "Status", 6, False),
    ("delay", "Delay", 12, False),
    ("weight", "Weight", 7, True),
    ("range", "min‥max", 8, False),
    ("measured", "Measured", 11, True),
    ("goal", "Goal", 18, False),
    ("stall", "Stall", 6, True),
    ("usage", "Usage", 6, True),
    ("procs", "Procs", 5, True),
    ("err", "Error", 7, True),
    ("p", "P", 7, True),
    ("i", "I", 7, True),
    ("step", "Step", 7, True),
    ("reason", "Reason", 56, False),
)
WIDTHS = {key: width for key, _, width, _ in COLUMNS}
#: which columns a narrow table keeps first
PRIORITY = ("name", "pi", "status", "src", "weight", "delay", "measured", "procs", "imp", "goal", "range",
            "stall", "usage", "err", "p", "i", "step", "reason")
#: below this width the table drops the columns that do not fit
COMPACT_WIDTH = 110
#: a class whose stall (cpu + memory + io) is below this has no delay worth a colour
DELAY_QUIET = 0.005


def visible_columns(width: int, procs: bool, compact: bool) -> tuple[str, ...]:
    """The columns to show, in table order: all of them, or (compact) those
    that fit ``width`` cells, by :data:`PRIORITY`."""
    keys = [key for key, *_ in COLUMNS if procs or key != "procs"]
    if not compact:
        return tuple(keys)
    chosen, used = set(), 0
    for key in PRIORITY:
        if key not in keys:
            continue
        need = WIDTHS[key] + 2  # cell padding
        if used + need <= width:
            chosen.add(key)
            used += need
    return tuple(k for k in keys if k in chosen)


def delay_cell(c: ClassDecision) -> tuple[str, str]:
    """``cpu 80 io 20`` and a style key: quiet (hardly stalled), cpu (weights
    can help) or other (mostly memory / I/O: weights cannot fix it)."""
    m = c.measure
    if m is None or not m.present:
        return "-", ""
    cpu, mem, io = m.cpu_stall, m.mem_stall, m.io_stall
    total = cpu + mem + io
    if total <= 0:
        return "-", ""
    if total < DELAY_QUIET:
        kind = "delay-quiet"
    elif cpu >= 0.5 * total:
        kind = "delay-cpu"
    else:
        kind = "delay-other-missing" if c.status == "missing" else "delay-other"
    return fmt.delay_of(cpu, mem, io, WIDTHS["delay"]), kind


def procs_cell(counts: dict | None, name: str) -> tuple[str, str]:
    if counts is None:
        return "", ""
    cc = counts.get(name)
    if cc is None:
        return "", ""
    if not getattr(cc, "present", True):
        return "?", "absent"
    return str(cc.count), ""


def row_cells(c: ClassDecision, policy: Policy, counts: dict | None = None) -> dict[str, tuple[str, str]]:
    """Plain text and a style key per column (style keys: a status, or '')."""
    cls = policy.get(c.name)
    m = c.measure
    t = c.terms
    if c.weight is None:
        weight = "-"
    else:
        arrow = "▲" if c.changed and c.weight > (c.old_weight or 0) else "▼" if c.changed else " "
        weight = f"{c.weight}{'◆' if c.pinned else arrow}"
    has_terms = cls is not None and cls.has_cgroup and not cls.is_token and t.held not in ("idle", "cgroup missing", "token class", "no cgroup")
    present = m is not None and m.present
    return {
        "name": (c.name, "name"),
        "imp": (str(c.importance), ""),
        "pi": (fmt.pi(c.pi), c.status),
        "src": (fmt.source_tag(c.perf.source), "psi" if c.perf.source == "psi-proxy" else ""),
        "status": (fmt.STATUS_SHORT.get(c.status, c.status), c.status),
        "delay": delay_cell(c),
        "weight": (weight, "pinned" if c.pinned else ""),
        "range": (fmt.gauge(c.weight, cls.min_weight, cls.max_weight, 8) if cls is not None and c.weight is not None else "", ""),
        "measured": (fmt.measured(c.goal_type, c.perf.source, c.perf.measured), ""),
        "goal": (c.goal, ""),
        "stall": (fmt.pct(m.cpu_stall) if present else "-", ""),
        "usage": (f"{m.usage:.2f}c" if present else "-", ""),
        "procs": procs_cell(counts, c.name),
        "err": (fmt.signed(t.error) if has_terms else "-", ""),
        "p": (fmt.signed(t.p) if has_terms else "-", ""),
        "i": (fmt.signed(t.i) if has_terms else "-", ""),
        "step": (fmt.signed(t.step) if has_terms else "-", ""),
        "reason": (c.reason, ""),
    }


class ClassTable(ContentTable):
    DEFAULT_CSS = """
    ClassTable { height: 1fr; }
    """

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._cells: dict[str, dict[str, tuple[str, str]]] = {}
        self._right = {key for key, _, _, right in COLUMNS if right}
        self._labels = {key: (label, right) for key, label, _, right in COLUMNS}
        self._order: list[str] = []  # row keys in table order
        self.border_title = "Service classes"
        self.shown: tuple[str, ...] = visible_columns(0, False, False)
        self._fit_args: tuple[int, bool, bool] = (0, False, False)
        self._counts: tuple[object, dict | None] = (None, None)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key in self.shown:
            label, right = self._labels[key]
            self.add_column(Text(label, justify="right" if right else "left"), width=WIDTHS[key], key=key)

    @property
    def scrolls_x(self) -> bool:
        """Whether the shown columns are wider than the table (a horizontal scrollbar)."""
        width = self._fit_args[0]
        return not self._fit_args[2] or sum(WIDTHS[k] + 2 for k in self.shown) > width

    def fit(self, width: int, procs: bool, compact: bool) -> bool:
        """Choose the columns for a table ``width`` cells wide; rebuild when they change."""
        args = (width, procs, compact)
        if args == self._fit_args:
            return False
        self._fit_args = args
        shown = visible_columns(width, procs, compact)
        if shown == self.shown:
            return False
        self.shown = shown
        if not self.is_mounted:
            return True
        selected = self.selected_name
        self.clear(columns=True)
        self.tokens.clear()
        self.clear_render_cache()
        self._add_columns()
        for name in self._order:
            cells = self._cells[name]  # empty after a restyle: filled again at the next snapshot
            values = {k: cells.get(k, ("", "")) for k in shown}
            self.tokens.update({(name, k): v for k, v in values.items()})
            self.add_row(*(self._styled(k, *v) for k, v in values.items()), key=name)
        if selected is not None:
            self.select(selected)
        return True

    def _styled(self, key: str, text: str, style_key: str) -> Text:
        style = ""
        if style_key in ("missing", "meeting", "beating", "idle", "absent", "token"):
            style = status_colour(self.app, style_key)
            if style_key == "missing":
                style = f"bold {style}"
        elif style_key == "name":
            style = "bold"
        elif style_key == "pinned":
            style = f"bold {var(self.app, 'accent')}"
        elif style_key == "psi":
            style = f"italic {var(self.app, 'wlm-yellow')}"
        elif style_key == "delay-quiet":
            style = "dim"
        elif style_key == "delay-other":
            style = var(self.app, "wlm-yellow")
        elif style_key == "delay-other-missing":
            style = f"bold {var(self.app, 'wlm-yellow')}"
        return Text(text, style=style, justify="right" if key in self._right else "left", no_wrap=True,
                    overflow="ellipsis")

    def restyle(self) -> None:
        """Theme changed: draw every cell again with the new colours."""
        self._cells = {name: {} for name in self._cells}
        self.clear_render_cache()

    def _process_counts(self, snap: Snapshot) -> dict | None:
        report = snap.classify
        if report is None:
            return None
        if self._counts[0] is not report:
            self._counts = (report, {cc.name: cc for cc in report.classes})
        return self._counts[1]

    def update_snapshot(self, snap: Snapshot) -> None:
        names = {c.name for c in snap.decision.classes}
        for name in [n for n in self._cells if n not in names]:
            self.remove_row(name)
            del self._cells[name]
            self._order.remove(name)
        counts = self._process_counts(snap)
        shown = self.shown
        updates = []
        for c in snap.decision.classes:
            cells = row_cells(c, snap.policy, counts)
            old = self._cells.get(c.name)
            if old is None:
                self.tokens.update({(c.name, k): cells[k] for k in shown})
                self.add_row(*(self._styled(k, *cells[k]) for k in shown), key=c.name)
                self._cells[c.name] = cells
                self._order.append(c.name)
                continue
            for key in shown:
                value = cells[key]
                if old.get(key) != value:
                    updates.append((c.name, key, self._styled(key, *value), value))
            old.update(cells)
        self.update_cells(updates)

    @property
    def selected_name(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def select(self, name: str) -> None:
        if name in self._cells:
            self.move_cursor(row=self.get_row_index(name))
