"""A DataTable that redraws only what changed, and draws that quickly.

Textual's DataTable forgets every rendered cell and line on any
``update_cell`` (its caches are keyed by a global update counter), so a
table whose rows all change a little each tick renders every visible cell
again every second, through Rich's Padding and Styled, at a cost of tens of
microseconds per cell. This subclass

* keeps rendered cells and whole lines in caches keyed by what they *show*
  (a hashable token per cell, given with the value), so an unchanged row or
  cell costs a dictionary look-up;
* draws a changed row of one-line, single-style ``Text`` cells straight to
  segments (the same segments DataTable would produce; see
  ``tests/ui/test_panels_drawing.py``);
* applies a batch of cell updates with a single refresh.

Anything else (header, row labels, fixed columns, cell or column cursors,
multi-line or markup cells) goes through DataTable's own code, which is also
the fallback should its internals change.
"""

from __future__ import annotations

from typing import Hashable, Iterable

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

#: rendered cells and lines kept (more than a large terminal shows)
CELLS_KEPT, LINES_KEPT = 1500, 200
_INTERNALS = (AttributeError, KeyError, TypeError, IndexError, LookupError)


class ContentTable(DataTable):
    def __init__(self, **kw):
        super().__init__(**kw)
        # sized for what is on screen: every strip kept is some ten objects the garbage collector walks
        self._content_cache: LRUCache[tuple, object] = LRUCache(CELLS_KEPT)
        self._strip_cache: LRUCache[tuple, Strip] = LRUCache(LINES_KEPT)
        self._columns_at: tuple | None = None
        self._pre_styles: dict[tuple, Style] = {}
        self._pass: tuple[Style, tuple] | None = None  # (line style, view state) while drawing
        self._column_layout: tuple[tuple[tuple[int, str, int], ...], int] = ((), 0)
        #: (row key, column key) -> what the cell shows, as a hashable token
        self.tokens: dict[tuple[str, str], Hashable] = {}

    def clear_render_cache(self) -> None:
        self._content_cache.clear()
        self._strip_cache.clear()

    def update_cells(self, updates: Iterable[tuple[str, str, object, Hashable]]) -> None:
        """Set many cells (row key, column key, renderable, token); refresh once."""
        changed = False
        data = getattr(self, "_data", None)
        for row, column, value, token in updates:
            self.tokens[(row, column)] = token
            if data is None:
                self.update_cell(row, column, value)
                continue
            try:
                data[RowKey(row)][ColumnKey(column)] = value
            except KeyError:
                self.update_cell(row, column, value)  # raises CellDoesNotExist, as it should
                continue
            changed = True
        if changed:
            self._update_count += 1
            self.refresh()

    # -- what a line shows --------------------------------------------------------------
    def _columns(self) -> tuple[tuple[tuple[int, str, int], ...], int]:
        """(index, key, render width) per column in order, and their total width;
        worked out again only when the table's structure may have changed."""
        at = (self._update_count, len(self.columns), self.cell_padding)
        if at != self._columns_at:
            ordered = self.ordered_columns
            layout = tuple((i, c.key.value, c.get_render_width(self)) for i, c in enumerate(ordered))
            self._column_layout = (layout, sum(width for *_, width in layout))
            self._columns_at = at
        return self._column_layout

    def _view_state(self) -> tuple:
        """Everything besides content, position and cursor that changes how a cell looks."""
        if self._pass is not None:
            return self._pass[1]
        return (self.cursor_type, self.show_cursor, self._show_hover_cursor, self._pseudo_class_state,
                self.app.theme, self.cursor_foreground_priority, self.cursor_background_priority)

    def _line_key(self, row_key: RowKey, line_no: int, x1: int, x2: int, base_style: Style) -> tuple | None:
        columns, _ = self._columns()
        if row_key is self._header_row_key:
            row_index, name = -1, "\0header"
            content = tuple(str(self.columns[ColumnKey(key)].label) for _, key, _ in columns)
        else:
            row_index, name = self._row_locations.get(row_key), row_key.value
            get = self.tokens.get
            content = tuple(get((name, key)) for _, key, _ in columns)
            if row_index is None or None in content:
                return None
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        if self.cursor_type == "row":
            where = (cursor.row == row_index, hover.row == row_index)
        else:
            where = (cursor, hover)
        return (name, row_index, line_no, content, where, x1, x2, self.size.width, base_style,
                tuple(width for *_, width in columns), self._row_label_column_width, self._view_state())

    def render_lines(self, crop):
        """Work out the widget's style and view state once per pass, not once per line
        (Textual computes ``rich_style`` from every ancestor's styles each time)."""
        self._pass = None
        self._pseudo_class_state = self.get_pseudo_class_state()
        self._pass = (self.rich_style, self._view_state())
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        if self._pass is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        fixed = sum(self.rows[self._row_locations.get_key(i)].height for i in range(self.fixed_rows))
        if self.show_header:
            fixed += self.header_height
        if y >= fixed:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self._pass[0])

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """Lines whose row shows what it showed before come from a cache keyed by content."""
        try:
            row_key, line_no = self._get_offsets(y)
            key = self._line_key(row_key, line_no, x1, x2, base_style)
        except _INTERNALS:
            key = None
        if key is None:
            return super()._render_line(y, x1, x2, base_style)
        strip = self._strip_cache.get(key)
        if strip is None:
            try:
                strip = self._fast_line(row_key, line_no, x1, x2, base_style)
            except _INTERNALS:
                strip = None
            if strip is None:
                strip = super()._render_line(y, x1, x2, base_style)
            self._strip_cache[key] = strip
        return strip

    def _fast_line(self, row_key: RowKey, line_no: int, x1: int, x2: int, base_style: Style) -> Strip | None:
        """A changed row's line: its cells joined, cut to the view and padded (what
        DataTable's ``_render_line`` makes of them); ``None`` when the fast path does not apply."""
        row = self._fast_row(row_key, line_no, base_style, self.cursor_coordinate, self.hover_coordinate)
        if row is None:
            return None
        cells = row[1]
        if x1:
            return Strip([segment for cell in cells for segment in cell]).crop_extend(x1, x2, base_style).simplify()
        widths = [width for *_, width in self._columns()[0]]
        segments: list[Segment] = []
        pos = 0
        for cell, width in zip(cells, [*widths, None]):
            width = width if width is not None else sum(s.cell_length for s in cell)
            if pos + width > x2:
                segments.extend(Strip(cell, width).crop(0, x2 - pos))
                pos = x2
                break
            segments.extend(cell)
            pos += width
        if pos < x2:
            segments.append(Segment(" " * (x2 - pos), base_style))
        return Strip(segments, x2)  # cells come merged (see _text_cell) and differ in style (row, column)

    # -- drawing a changed row --------------------------------------------------------------
    def _render_line_in_row(self, row_key, line_no: int, base_style, cursor_location, hover_location):
        try:
            row = self._fast_row(row_key, line_no, base_style, cursor_location, hover_location)
        except _INTERNALS:
            row = None
        if row is None:
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        return row

    def _fast_row(self, row_key: RowKey, line_no: int, base_style: Style, cursor_location, hover_location):
        """What DataTable's ``_render_line_in_row`` returns, for a one-line row
        under a row cursor without labels or fixed columns; ``None`` otherwise."""
        if (row_key is self._header_row_key or line_no or self.cursor_type != "row" or self.fixed_columns
                or (self._labelled_row_exists and self.show_row_labels) or self.rows[row_key].height != 1):
            return None
        row_index = self._row_locations.get(row_key)
        if row_index is None or row_index < self.fixed_rows:
            return None
        cursor, hover = cursor_location.row == row_index, hover_location.row == row_index
        row_style = self._get_row_style(row_index, base_style)
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        css_fg, css_bg = self.cursor_foreground_priority == "css", self.cursor_background_priority == "css"
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, show_hover, css_fg, css_bg)
        state = self._view_state()
        columns, table_width = self._columns()
        data = self._data[row_key]
        name = row_key.value
        cache, get = self._content_cache, self.tokens.get
        cells = []
        for index, key, width in columns:
            token = get((name, key))
            cache_key = (row_index, index, token, row_style, width, cursor, hover, state)
            lines = cache.get(cache_key) if token is not None else None
            if lines is None:
                pre_style = self._pre_style(row_index, index, row_style, component_style)
                lines = self._text_cell(data[ColumnKey(key)], pre_style, post_style, width)
                if lines is None:
                    lines = DataTable._render_cell(self, row_index, index, row_style, width, cursor, hover)
                if token is not None:
                    cache[cache_key] = lines
            cells.append(lines[0])
        # the rest of the line, styled as DataTable extends a row
        remaining = max(0, self.size.width - table_width - self._row_label_column_width)
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover_location.row == (row_index or 0), cursor, show_cursor, show_hover,
            False, False)
        extend_style = row_style + extend_style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        cells.append([Segment(" " * remaining, extend_style)])
        return [], cells

    def _pre_style(self, row: int, column: int, row_style: Style, component_style: Style) -> Style:
        """A cell's style under its text, with the row and column DataTable's mouse
        handling reads from it: the same for every tick, so kept."""
        key = (row, column, row_style, component_style)
        style = self._pre_styles.get(key)
        if style is None:
            if len(self._pre_styles) > 8192:
                self._pre_styles.clear()
            style = self._pre_styles[key] = (
                row_style + Style.from_meta({"row": row, "column": column}) + component_style)
        return style

    def _text_cell(self, cell: object, pre_style: Style, post_style: Style, width: int):
        """A one-line ``Text`` cell of one style as segments (what DataTable draws
        through Rich's Padding and Styled); ``None`` for anything else."""
        if not isinstance(cell, Text) or cell.spans or not cell.no_wrap:
            return None
        plain = cell.plain
        if "\n" in plain:
            return None
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        overflow = cell.overflow or "ellipsis"
        length = cell_len(plain)
        if overflow != "ignore" and length > inner:
            plain = set_cell_size(plain, inner - 1) + "…" if overflow == "ellipsis" else set_cell_size(plain, inner)
            length = cell_len(plain)
        gap = inner - length
        if gap > 0:
            if cell.justify == "right":
                plain = " " * gap + plain
            elif cell.justify == "center":
                plain = " " * (gap // 2) + plain + " " * (gap - gap // 2)
            else:
                plain += " " * gap
        style = self.app.console.get_style(cell.style) if cell.style else None
        if not style or not pad:
            # one segment: the padding takes the same style as the text
            return [[Segment(" " * pad + plain + " " * pad, pre_style + style + post_style)]]
        segments = [Segment(" " * pad), Segment(plain, style), Segment(" " * pad)]
        return [list(Segment.apply_style(segments, pre_style, post_style))]

    def _render_cell(self, row_index: int, column_index: int, base_style, width: int,
                     cursor: bool = False, hover: bool = False):
        """DataTable's own cell drawing (header, fallbacks), cached by content."""
        token = None
        if column_index >= 0:
            try:
                column_key = self._column_locations.get_key(column_index).value
                if row_index == -1:
                    token = ("header", column_key, str(self.columns[ColumnKey(column_key)].label))
                else:
                    token = self.tokens.get((self._row_locations.get_key(row_index).value, column_key))
            except _INTERNALS:
                token = None
        if token is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = ("dt", row_index, column_index, token, base_style, width, cursor, hover, self._view_state())
        lines = self._content_cache.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._content_cache[key] = lines
        return lines
