"""What the headless daemon runs around the loop: the metrics endpoint, the
systemd notifier, and the choice between terminal and journal output.

Output mode: ``--log`` forces journal lines; with neither ``--log`` nor
``--json`` journal lines are chosen by themselves when the output stream is
the journal systemd connected (``$JOURNAL_STREAM``), so a terminal keeps
today's per-tick lines and ``journalctl -u wlmtui`` gets events and a
summary every ``--log-every`` ticks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, TextIO

from wlmtui.listen_address import MetricsError
from wlmtui.snapshot import Snapshot
from wlmtui.systemd import Notifier, stream_is_journal

DEFAULT_LOG_EVERY = 60


@dataclass
class DaemonExtras:
    hooks: list[Callable[[Snapshot], None]] = field(default_factory=list)
    notifier: Notifier | None = None
    journal_every: int | None = None
    metrics: object = None  # wlmtui.metrics.MetricsServer
    notes: list[str] = field(default_factory=list)  # one-line warnings for stderr

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()


def journal_every(log: bool, log_every: int | None, as_json: bool, out: TextIO, env=None) -> int | None:
    if as_json:
        return None
    if log or stream_is_journal(out, env):
        return log_every or DEFAULT_LOG_EVERY
    return None


def setup(*, metrics_address: str | None, log: bool, log_every: int | None, as_json: bool, interval: float,
          out: TextIO | None = None, env=None) -> DaemonExtras:
    """Start what the flags ask for; raises :class:`MetricsError` for a bad or taken address."""
    out = out or sys.stdout
    extras = DaemonExtras(journal_every=journal_every(log, log_every, as_json, out, env))
    if metrics_address:
        from wlmtui.metrics import MetricsServer

        extras.metrics = MetricsServer(metrics_address).start()
        extras.hooks.append(extras.metrics)
    notifier = Notifier(env)
    if notifier.enabled:
        extras.notifier = notifier
        warning = notifier.watchdog_warning(interval)
        if warning:
            extras.notes.append(warning)
    return extras


__all__ = ["DaemonExtras", "MetricsError", "setup", "journal_every"]
