"""Why a class waits (PI source, delay, response times) and its processes:
the class table, the detail panel, the processes view and the move modal.

The simulated host has no process classifier: a real ClassifyReport with a
few processes is put into the snapshot (``support.with_classify``) before it
is drawn.
"""

from __future__ import annotations

import queue

import pytest
from textual.widgets import Input, OptionList

from wlmtui.classify.commands import MoveProcess
from wlmtui.goals import Performance
from wlmtui.ui.commands import palette_commands
from wlmtui.ui.modals.help import HelpScreen
from wlmtui.ui.modals.move import MoveScreen
from wlmtui.ui import fmt
from wlmtui.ui.panels.classes import ClassTable
from wlmtui.ui.panels.header import HeaderPanel
from wlmtui.ui.processes import NO_CLASSIFIER, ProcessScreen, ProcessTable

from .support import demo_app, with_classify, with_stalls

SIZE = (120, 40)
pytestmark = pytest.mark.asyncio


def cell(app, row: str, column: str) -> str:
    return str(app.query_one(ClassTable).get_cell(row, column))


def info(app) -> str:
    return app.query_one("#detail-info").text.plain


def sent(app) -> list:
    out = []
    while True:
        try:
            out.append(app.loop.commands.get_nowait())
        except queue.Empty:
            return out


def with_perf(snap, name: str, perf: Performance):
    from dataclasses import replace

    classes = tuple(c._replace(perf=perf) if c.name == name else c for c in snap.decision.classes)
    return replace(snap, decision=replace(snap.decision, classes=classes))


async def draw(pilot, snap) -> None:
    pilot.app.apply_snapshot(snap, absorbed=True)
    await pilot.pause()


