"""Screenshots of the console compared with accepted SVGs (pytest-textual-snapshot).

Deterministic: simulated host with a fixed seed, a manual clock, fixed wall
time, host name, kernel and loop time, UTC, fixed terminal sizes. Update the
baselines after an intended change with
``pytest tests/ui/test_snapshots.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from textual.widgets import Input

from .support import EPOCH, FakeStatus, FakeTokens, demo_app, file_app, write_policy


def ticks(n: int, *keys: str, invalid_kp: str | None = None):
    async def run_before(pilot) -> None:
        pilot.app.advance(n)
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        if invalid_kp is not None:
            pilot.app.screen.query_one("#field-kp", Input).value = invalid_kp
            await pilot.pause()
    return run_before


def test_main_screen_small_terminal(snap_compare, tmp_path):
    # 12 s in: the interactive peak has begun and the arbiter has moved weight
    assert snap_compare(demo_app(tmp_path), terminal_size=(80, 24), run_before=ticks(12))


def test_main_screen_large_terminal_with_tokens(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_policy(tmp_path)
    tokens = FakeTokens({"agents": FakeStatus(signal="yellow", consumed=8200, budget=10000, remaining=1800,
                                              rate=150.0, projected=11500, window_end=EPOCH + 1500)})
    from pathlib import Path

    app = file_app(Path("policy.yaml"), tokens=tokens)
    assert snap_compare(app, terminal_size=(160, 48), run_before=ticks(9))


def test_edit_modal_with_an_invalid_value(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=(80, 24), run_before=ticks(3, "e", invalid_kp="fast"))


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=(100, 40), run_before=ticks(1, "question_mark"))


def test_green_screen_theme(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path, theme="wlm-3270"), terminal_size=(100, 30), run_before=ticks(12))


def test_processes_view(snap_compare, tmp_path):
    # the simulated host has no classifier: a faked report with nine processes, one the rules would move,
    # one placed by hand; one class waits mostly for I/O
    from .support import with_classify, with_stalls

    async def run_before(pilot) -> None:
        snap = pilot.app.advance(12)
        pilot.app.apply_snapshot(with_classify(with_stalls(snap, {"reports": (0.05, 0.02, 0.30)})), absorbed=True)
        await pilot.pause()
        await pilot.press("p", "down")
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=(100, 30), run_before=run_before)
