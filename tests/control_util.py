"""A daemon for attach tests: a ControlLoop on the simulated host, ticking in a
thread on the real clock (fast interval), serving the control socket."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from wlmtui.backends.sim import SimHost
from wlmtui.control.server import ControlServer, socket_path
from wlmtui.loop import ControlLoop
from wlmtui.policy import load_policy

INTERVAL = 0.05


def short_tmpdir() -> str:
    """A directory with a path short enough for a Unix socket (pytest's tmp_path can be too long)."""
    d = tempfile.mkdtemp(prefix="wlmt-")
    os.chmod(d, 0o755)
    return d


def policy_file(state_dir: str, text: str) -> Path:
    """``text`` with ``state_dir:`` set, written to ``<state_dir>/policy.yaml``."""
    path = Path(state_dir) / "policy.yaml"
    path.write_text(f"state_dir: {state_dir}\n" + text, encoding="utf-8")
    return path


class Daemon:
    def __init__(self, path: Path, check=None, interval: float = INTERVAL):
        self.policy_path = path
        policy = load_policy(path)
        self.loop = ControlLoop(policy, SimHost(policy), interval=interval)
        kw = {} if check is None else {"check": check}
        self.server = ControlServer(self.loop, socket_path(policy.state_dir), **kw)
        self.snaps: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def socket(self) -> str:
        return self.server.path

    def _publish(self, snap) -> None:
        self.snaps.append(snap)
        self.server.publish(snap)

    def start(self) -> "Daemon":
        self.server.start()
        self._thread = threading.Thread(target=self.loop.run, args=(self._stop, self._publish), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.server.close()
        self.loop.close()

    def last(self):
        return self.snaps[-1] if self.snaps else None


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def cleanup(d: str) -> None:
    shutil.rmtree(d, ignore_errors=True)