# -- why a class waits ---------------------------------------------------------------------
async def test_table_shows_the_pi_source_and_what_each_class_waits_for(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        snap = app.advance(12)
        await pilot.pause()
        assert [cell(app, n, "src") for n in ("interactive", "batch", "reports", "coder")] == ["rt", "vel", "fix", "tok"]
        assert cell(app, "interactive", "delay") == "cpu 100" and cell(app, "coder", "delay") == "-"
        await draw(pilot, with_stalls(snap, {"reports": (0.05, 0.02, 0.30), "batch": (0.4, 0.0, 0.1)}))
        assert cell(app, "reports", "delay") == "io 81 cpu 14"
        assert cell(app, "batch", "delay") == "cpu 80 io 20"
        app.select_class("reports")
        await pilot.pause()
        assert "delay io 81%  cpu 14%  memory 5% — waits for I/O: weights cannot fix that" in info(app)


async def test_detail_shows_percentiles_and_the_bucket_histogram(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:  # room for all fourteen buckets
        snap = app.advance(12)
        await pilot.pause()
        dist = snap.decision.get("interactive").perf.distribution
        text = info(app)
        assert f"measured {snap.decision.get('interactive').perf.detail}" in text
        assert f"· p50 {fmt.rt(dist.p50)}" in text and f"· p99 {fmt.rt(dist.p99)}" in text
        lines = text.splitlines()
        labels = next(ln for ln in lines if "≤50" in ln)
        assert labels.split()[:14] == ["≤50", "≤60", "≤70", "≤80", "≤90", "≤100", "≤110", "≤120", "≤130", "≤140",
                                       "≤150", "≤200", "≤400", ">400"]
        counts = lines[lines.index(labels) - 1]
        assert [int(n) for n in counts.split()] == list(dist.buckets)
        assert "delay cpu 100% — waits for CPU: weights can help" in text


async def test_a_pi_from_cpu_pressure_says_so(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        snap = app.advance(3)
        proxy = Performance(1.33, "psi-proxy", 0.04, "cpu stall 4.0% vs threshold 3.0% (only 2 transactions)")
        await draw(pilot, with_perf(snap, "interactive", proxy))
        assert cell(app, "interactive", "src") == "psi"
        assert ("judged by CPU pressure: too few transactions reported — cpu stall 4.0% vs threshold 3.0% "
                "(only 2 transactions)") in info(app)


async def test_a_narrow_table_keeps_the_columns_that_fit(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        snap = app.advance(2)
        await pilot.pause()
        table = app.query_one(ClassTable)
        assert table.shown == ("name", "imp", "pi", "src", "status", "delay", "weight", "measured")
        assert not table.scrolls_x
        await draw(pilot, with_classify(snap))
        assert "procs" in table.shown and "imp" not in table.shown
        assert cell(app, "interactive", "procs") == "5"
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert {"goal", "reason", "procs", "imp"} <= set(table.shown)
        assert app.selected == "interactive" and cell(app, "interactive", "reason") == snap.decision.get("interactive").reason


async def test_detail_lists_the_busiest_processes(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await draw(pilot, with_classify(app.advance(2)))
        assert "processes 5  · nginx 1202 0.61c  · nginx 1203 0.47c  · php-fpm8.2 1310 0.33c" in info(app)


# -- the processes view ----------------------------------------------------------------------
def rows(app) -> list[str]:
    table = app.screen.query_one(ProcessTable)
    return [str(table.get_cell(r.key, "pid")) for r in table.ordered_rows]


async def test_the_processes_view_lists_sorts_and_filters(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        snap = with_classify(app.advance(2))
        await draw(pilot, snap)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        assert rows(app) == ["2040", "3300", "1202", "1203", "2051", "1310", "2077", "1201", "4410"]  # CPU first
        table = app.screen.query_one(ProcessTable)
        assert str(table.get_cell("8", "state")) == "would move → batch"  # rows are keyed by position
        assert str(table.get_cell("6", "cls")) == "reports ◆"
        assert "in batch — rule batch#1 cmdline=*etl* at demo.yaml:22" in str(
            app.screen.query_one("#procs-detail").render())
        await pilot.press("s")
        await pilot.pause()
        assert rows(app)[:3] == ["1201", "1202", "1203"]
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"php")  # typed into the filter: p does not close the view
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen) and rows(app) == ["1310"]
        app.screen.query_one("#procs-filter", Input).value = ""
        await pilot.press(*"nginx")
        await pilot.pause()
        assert rows(app) == ["1201", "1202", "1203"]
        # a new tick keeps the view up to date and the cursor on its process, wherever it goes
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.press("up")
        await pilot.pause()
        assert table.selected_key == "1202:11202"
        await draw(pilot, with_classify(app.advance(1)))
        assert rows(app) == ["1201", "1202", "1203"] and table.selected_key == "1202:11202"
        await pilot.press("s", "s", "s")  # by CPU again: 1202 (0.61) first
        await pilot.pause()
        assert rows(app) == ["1202", "1203", "1201"] and table.selected_key == "1202:11202"
        assert table.cursor_row == 0
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ProcessScreen)
        # the main screen was not drawn while hidden: it is when the view closes
        assert "tick 3" in app.query_one(HeaderPanel).render().plain
        assert cell(app, "batch", "pi") == fmt.pi(app.snapshot.decision.get("batch").pi)


async def test_moving_a_process_sends_move_process(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await draw(pilot, with_classify(app.advance(2)))
        sent(app)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("c")  # 2040, python3 in batch
        await pilot.pause()
        assert isinstance(app.screen, MoveScreen)
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["class-interactive", "class-batch", "class-reports"]  # no release: not sticky
        options.highlighted = 2
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        assert sent(app) == [MoveProcess(2040, "reports", 12040)]
        # a process placed by hand can be released to its rules
        table = app.screen.query_one(ProcessTable)
        table.move_cursor(row=rows(app).index("2077"))
        await pilot.press("enter")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        assert options.get_option("class-reports").disabled  # already there by hand
        options.highlighted = options.get_option_index("release")
        await pilot.press("enter")
        await pilot.pause()
        assert sent(app) == [MoveProcess(2077, None, 12077)]
        await pilot.press("c", "escape")  # cancelled: nothing sent
        await pilot.pause()
        assert sent(app) == [] and isinstance(app.screen, ProcessScreen)


async def test_without_a_classifier_the_view_says_so(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.advance(1)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        message = str(app.screen.query_one("#procs-empty").render())
        assert f"{NO_CLASSIFIER} (simulated host)" in message
        assert not app.screen.query_one(ProcessTable).display
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "close" in shown and not shown & {"move", "sort", "filter"}
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen) and sent(app) == []


async def test_readonly_can_look_but_not_move(tmp_path):
    app = demo_app(tmp_path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await draw(pilot, with_classify(app.advance(1)))
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "move" not in shown and "sort" in shown
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        app.action_move_process()
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen) and sent(app) == []
        assert not any(t.startswith("Move process") for t, _, _ in palette_commands(app))


async def test_help_and_palette_know_the_new_keys(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.advance(1)
        titles = [t for t, _, _ in palette_commands(app)]
        assert "Processes" in titles and "Move process to another class" not in titles
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {bid for _, _, bid in app.screen.rows}
        assert {"wlmtui.processes", "wlmtui.move-process", "wlmtui.sort-processes",
                "wlmtui.filter-processes"} <= ids
        await pilot.press("escape", "p")
        await pilot.pause()
        titles = [t for t, _, _ in palette_commands(app)]
        assert "Move process to another class" in titles and "Edit selected class" not in titles


async def test_keymap_remaps_the_move_key(tmp_path):
    keymap = tmp_path / "keymap.yaml"
    keymap.write_text("move-process: M\n")
    app = demo_app(tmp_path, keymap_file=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await draw(pilot, with_classify(app.advance(1)))
        await pilot.press("p", "c")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, MoveScreen)
        assert not app._notes
