"""The console attached to a daemon (RemoteLoop), driven by Pilot.

The daemon is a ControlLoop on the simulated host ticking every 50 ms in a
thread and serving its control socket; the console runs its usual worker
thread, here reading the daemon's snapshot stream.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from wlmtui.control.client import RemoteLoop
from wlmtui.control.peer import Verdict
from wlmtui.policy import load_policy
from wlmtui.ui.app import WlmApp
from wlmtui.ui.modals.diff import DiffScreen
from wlmtui.ui.modals.edit import EditScreen
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.panels.header import HeaderPanel

from control_util import Daemon, cleanup, policy_file, short_tmpdir
from .support import COMMENTED_POLICY
from .test_console import edit_kp

SIZE = (120, 40)
pytestmark = pytest.mark.asyncio


async def until(pilot, pred, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def header(app: WlmApp) -> str:
    return app.query_one(HeaderPanel).render().plain


@pytest.fixture
def state():
    d = short_tmpdir()
    yield d
    cleanup(d)


def _policy(state: str) -> Path:
    return policy_file(state, COMMENTED_POLICY.replace("interval: 1s ", "interval: 50ms"))


async def test_attached_console_edits_saves_and_reconnects(state):
    path = _policy(state)
    original = path.read_text()
    daemon = Daemon(path).start()
    remote = RemoteLoop(daemon.socket, retry=0.1)
    app = WlmApp(remote)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the first snapshot")
            assert "RECONNECTING" not in header(app) and "READ-ONLY" not in header(app)
            await edit_kp(pilot, "1.35")  # web is selected
            await until(pilot, lambda: daemon.loop.policy.get("web").gains.kp == 1.35, "the edit in the daemon")
            await until(pilot, lambda: app.snapshot.policy.get("web").gains.kp == 1.35, "the edit drawn")
            assert app.dirty and "● unsaved" in header(app)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff")
            assert "+      kp: 1.35" in app.screen.diff_text and "-      kp: 0.6" in app.screen.diff_text
            await pilot.press("y")
            await until(pilot, lambda: load_policy(path).get("web").gains.kp == 1.35, "the daemon's file saved")
            assert Path(f"{path}.bak").read_text() == original
            assert "      kp: 1.35                # tuned after the May incident" in path.read_text().splitlines()
            await until(pilot, lambda: not daemon.loop.dirty and not app.dirty, "clean after the save")
            await until(pilot, lambda: "● unsaved" not in header(app), "the header without the unsaved mark")

            daemon.stop()  # the daemon goes away under the console
            await until(pilot, lambda: "RECONNECTING" in header(app), "RECONNECTING in the header")
            log = "\n".join(app.query_one(EventLog).plain_lines())
            assert "lost the daemon" in log
            app.save_screenshot("attach_reconnecting.svg", path=os.environ.get("WLMTUI_SHOT_DIR", state))
            tick = app.snapshot.tick
            daemon = Daemon(path).start()  # a restart, with the saved file
            await until(pilot, lambda: "RECONNECTING" not in header(app), "the reconnect")
            await until(pilot, lambda: app.snapshot.tick > tick + 2, "ticks from the new daemon")
            assert app.snapshot.policy.get("web").gains.kp == 1.35
            app.save_screenshot("attach_console.svg", path=os.environ.get("WLMTUI_SHOT_DIR", state))
            await pilot.press("q")  # detach: the daemon keeps steering
        n = len(daemon.snaps)
        await asyncio.sleep(0.3)
        assert len(daemon.snaps) > n and daemon.server.clients == 0
    finally:
        daemon.stop()


async def test_a_read_only_attached_console_hides_editing(state):
    reason = "read-only: your uid 1000 is not root or in group wlmtui"
    daemon = Daemon(_policy(state), check=lambda peer, group: Verdict(False, reason)).start()
    remote = RemoteLoop(daemon.socket)
    app = WlmApp(remote, readonly=remote.readonly)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the first snapshot")
            assert "READ-ONLY" in header(app)
            await pilot.press("e")
            await pilot.pause()
            assert not isinstance(app.screen, EditScreen)
            app.action_pin()  # even called directly: refused with the daemon's reason
            await pilot.pause()
            assert any(reason in str(n.message) for n in app._notifications)
            assert not daemon.loop.engine.pinned("web")
    finally:
        daemon.stop()
