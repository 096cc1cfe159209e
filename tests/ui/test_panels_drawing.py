"""The drawing shortcuts of the table and the event log show what Textual's
own code would show, and follow changes."""

from __future__ import annotations

from itertools import chain

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from wlmtui.snapshot import Event
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.panels.lines import TextLines
from wlmtui.ui.panels.table import ContentTable

from .support import EPOCH

pytestmark = pytest.mark.asyncio

CELLS = [
    # text, style, justify, overflow: long text, right, centre, empty, wide characters, styles
    ("alpha", "bold", "left", "ellipsis"),
    ("1.25", "", "right", "ellipsis"),
    ("a reason far too long for its column", "italic", "left", "ellipsis"),
    ("mid", "reverse", "center", "ellipsis"),
    ("", "", "left", "ellipsis"),
    ("ＷＩＤＥ文字", "bold #ff0000", "left", "crop"),
    ("617▼", "bold #00ff00 on #000000", "right", "ellipsis"),
]
WIDTHS = [6, 5, 12, 7, 3, 6, 6]


def make_text(text: str, style: str, justify: str, overflow: str) -> Text:
    return Text(text, style=style, justify=justify, no_wrap=True, overflow=overflow)


class TableApp(App):
    def __init__(self, **table_kw):
        super().__init__()
        self.table_kw = table_kw

    def compose(self) -> ComposeResult:
        yield ContentTable(id="t", **self.table_kw)

    def on_mount(self) -> None:
        table = self.query_one(ContentTable)
        for i, width in enumerate(WIDTHS):
            table.add_column(f"c{i}", width=width, key=f"c{i}")
        for r in range(6):
            specs = [(f"{t}{r}" if t else t, s, j, o) for t, s, j, o in CELLS]
            table.tokens.update({(f"r{r}", f"c{i}"): spec for i, spec in enumerate(specs)})
            table.add_row(*(make_text(*spec) for spec in specs), key=f"r{r}")


def drawn(row) -> list[Segment]:
    """A row's cells as the segments that reach the screen (empty ones merged away)."""
    fixed, cells = row
    return list(Segment.simplify(chain.from_iterable(chain(fixed, cells))))


def plain_row(table: ContentTable, row: str) -> str:
    index = table.get_row_index(row)
    return table.render_line(index + 1).text  # the header is line 0


@pytest.mark.parametrize("kw", [{"cursor_type": "row"}, {"cursor_type": "row", "zebra_stripes": True},
                                {"cursor_type": "row", "cell_padding": 0}, {"cursor_type": "row", "show_cursor": False}])
