"""The detail plots' helpers: thinning keeps peaks, plotext's ANSI output
becomes strips of exactly the widget's width with its colours."""

from __future__ import annotations

from wlmtui.ui.panels.detail import ansi_strips, thin


def test_thinning_keeps_each_buckets_peak_and_the_last_time():
    points = [(float(i), 1.0) for i in range(100)]
    points[37] = (37.0, 9.0)
    out = thin(points, 10)
    assert len(out) == 10
    assert max(y for _, y in out) == 9.0  # a one-point spike survives
    assert out[-1][0] == 99.0
    assert thin(points[:5], 10) == points[:5]  # nothing to thin


def test_ansi_output_becomes_strips_of_the_given_width_with_colours():
    text = "\x1b[38;2;255;0;0mab\x1b[0mcd\n\x1b[1;38;5;2mxy\x1b[0m"
    strips = ansi_strips(text, 6)
    assert [s.cell_length for s in strips] == [6, 6]
    first = list(strips[0])
    assert first[0].text == "ab" and first[0].style.color.triplet == (255, 0, 0)
    assert first[1].text == "cd" and first[1].style.color is None
    second = list(strips[1])
    assert second[0].text == "xy" and second[0].style.bold and second[0].style.color.number == 2
