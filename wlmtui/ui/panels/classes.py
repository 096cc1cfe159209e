"""Service classes: one row per class, updated in place.

Rows are keyed by class name and cells are changed with ``update_cell`` only
when their text changed, so the table never flickers and the cursor stays
on the class the operator selected.
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
    ("status", "Status", 6, False),
    ("weight", "Weight", 7, True),
    ("range", "min‥max", 8, False),
    ("measured", "Measured", 11, True),
    ("goal", "Goal", 18, False),
    ("stall", "Stall", 6, True),
    ("usage", "Usage", 6, True),
    ("err", "Error", 7, True),
    ("p", "P", 7, True),
    ("i", "I", 7, True),
    ("step", "Step", 7, True),
    ("reason", "Reason", 56, False),
)


def row_cells(c: ClassDecision, policy: Policy) -> dict[str, tuple[str, str]]:
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
        "status": (fmt.STATUS_SHORT.get(c.status, c.status), c.status),
        "weight": (weight, "pinned" if c.pinned else ""),
        "range": (fmt.gauge(c.weight, cls.min_weight, cls.max_weight, 8) if cls is not None and c.weight is not None else "", ""),
        "measured": (fmt.measured(c.goal_type, c.perf.source, c.perf.measured), ""),
        "goal": (c.goal, ""),
        "stall": (fmt.pct(m.cpu_stall) if present else "-", ""),
        "usage": (f"{m.usage:.2f}c" if present else "-", ""),
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
        self.border_title = "Service classes"

    def on_mount(self) -> None:
        for key, label, width, right in COLUMNS:
            self.add_column(Text(label, justify="right" if right else "left"), width=width, key=key)

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
        return Text(text, style=style, justify="right" if key in self._right else "left", no_wrap=True,
                    overflow="ellipsis")

    def restyle(self) -> None:
        """Theme changed: draw every cell again with the new colours."""
        self._cells = {name: {} for name in self._cells}
        self.clear_render_cache()

    def update_snapshot(self, snap: Snapshot) -> None:
        names = {c.name for c in snap.decision.classes}
        for name in [n for n in self._cells if n not in names]:
            self.remove_row(name)
            del self._cells[name]
        updates = []
        for c in snap.decision.classes:
            cells = row_cells(c, snap.policy)
            old = self._cells.get(c.name)
            if old is None:
                self.tokens.update({(c.name, k): v for k, v in cells.items()})
                self.add_row(*(self._styled(k, *cells[k]) for k, *_ in COLUMNS), key=c.name)
                self._cells[c.name] = cells
                continue
            for key, value in cells.items():
                if old.get(key) != value:
                    updates.append((c.name, key, self._styled(key, *value), value))
                    old[key] = value
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
