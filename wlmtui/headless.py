"""``wlmtui --no-ui``: the control loop on the main thread, printing each tick.

SIGHUP reloads the policy (a bad file is reported and the old one stays);
SIGTERM and SIGINT let the current tick finish, then exit 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Callable, TextIO

from wlmtui.commands import Reload
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.snapshot import Snapshot


def _fmt_pi(pi: float | None) -> str:
    return "  -  " if pi is None else f"{pi:5.2f}"


def format_tick(snap: Snapshot) -> list[str]:
    """Readable lines for one tick: events first, then one line per class."""
    stamp = time.strftime("%H:%M:%S", time.localtime(snap.wall))
    lines = [f"{stamp} {e.kind:<8} {e.text}" for e in snap.events]
    width = max((len(c.name) for c in snap.decision.classes), default=8)
    for c in snap.decision.classes:
        if c.weight is None:
            weight = "    -     "
        elif c.weight != c.old_weight:
            weight = f"{c.old_weight:>4}→{c.weight:<5}"
        else:
            weight = f"{c.weight:>4}      "
        tok = snap.tokens.get(c.name)
        extra = f" [{tok.signal}]" if tok is not None and hasattr(tok, "signal") else ""
        lines.append(f"{stamp} {c.name:<{width}} PI {_fmt_pi(c.pi)} {c.perf.source:<11} w {weight} "
                     f"{c.status:<8} {c.reason}{extra}")
    if snap.paused:
        lines.append(f"{stamp} (control paused: observing only)")
    return lines


def emit(snap: Snapshot, out: TextIO, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(snap.to_json()) + "\n")
    else:
        out.write("\n".join(format_tick(snap)) + "\n")
    out.flush()


def run_headless(loop: ControlLoop, *, as_json: bool = False, once: bool = False, out: TextIO | None = None,
                 record: Callable[[Snapshot], None] | None = None) -> int:
    """Run until a signal (or one tick with ``once``); returns the exit code.

    ``record`` (the recorder's ``publish``) also gets every snapshot of the run.
    """
    out = out or sys.stdout
    if not as_json:
        mode = " (dry run: nothing is written)" if loop.dry_run else ""
        summary = replace(loop.policy, interval=loop.interval).summary()
        out.write(f"wlmtui: {summary} on {loop.backend.label}{mode}\n")
        out.flush()
    if once:
        loop.prime()
        if isinstance(loop.clock, ManualClock):
            loop.clock.advance(loop.interval)  # the simulated host needs no real waiting
        else:
            time.sleep(loop.interval)
        emit(loop.step(), out, as_json)
        return 0
    stop = threading.Event()
    previous = {}

    def _stop(signum, frame):  # noqa: ARG001
        stop.set()

    def _reload(signum, frame):  # noqa: ARG001
        loop.send(Reload())

    for sig, handler in ((signal.SIGTERM, _stop), (signal.SIGINT, _stop), (signal.SIGHUP, _reload)):
        previous[sig] = signal.signal(sig, handler)
    try:
        def publish(snap: Snapshot) -> None:
            if record is not None:
                record(snap)
            emit(snap, out, as_json)

        loop.run(stop, publish)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
