"""Calendar windows: hour/day/week/month, UTC and zones, DST."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlmtui.tokens.windows import WINDOWS, iso_z, window_bounds


def utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def local(zone: str, *args, fold: int = 0) -> float:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def test_utc_hour_day():
    now = utc(2025, 11, 22, 14, 35, 10)
    assert window_bounds("hour", now) == (utc(2025, 11, 22, 14), utc(2025, 11, 22, 15))
    assert window_bounds("day", now) == (utc(2025, 11, 22), utc(2025, 11, 23))


def test_iso_week_starts_monday():
    # 2025-11-22 is a Saturday; its ISO week runs Mon 17th .. Mon 24th
    assert window_bounds("week", utc(2025, 11, 22, 9)) == (utc(2025, 11, 17), utc(2025, 11, 24))
    assert window_bounds("week", utc(2025, 11, 17)) == (utc(2025, 11, 17), utc(2025, 11, 24))
    # a week across a year boundary
    assert window_bounds("week", utc(2026, 1, 1, 12)) == (utc(2025, 12, 29), utc(2026, 1, 5))


def test_month_lengths_and_year_end():
    assert window_bounds("month", utc(2024, 2, 29, 23, 59)) == (utc(2024, 2, 1), utc(2024, 3, 1))
    assert window_bounds("month", utc(2025, 12, 31, 23, 59, 59)) == (utc(2025, 12, 1), utc(2026, 1, 1))
    assert window_bounds("month", utc(2026, 1, 1)) == (utc(2026, 1, 1), utc(2026, 2, 1))


def test_day_in_a_zone_is_local_midnight_to_midnight():
    now = local("Asia/Tokyo", 2025, 11, 22, 0, 30)
    assert window_bounds("day", now, "Asia/Tokyo") == (utc(2025, 11, 21, 15), utc(2025, 11, 22, 15))


def test_dst_spring_forward_day_is_23_hours():
    start, end = window_bounds("day", local("Europe/Berlin", 2025, 3, 30, 12), "Europe/Berlin")
    assert (start, end) == (local("Europe/Berlin", 2025, 3, 30), local("Europe/Berlin", 2025, 3, 31))
    assert end - start == 23 * 3600


def test_dst_fall_back_day_is_25_hours_and_hours_stay_3600s():
    zone = "America/New_York"
    start, end = window_bounds("day", local(zone, 2025, 11, 2, 12), zone)
    assert end - start == 25 * 3600
    first = local(zone, 2025, 11, 2, 1, 30, fold=0)  # 01:30 EDT
    second = local(zone, 2025, 11, 2, 1, 30, fold=1)  # 01:30 EST, an hour later
    a, b = window_bounds("hour", first, zone), window_bounds("hour", second, zone)
    assert a[1] == b[0] and a[1] - a[0] == 3600 and b[1] - b[0] == 3600
    assert a[0] <= first < a[1] and b[0] <= second < b[1]


def test_dst_spring_forward_hours_are_contiguous():
    zone = "Europe/Berlin"
    before = window_bounds("hour", local(zone, 2025, 3, 30, 1, 30), zone)
    after = window_bounds("hour", local(zone, 2025, 3, 30, 3, 30), zone)
    assert before[1] == after[0]


def test_month_in_a_zone_spanning_dst():
    zone = "Europe/Berlin"
    start, end = window_bounds("month", local(zone, 2025, 10, 15), zone)
    assert (start, end) == (local(zone, 2025, 10, 1), local(zone, 2025, 11, 1))
    assert end - start == 31 * 86400 + 3600  # October gains the hour given back


def test_midnight_that_does_not_exist():
    # Chile moved clocks 00:00 -> 01:00 on 2024-09-08: that day starts at the jump
    zone = "America/Santiago"
    start, end = window_bounds("day", local(zone, 2024, 9, 8, 12), zone)
    assert start == utc(2024, 9, 8, 4) and end - start == 23 * 3600


def test_unknown_window_is_refused():
    with pytest.raises(ValueError):
        window_bounds("fortnight", 0.0)


@settings(max_examples=300, deadline=None)
@given(
    now=st.floats(min_value=946684800, max_value=4102444800, allow_nan=False),
    window=st.sampled_from(WINDOWS),
    zone=st.sampled_from([None, "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_now_is_inside_and_windows_tile(now, window, zone):
    start, end = window_bounds(window, now, zone)
    assert start <= now < end
    nxt = window_bounds(window, end, zone)
    assert nxt[0] == end  # the next window starts exactly where this one ends


def test_iso_z():
    assert iso_z(utc(2025, 11, 22, 1, 2, 3)) == "2025-11-22T01:02:03Z"


def test_half_hour_zones_and_half_hour_dst_still_tile():
    kolkata = window_bounds("hour", local("Asia/Kolkata", 2025, 6, 1, 9, 40), "Asia/Kolkata")
    assert kolkata == (local("Asia/Kolkata", 2025, 6, 1, 9), local("Asia/Kolkata", 2025, 6, 1, 10))
    zone = "Australia/Lord_Howe"  # summer time starts 2025-10-05 02:00 -> 02:30
    t = local(zone, 2025, 10, 5, 0, 10)
    for _ in range(5):
        start, end = window_bounds("hour", t, zone)
        assert end - start == 3600 and window_bounds("hour", end, zone)[0] == end
        t = end
