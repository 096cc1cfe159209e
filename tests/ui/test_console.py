"""The console, driven by Pilot on the simulated host with a manual clock.

No worker thread and no sleeps: ``app.advance(n)`` steps the loop ``n``
ticks and draws the result, so every run sees the same numbers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from wlmtui.cli import demo_policy
from wlmtui.loop import ControlLoop
from wlmtui.backends.sim import SimHost
from wlmtui.policy import load_policy
from wlmtui.ui import fmt
from wlmtui.ui.app import WlmApp
from wlmtui.ui.commands import palette_commands
from wlmtui.ui.modals.confirm import ConfirmScreen
from wlmtui.ui.modals.diff import DiffScreen
from wlmtui.ui.modals.edit import EditScreen
from wlmtui.ui.modals.help import HelpScreen
from wlmtui.ui.modals.pin import PinScreen
from wlmtui.ui.modals.saveas import SaveAsScreen
from wlmtui.ui.panels.classes import ClassTable
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.panels.header import HeaderPanel
from wlmtui.ui.panels.tokens import TokenPanel

from .support import COMMENTED_POLICY, EPOCH, FakeStatus, FakeTokens, demo_app, file_app, write_policy

SIZE = (120, 40)
pytestmark = pytest.mark.asyncio


def cell(app: WlmApp, row: str, column: str) -> str:
    return str(app.query_one(ClassTable).get_cell(row, column))


async def set_field(pilot, key: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#field-{key}", Input)
    field.value = text
    await pilot.pause()


async def edit_kp(pilot, value: str) -> None:
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(pilot.app.screen, EditScreen)
    await set_field(pilot, "kp", value)
    await pilot.press("enter")
    await pilot.pause()


def comment_lines(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


# -- panels ---------------------------------------------------------------------------
async def test_panels_show_the_snapshot_after_ticks(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        snap = app.advance(10)
        await pilot.pause()
        assert snap.tick == 10
        for c in snap.decision.classes:
            assert cell(app, c.name, "pi") == fmt.pi(c.pi)
            assert cell(app, c.name, "imp") == str(c.importance)
            assert cell(app, c.name, "reason") == c.reason
            assert cell(app, c.name, "weight").rstrip("▲▼◆ ") == ("-" if c.weight is None else str(c.weight))
        # the interactive peak starts at 8 s: interactive misses its goal, batch gives weight
        inter = snap.decision.get("interactive")
        assert inter.status == "missing" and cell(app, "interactive", "status") == "MISS"
        header = app.query_one(HeaderPanel).render().plain
        assert "demo-host" in header and "tick 10" in header and "simulated" in header
        assert "demo policy (no file)" in header and "14:13:30" in header
        events = app.query_one(EventLog)
        assert events.count >= 1
        log_text = "\n".join(events.plain_lines())
        assert "interactive 100→" in log_text and ": receiver" in log_text
        assert app.selected == "interactive"
        info = app.query_one("#detail-info").text.plain
        assert "interactive" in info and "Kp 0.6" in info
        assert inter.share is not None  # the plot line: its share now, and what its plot projects
        assert f"plot share {inter.share:.0%}" in info
        if inter.projection.share is not None:
            assert f"PI 0.85 at {inter.projection.share:.0%}" in info
        assert len(app.history.series("batch").weight) == 10


async def test_rows_update_in_place_and_keep_the_cursor(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(2)
        await pilot.pause()
        table = app.query_one(ClassTable)
        await pilot.press("down")
        assert app.selected == "batch"
        keys_before = [r.key for r in table.ordered_rows]
        app.advance(5)
        await pilot.pause()
        assert [r.key for r in table.ordered_rows] == keys_before
        assert table.cursor_row == 1 and app.selected == "batch"
        assert "batch" in app.query_one("#detail-info").text.plain


async def test_token_panel_with_fake_statuses_and_empty(tmp_path):
    path = write_policy(tmp_path)
    tokens = FakeTokens({"agents": FakeStatus(signal="yellow", consumed=9200, budget=10000, remaining=800,
                                              rate=100.0, projected=11000, window_end=EPOCH + 1800)})
    app = file_app(path, tokens=tokens)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.pause()
        table = app.query_one(TokenPanel).table
        assert table.row_count == 1
        assert str(table.get_cell("agents", "signal")) == "yellow"
        assert str(table.get_cell("agents", "used")) == "9.2K/10.0K"
        assert str(table.get_cell("agents", "exhausts")) == "8m"
        tokens.statuses = {}
        app.advance(1)
        await pilot.pause()
        assert str(table.get_cell("agents", "signal")) == "wait"


async def test_no_token_classes_hides_the_token_panel(tmp_path):
    no_tokens = COMMENTED_POLICY.split("  - name: agents")[0]
    app = file_app(write_policy(tmp_path, no_tokens))
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.pause()
        assert app.query_one("#body").has_class("-no-tokens")
        assert app.check_action("emergency_stop", ()) is False


# -- tuning ----------------------------------------------------------------------------
async def test_editing_kp_changes_the_next_ticks_controller_output(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        before = app.advance(9)
        await pilot.pause()
        assert app.selected == "interactive"
        await edit_kp(pilot, "3")
        assert not isinstance(app.screen, EditScreen)
        assert app.dirty and app.effective_policy().get("interactive").gains.kp == 3.0
        assert before.policy.get("interactive").gains.kp == 0.6
        after = app.advance(1)
        await pilot.pause()
        t_prev = before.decision.get("interactive").terms
        t = after.decision.get("interactive").terms
        assert after.policy.get("interactive").gains.kp == 3.0
        assert t.error != t_prev.error
        assert t.p == pytest.approx(3.0 * (t.error - t_prev.error))
        assert after.dirty
        assert "● unsaved" in app.query_one(HeaderPanel).render().plain
        assert "interactive: settings changed (kp 3" in "\n".join(app.query_one(EventLog).plain_lines())


async def test_invalid_input_is_refused_in_the_form(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EditScreen)
        await set_field(pilot, "kp", "abc")
        error = screen.query_one("#error-kp", Static)
        assert error.display and "not a number" in str(error.render())
        assert screen.query_one("#apply", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # refused: the form stays
        await set_field(pilot, "kp", "0.7")
        await set_field(pilot, "min_weight", "5000")
        assert "above max_weight" in str(screen.query_one("#error-min_weight", Static).render())
        assert not screen.query_one("#error-kp", Static).display
        assert screen.query_one("#apply", Button).disabled
        await set_field(pilot, "min_weight", "10")
        assert not screen.query_one("#apply", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EditScreen) and not app.dirty


async def test_pin_release_and_pause(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(2)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, PinScreen)
        await set_field(pilot, "weight", "5000")
        assert app.screen.query_one("#apply", Button).disabled
        await set_field(pilot, "weight", "300")
        await pilot.press("enter")
        await pilot.pause()
        snap = app.advance(1)
        c = snap.decision.get("interactive")
        assert c.pinned and c.weight == 300
        await pilot.press("m")  # pinned: m releases without asking
        await pilot.pause()
        assert not isinstance(app.screen, PinScreen)
        assert not app.advance(1).decision.get("interactive").pinned
        await pilot.press("space")
        assert app.paused
        snap = app.advance(1)
        assert snap.paused and "PAUSED" in app.query_one(HeaderPanel).render().plain
        await pilot.press("space")
        assert not app.advance(1).paused


async def test_emergency_stop_goes_black_and_back(tmp_path):
    path = write_policy(tmp_path)
    app = file_app(path, tokens=FakeTokens({"agents": FakeStatus()}))
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.press("exclamation_mark")  # web is selected: refused
        assert not app.advance(1).tokens["agents"].signal == "black"
        app.select_class("agents")
        await pilot.press("exclamation_mark")
        snap = app.advance(1)
        assert snap.tokens["agents"].signal == "black"
        assert str(app.query_one(TokenPanel).table.get_cell("agents", "signal")) == "BLACK"
        await pilot.press("exclamation_mark")
        assert app.advance(1).tokens["agents"].signal == "green"


# -- saving ----------------------------------------------------------------------------
async def test_save_writes_the_value_keeps_comments_and_a_backup(tmp_path):
    path = write_policy(tmp_path)
    app = file_app(path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(2)
        await edit_kp(pilot, "1.35")
        app.advance(1)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        assert "+      kp: 1.35" in app.screen.diff_text
        assert "-      kp: 0.6" in app.screen.diff_text
        await pilot.press("y")
        await pilot.pause()
        saved = path.read_text()
        assert load_policy(path).get("web").gains.kp == 1.35
        assert comment_lines(saved) == comment_lines(COMMENTED_POLICY)
        assert Path(f"{path}.bak").read_text() == COMMENTED_POLICY
        assert [ln for ln in saved.splitlines() if "kp: 1.35" in ln] == [
            "      kp: 1.35                # tuned after the May incident"]
        snap = app.advance(1)
        assert not snap.dirty and not app.dirty
        assert "● unsaved" not in app.query_one(HeaderPanel).render().plain


async def test_a_file_changed_on_disk_is_never_silently_overwritten(tmp_path):
    path = write_policy(tmp_path)
    app = file_app(path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await edit_kp(pilot, "2")
        outside = COMMENTED_POLICY.replace("seed: 3 ", "seed: 4 ") + "# edited by a colleague\n"
        path.write_text(outside)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "changed on disk" in app.screen.message
        await pilot.click("#choice-cancel")
        await pilot.pause()
        assert path.read_text() == outside  # untouched
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.click("#choice-overwrite")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("y")
        await pilot.pause()
        text = path.read_text()
        assert "# edited by a colleague" in text and "seed: 4" in text  # their change stays
        assert load_policy(path).get("web").gains.kp == 2.0  # and so does ours
        assert Path(f"{path}.bak").read_text() == outside


async def test_demo_policy_saves_as_a_new_file(tmp_path):
    app = demo_app(tmp_path / "state")
    target = tmp_path / "mine.yaml"
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await edit_kp(pilot, "0.9")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsScreen)
        await set_field(pilot, "path", str(tmp_path / "no-such-dir" / "x.yaml"))
        assert app.screen.query_one("#apply", Button).disabled
        await set_field(pilot, "path", str(target))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        added = [ln for ln in app.screen.diff_text.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
        assert added == ["+    gains: {kp: 0.9}"]  # shown against the packaged demo policy
        await pilot.press("y")
        await pilot.pause()
        saved = load_policy(target)
        assert saved.get("interactive").gains.kp == 0.9
        assert "# wlmtui demo policy" in target.read_text()  # written into the demo's own text
        snap = app.advance(1)
        assert snap.policy.source == str(target) and not snap.dirty


async def test_quitting_with_unsaved_changes_asks(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await edit_kp(pilot, "0.9")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#choice-quit")
        await pilot.pause()
    assert app.return_value == 0


async def test_reload_and_a_bad_file_keeps_the_policy(tmp_path):
    path = write_policy(tmp_path)
    app = file_app(path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        path.write_text(COMMENTED_POLICY.replace("importance: 4", "importance: 3"))
        await pilot.press("r")
        snap = app.advance(1)
        assert snap.policy.get("batch").importance == 3
        path.write_text("service_classes: [oops")
        await pilot.press("r")
        snap = app.advance(1)
        assert snap.policy.get("batch").importance == 3
        assert any("reload refused" in e.text for e in snap.events)


# -- discovery -------------------------------------------------------------------------
async def test_readonly_hides_and_refuses_every_edit(tmp_path):
    app = demo_app(tmp_path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.pause()
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not shown & {"edit", "pin", "pause", "reload", "save", "emergency_stop"}
        assert {"help", "quit"} <= shown
        for key in ("e", "m", "space", "r", "ctrl+s"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0]
        app.action_edit()  # e.g. from elsewhere: refused, not opened
        await pilot.pause()
        assert not isinstance(app.screen, EditScreen)
        titles = [t for t, _, _ in palette_commands(app)]
        assert not any(t.startswith(("Edit", "Save", "Pin", "Reload")) for t in titles)
        assert not app.advance(1).paused and not app.dirty


async def test_help_lists_the_keys(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {bid for _, _, bid in app.screen.rows}
        assert {"wlmtui.edit", "wlmtui.save", "wlmtui.emergency-stop", "wlmtui.quit"} <= ids
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_file_remaps_bindings(tmp_path):
    keymap = tmp_path / "keymap.yaml"
    keymap.write_text("edit: E\nwlmtui.help: f1\nbogus: x\n")
    app = demo_app(tmp_path, keymap_file=keymap)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, EditScreen)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert ("E", ) == tuple(k for k, _, bid in app.screen.rows if bid == "wlmtui.edit")
        assert any("unknown binding id 'bogus'" in text for kind, text in app._notes)


async def test_palette_offers_every_action_and_runs_them(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        titles = [t for t, _, _ in palette_commands(app)]
        for wanted in ("Edit selected class", "Pin / release weight", "Pause control", "Reload policy from disk",
                       "Save policy", "Help", "Quit", "Select class: batch", "Theme: wlm-3270"):
            assert wanted in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"pause control")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.advance(1).paused
        dict((t, cb) for t, _, cb in palette_commands(app))["Theme: wlm-3270"]()
        await pilot.pause()
        assert app.theme == "wlm-3270"
        assert app.theme_variables["wlm-missing"] == "#ff5555"


async def test_narrow_terminal_turns_the_lower_panels_into_tabs(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.advance(3)
        await pilot.pause()
        body = app.query_one("#body")
        assert body.has_class("-narrow")
        assert app.query_one("#detail").display and not app.query_one("#events").display
        await pilot.press("v")
        await pilot.pause()
        assert app.view == "tokens" and app.query_one("#tokens").display
        await pilot.press("v")
        await pilot.pause()
        assert app.view == "events" and app.query_one("#events").display
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert not body.has_class("-narrow") and app.query_one("#detail").display
        assert app.check_action("next_view", ()) is False


# -- the real thing: a thread worker ----------------------------------------------------
async def test_the_loop_runs_in_a_thread_worker_and_stops_on_exit(tmp_path):
    policy = demo_policy(str(tmp_path))
    loop = ControlLoop(policy, SimHost(policy), interval=0.05)
    app = WlmApp(loop)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if app.snapshot is not None and app.snapshot.tick >= 3:
                break
        assert app.snapshot is not None and app.snapshot.tick >= 3
        assert app._loop_thread is not None and app._loop_thread is not threading.main_thread()
        assert app.loop_running
        assert len(app.history.t) == app.snapshot.tick  # every tick recorded, even when drawn coalesced
        await pilot.press("q")
        await pilot.pause()
    assert app.stop_loop(timeout=2.0) and not app.loop_running


async def test_a_backlog_of_snapshots_is_drawn_once_and_fully_recorded(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.loop.prime()
        snaps = []
        for _ in range(5):
            app.loop.clock.advance(1.0)
            snaps.append(app.loop.step())
        drawn = []
        original = app.apply_snapshot
        app.apply_snapshot = lambda s, absorbed=False: (drawn.append(s.tick), original(s, absorbed))
        worker = threading.Thread(target=lambda: [app._publish(s) for s in snaps])
        worker.start()
        worker.join()
        await pilot.pause()
        assert drawn == [5]
        assert len(app.history.t) == 5
        assert app.snapshot.tick == 5


async def test_a_token_class_is_edited_and_saved(tmp_path):
    path = write_policy(tmp_path)
    app = file_app(path, tokens=FakeTokens({"agents": FakeStatus()}))
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        app.select_class("agents")
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        assert "kp" not in app.screen.initial and app.screen.initial["budget"] == "10000/hour"
        await set_field(pilot, "budget", "lots")
        assert app.screen.query_one("#apply", Button).disabled
        await set_field(pilot, "budget", "25K/hour")
        await set_field(pilot, "pool", "team")
        await pilot.press("enter")
        await pilot.pause()
        snap = app.advance(1)
        assert snap.policy.get("agents").goal.value == 25000 and snap.policy.get("agents").pool == "team"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        text = path.read_text()
        assert "    budget: 25K/hour" in text and "    pool: team" in text
        assert "# per calendar hour" in text


async def test_a_crashing_loop_is_reported_not_fatal(tmp_path):
    app = demo_app(tmp_path)

    def broken(stop, publish):
        raise RuntimeError("sensor exploded")

    app.loop.run = broken
    app.autostart = True
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(50):
            await pilot.pause(0.02)
            if app.loop_error:
                break
        assert app.loop_error == "RuntimeError: sensor exploded"
        assert "LOOP STOPPED" in app.query_one(HeaderPanel).render().plain
        assert app.is_running
