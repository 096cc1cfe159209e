"""The replay console, driven by Pilot on a recording of the simulated demo host."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from wlmtui.cli import demo_policy
from wlmtui.record.config import RecordConfig
from wlmtui.record.replay import Recording
from wlmtui.record.store import recorded_form, write_all
from wlmtui.ui.app import WlmApp
from wlmtui.ui.panels.classes import ClassTable
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.panels.header import HeaderPanel
from wlmtui.ui.replay import JumpScreen, ReplayApp

from .support import sim_loop

SIZE = (140, 42)
TICKS = 150
pytestmark = pytest.mark.asyncio


@pytest.fixture
def recorded(tmp_path):
    policy = demo_policy(str(tmp_path / "state"))
    loop = sim_loop(policy)
    loop.prime()
    snaps = []
    for _ in range(TICKS):
        loop.clock.advance(loop.interval)
        snaps.append(loop.step())
    loop.close()
    write_all(RecordConfig(dir=str(tmp_path / "rec")), snaps)
    return Recording(str(tmp_path / "rec")), snaps


def header(app) -> str:
    return app.query_one(HeaderPanel).render().plain


def stamp(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


async def test_stepping_shows_each_recorded_tick(recorded, tmp_path):
    rec, snaps = recorded
    app = ReplayApp(rec, 60)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.snapshot == recorded_form(snaps[60])
        assert f"REPLAY {stamp(snaps[60].wall)}" in header(app)
        assert len(app.history.t) == 61  # the ticks before the cursor fed the history
        await pilot.press("full_stop")
        await pilot.pause()
        assert app.snapshot == recorded_form(snaps[61]) and len(app.history.t) == 62
        assert f"tick {snaps[61].tick}" in header(app)
        await pilot.press("comma", "comma", "comma")
        await pilot.pause()
        assert app.snapshot == recorded_form(snaps[58])
        assert len(app.history.t) == 59  # going back forgets what came after
        assert list(app.history.t)[-1] == snaps[58].wall
        table = app.query_one(ClassTable)
        want = snaps[58].decision.get("interactive").weight
        assert str(table.get_cell("interactive", "weight")).startswith(str(want))
        app.save_screenshot(str(tmp_path / "replay.svg"))


async def test_jumps_and_edges(recorded):
    rec, snaps = recorded
    app = ReplayApp(rec, 10)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.pos == 70
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert app.pos == 10
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert app.pos == TICKS - 1 and "(end)" in header(app)
        await pilot.press("right_curly_bracket")
        await pilot.pause()
        assert app.pos == TICKS - 1  # nothing past the end
        await pilot.press("less_than_sign")
        await pilot.pause()
        assert app.pos == 0


async def test_go_to_a_typed_time_and_refuse_a_bad_one(recorded):
    rec, snaps = recorded
    app = ReplayApp(rec, 0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, JumpScreen)
        field = app.screen.query_one("#field-time", Input)
        field.value = "soon"
        await pilot.pause()
        assert app.screen.query_one("#apply").disabled
        field.value = time.strftime("%H:%M:%S", time.localtime(snaps[97].wall))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, JumpScreen)
        assert app.pos == 97


async def test_play_moves_the_cursor_and_pauses(recorded):
    rec, _ = recorded
    app = ReplayApp(rec, 20)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("plus", "plus", "plus")  # x10: a tick every 0.1 s
        await pilot.press("space")
        await pilot.pause(0.8)
        assert app.playing and "▶ x10" in header(app)
        await pilot.press("space")
        await pilot.pause()
        moved = app.pos
        assert moved > 21
        await pilot.pause(0.3)
        assert app.pos == moved and "‖ x10" in header(app)


async def test_the_event_log_shows_the_decisions_before_the_cursor(recorded):
    rec, snaps = recorded
    first = next(i for i, s in enumerate(snaps) if any(e.kind == "decision" for e in s.events))
    app = ReplayApp(rec, first + 5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = app.query_one(EventLog).plain_lines()
        decision = next(e for e in snaps[first].events if e.kind == "decision")
        assert any(decision.text in line for line in lines)
        await pilot.press("less_than_sign")
        await pilot.pause()
        assert not any(decision.text in line for line in app.query_one(EventLog).plain_lines())


async def test_nothing_can_be_edited_in_replay(recorded):
    rec, _ = recorded
    app = ReplayApp(rec, 30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("e", "m", "r", "ctrl+s"):
            await pilot.press(key)
            await pilot.pause()
            assert not app.screen.is_modal, key
        assert app.check_action("edit", ()) is False
        app.action_edit()  # even asked directly (palette): refused, nothing sent
        assert app.loop.refused == 0
        assert isinstance(app, WlmApp) and app.readonly


async def test_help_and_palette_offer_the_cursor_keys(recorded):
    rec, _ = recorded
    app = ReplayApp(rec, 30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = app.help_rows()
        assert any(r[0] == "," for r in rows) and any(r[0] == "g" for r in rows)
        assert not any("Edit" in r[1] for r in rows)
        actions = [a for a, _, _ in app.palette_actions()]
        assert {"step", "jump", "play", "goto"} <= set(actions) and "edit" not in actions
        app.run_palette_action("step")  # from the palette: no parameters, one tick forward
        await pilot.pause()
        assert app.pos == 31
        await pilot.press("question_mark")
        await pilot.pause()
        from wlmtui.ui.modals.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
