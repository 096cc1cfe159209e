"""A DataTable that redraws only the cells whose content changed.

Textual's DataTable forgets every rendered cell on any ``update_cell``
(its cell cache is keyed by a global update counter), so a table whose
every row changes a little each tick re-renders all visible cells every
second. This subclass remembers rendered cells and row lines by their
*content* as well, and applies a batch of cell updates with a single refresh. Both hooks fall
back to plain DataTable behaviour if its internals ever change.
"""

from __future__ import annotations

from typing import Hashable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable


class ContentTable(DataTable):
    def __init__(self, **kw):
        super().__init__(**kw)
        self._content_cache: LRUCache[tuple, object] = LRUCache(4096)
        self._row_cache: LRUCache[tuple, object] = LRUCache(512)
        #: (row key, column key) -> what the cell shows, as a hashable token
        self.tokens: dict[tuple[str, str], Hashable] = {}

    def clear_render_cache(self) -> None:
        self._content_cache.clear()
        self._row_cache.clear()

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
                data[self._row_key(row)][self._column_key(column)] = value
            except KeyError:
                self.update_cell(row, column, value)  # raises CellDoesNotExist, as it should
                continue
            changed = True
        if changed:
            self._update_count += 1
            self.refresh()

    def _row_key(self, row: str):
        from textual.widgets.data_table import RowKey

        return RowKey(row)

    def _column_key(self, column: str):
        from textual.widgets.data_table import ColumnKey

        return ColumnKey(column)

    def _render_cell(self, row_index: int, column_index: int, base_style, width: int,
                     cursor: bool = False, hover: bool = False):
        token = None
        if column_index >= 0:
            try:
                column_key = self._column_locations.get_key(column_index).value
                if row_index == -1:
                    token = ("header", column_key, str(self.columns[self._column_key(column_key)].label))
                else:
                    token = self.tokens.get((self._row_locations.get_key(row_index).value, column_key))
            except (AttributeError, KeyError, TypeError):
                token = None
        if token is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (row_index, column_index, token, base_style, width, cursor, hover, self.show_cursor,
               getattr(self, "_show_hover_cursor", None), getattr(self, "_pseudo_class_state", None),
               self.app.theme)
        lines = self._content_cache.get(key)
        if lines is None:
            lines = self._plain_cell(row_index, column_index, base_style, width, cursor, hover)
            if lines is None:
                lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._content_cache[key] = lines
        return lines

    def _plain_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                    cursor: bool, hover: bool):
        """A one-line Text cell drawn straight to segments (what DataTable does
        through Rich's Padding and Styled, at a third of the cost); ``None`` when
        the cell is anything else."""
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return None
        try:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            if self.rows[row_key].height != 1:
                return None
            cell = self._data[row_key][column_key]
            if not isinstance(cell, Text) or not cell.no_wrap or "\n" in cell.plain:
                return None
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        except (AttributeError, KeyError, TypeError):
            return None
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        text = cell.copy()
        text.truncate(inner, overflow=cell.overflow or "ellipsis")
        gap = inner - text.cell_len
        if gap > 0:
            if cell.justify == "right":
                text.pad_left(gap)
            elif cell.justify == "center":
                text.pad_left(gap // 2)
                text.pad_right(gap - gap // 2)
            else:
                text.pad_right(gap)
        console = self.app.console
        segments = [Segment(" " * pad)] if pad else []
        body = text.render(console, end="")  # spans only: the base style is ours to apply
        segments += Segment.apply_style(body, console.get_style(text.style)) if text.style else body
        if pad:
            segments.append(Segment(" " * pad))
        return [list(Segment.apply_style(segments, pre_style, post_style))]

    def _render_line_in_row(self, row_key, line_no: int, base_style, cursor_location, hover_location):
        """Rows whose cells did not change come from a cache keyed by content."""
        try:
            header = row_key is self._header_row_key
            row_index = -1 if header else self._row_locations.get(row_key)
            columns = [c.key.value for c in self.ordered_columns]
            if header:
                content = tuple(str(c.label) for c in self.ordered_columns)
            else:
                content = tuple(self.tokens.get((row_key.value, col)) for col in columns)
                if any(token is None for token in content):
                    raise KeyError(row_key)
            key = (row_key.value if not header else "\0header", row_index, line_no, content, base_style,
                   cursor_location.row == row_index, hover_location.row == row_index,
                   cursor_location.column if self.cursor_type in ("cell", "column") else None,
                   self.cursor_type, self.show_cursor, getattr(self, "_show_hover_cursor", None),
                   getattr(self, "_pseudo_class_state", None), self.app.theme,
                   tuple(c.get_render_width(self) for c in self.ordered_columns))
        except (AttributeError, KeyError, TypeError):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        lines = self._row_cache.get(key)
        if lines is None:
            lines = super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
            self._row_cache[key] = lines
        return lines
