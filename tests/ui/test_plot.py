"""The braille time plots of the detail panel (pure drawing, no app)."""

from __future__ import annotations

from rich.style import Style

from wlmtui.ui.plot import buckets, draw, label, value_range, x_ticks

LINE, AXIS, REF = Style(color="red"), Style(), Style(color="grey50")


def text(xs, ys, hlines=(), width=40, height=12, xlabel="last 20s") -> list[str]:
    return [s.text for s in draw("title", xs, ys, list(hlines), width, height, LINE, AXIS, REF, xlabel)]


def canvas(lines: list[str]) -> list[str]:
    """The inside of the frame, one string per row."""
    rows = [line for line in lines if "│" in line]
    return [row[row.index("│") + 1:row.rindex("│")] for row in rows]


def test_every_row_is_as_wide_as_asked_and_the_layout_is_title_frame_ticks_label():
    xs = [float(i - 20) for i in range(21)]
    lines = text(xs, [float(i) for i in range(21)])
    assert len(lines) == 12 and all(len(line) == 40 for line in lines)
    assert lines[0].strip() == "title"
    assert "┌" in lines[1] and "└" in lines[-3]
    assert lines[-2].split() == ["-20", "-15", "-10", "-5", "0"]
    assert lines[-1].strip() == "last 20s"


def test_the_value_axis_runs_from_the_peak_down_to_the_lowest_value():
    xs = [float(i - 20) for i in range(21)]
    rows = [line for line in text(xs, [100.0 + 10 * i for i in range(21)]) if "│" in line]
    assert rows[0].split("│")[0].strip() == "300" and rows[-1].split("│")[0].strip() == "100"


def test_a_rising_series_ends_top_right_and_starts_bottom_left():
    xs = [float(i - 20) for i in range(21)]
    inside = canvas(text(xs, [float(i) for i in range(21)]))
    assert inside[0][-1] != " " and inside[0][0] == " "  # top row: dots at the right end only
    assert inside[-1][0] != " " and inside[-1][-1] == " "  # bottom row: at the left end only
    assert all(row.strip() for row in inside)  # a joined line: no empty row between the ends


def test_a_missing_value_breaks_the_line():
    xs = [float(i - 39) for i in range(40)]
    ys = [5.0] * 40
    ys[10:30] = [None] * 20
    row = next(r for r in canvas(text(xs, ys, width=46)) if r.strip())
    gap = row[row.index(" "):].strip()
    assert " " * 10 in row and gap  # dots on both sides of a blank stretch


def test_reference_lines_near_the_data_are_drawn_and_far_ones_are_not():
    assert value_range([10.0, 20.0], [30.0, 100.0]) == (10.0, 30.0, [30.0])
    lo, hi, shown = value_range([5.0, 5.0], [])
    assert lo < 5.0 < hi and shown == []
    xs = [float(i - 9) for i in range(10)]
    styles = {seg.style for strip in draw("t", xs, [1.0] * 10, [1.5], 30, 10, LINE, AXIS, REF) for seg in strip}
    assert REF in styles and LINE in styles


def test_buckets_keep_each_peak_and_mark_empty_buckets():
    xs = [float(i) for i in range(8)]
    assert buckets(xs, [1, 9, 2, 3, None, None, 4, 0], 4) == [(1.0, 9), (3.0, 3), (5.0, None), (7.0, 4)]
    assert buckets(xs[:2], [1, 2], 4) == [(0.0, 1), (1.0, 2)]


def test_labels_and_ticks_are_round():
    assert label(1683.33, 300) == "1683" and label(0.5, 0.3) == "0.50" and label(7.25, 2.5) == "7.2"
    assert label(-0.0001, 1) == "0"
    assert x_ticks(600, 60) == [0, -60, -120, -180, -240, -300, -360, -420, -480, -540, -600]
    assert x_ticks(8, 20) == [0, -2, -4, -6, -8] and x_ticks(0, 20) == [0.0]


def test_too_small_or_empty_plots_are_blank_but_sized():
    assert [s.cell_length for s in draw("t", [], [], [], 5, 3, LINE, AXIS, REF)] == [5, 5, 5]
    lines = [s.text for s in draw("t", [], [], [], 30, 6, LINE, AXIS, REF)]
    assert len(lines) == 6 and all(len(line) == 30 for line in lines)