@pytest.mark.parametrize("size", [90, 50])  # wider than the columns, and narrower (cut at the right)
async def test_fast_rows_are_the_rows_datatable_draws(kw, size):
    app = TableApp(**kw)
    async with app.run_test(size=(size, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(ContentTable)
        table.move_cursor(row=2)
        await pilot.pause()
        table._pseudo_class_state = table.get_pseudo_class_state()
        base = table.rich_style
        hover = table.hover_coordinate
        for r in range(6):
            key = table._row_locations.get_key(r)
            fast = table._fast_row(key, 0, base, table.cursor_coordinate, hover)
            assert fast is not None
            theirs = DataTable._render_line_in_row(table, key, 0, base, table.cursor_coordinate, hover)
            assert drawn(fast) == drawn(theirs), f"row {r}"
            width = table.size.width
            for x1 in (0, 3):  # as drawn, and scrolled sideways
                x2 = x1 + width
                table._line_cache.clear()
                line = table._fast_line(key, 0, x1, x2, base)
                expected = DataTable._render_line(table, r + 1, x1, x2, base)
                assert list(Segment.simplify(line)) == list(expected), f"row {r} from {x1} to {x2}"


async def test_a_changed_cell_is_drawn_again_and_an_unchanged_row_is_reused():
    app = TableApp(cursor_type="row")
    async with app.run_test(size=(90, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(ContentTable)
        before = plain_row(table, "r3")
        assert "alpha3" in before and "1.253" in before and "a reason fa…" in before
        other = table.render_line(table.get_row_index("r4") + 1)
        table.update_cells([("r3", "c1", make_text("9.99", "", "right", "ellipsis"), ("9.99",))])
        await pilot.pause()
        after = plain_row(table, "r3")
        assert "9.99" in after and "1.253" not in after and "alpha3" in after
        assert table.render_line(table.get_row_index("r4") + 1) is other  # same content: the same strip


async def test_the_header_and_other_cursors_still_draw():
    app = TableApp(cursor_type="cell")  # not the fast path: DataTable draws it
    async with app.run_test(size=(90, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(ContentTable)
        assert table._fast_row(table._row_locations.get_key(0), 0, table.rich_style, table.cursor_coordinate,
                               table.hover_coordinate) is None
        assert "c0" in table.render_line(0).text and "c6" in table.render_line(0).text
        assert "alpha1" in plain_row(table, "r1")


class LogApp(App):
    def compose(self) -> ComposeResult:
        yield EventLog(id="events")


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(EPOCH + i, "decision", f"entry {i}") for i in range(start, start + n)]


async def test_event_log_follows_new_entries_at_the_end_and_keeps_an_older_view():
    app = LogApp()
    async with app.run_test(size=(60, 8)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(events(20))
        await pilot.pause()
        assert log.count == 20 and log.plain_lines()[-1].endswith("entry 19")
        shown = [log.render_line(y).text for y in range(log.scrollable_content_region.height)]
        assert "entry 19" in shown[-1] and "14:13:39 decision" in shown[-1]
        log.add_events(events(1, 20))
        await pilot.pause()
        assert "entry 20" in log.render_line(log.scrollable_content_region.height - 1).text
        log.scroll_to(y=0, animate=False, immediate=True)
        log.add_events(events(1, 21))
        await pilot.pause()
        assert log.scroll_y == 0 and "entry 0" in log.render_line(0).text
        assert log.max_scroll_y == 22 - log.scrollable_content_region.height


async def test_event_log_keeps_the_newest_entries():
    from wlmtui.ui.panels import events as module

    app = LogApp()
    async with app.run_test(size=(60, 8)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(events(module.MAX_LINES + 5))
        await pilot.pause()
        lines = log.plain_lines()
        assert len(lines) == module.MAX_LINES and lines[0].endswith("entry 5")
        last = log.scrollable_content_region.height - 1
        assert f"entry {module.MAX_LINES + 4}" in log.render_line(last).text


class Note(TextLines):
    def __init__(self):
        super().__init__()
        self.words = "first line\nsecond line that is far too long for the panel"

    def render(self) -> Text:
        return Text(self.words, no_wrap=True, overflow="ellipsis")


class NoteApp(App):
    def compose(self) -> ComposeResult:
        yield Note()


async def test_text_lines_cut_long_lines_and_draw_again_only_when_told():
    app = NoteApp()
    async with app.run_test(size=(30, 4)) as pilot:
        note = app.query_one(Note)
        await pilot.pause()
        assert note.render_line(0).text.rstrip() == "first line"
        assert note.render_line(1).text == "second line that is far too l…"
        assert note.render_line(2).text == " " * 30
        note.words = "changed"
        assert note.render_line(0).text.rstrip() == "first line"  # not told yet: the same strips
        note.redraw()
        await pilot.pause()
        assert note.render_line(0).text.rstrip() == "changed" and note.render_line(1).text.strip() == ""


async def test_the_console_freezes_its_startup_heap_once_drawn_and_thaws_it_at_exit(tmp_path):
    import gc

    from .support import demo_app

    before = gc.get_freeze_count()
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert gc.get_freeze_count() == before  # nothing drawn yet
        app.advance(1)
        await pilot.pause()
        frozen = gc.get_freeze_count()
        assert frozen > before
        app.advance(3)
        await pilot.pause()
        assert gc.get_freeze_count() <= frozen  # not again: what the ticks made stays collectable
    assert gc.get_freeze_count() == 0
