"""``wlmtui --no-ui``: the control loop on the main thread, printing each tick.

SIGHUP reloads the policy (a bad file is reported and the old one stays);
SIGTERM and SIGINT let the current tick finish, then exit 0.

``journal_every`` switches the per-tick lines for journal lines (events and
a summary every N ticks, see :mod:`wlmtui.journal_log`); ``hooks`` get each
snapshot after it is printed (the metrics endpoint); ``notifier`` tells
systemd about readiness, the watchdog, reloads and stopping.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Callable, Sequence, TextIO

import orjson

from wlmtui.commands import Reload
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.snapshot import Snapshot, class_json


def _fmt_pi(pi: float | None) -> str:
    return "  -  " if pi is None else f"{pi:5.2f}"


def format_tick(snap: Snapshot) -> list[str]:
    """Readable lines for one tick: events first, then one line per class."""
    stamp = time.strftime("%H:%M:%S", time.localtime(snap.wall))
    lines = [f"{stamp} {e.kind:<8} {e.text}" for e in snap.events]
    width = max((len(c.name) for c in snap.decision.classes), default=8)
    for c in snap.decision.classes:
        tok = snap.tokens.get(c.name)
        extra = f" [{tok.signal}]" if tok is not None and hasattr(tok, "signal") else ""
        lines.append(f"{stamp} {_row_text(c, width, extra)}")
    if snap.paused:
        lines.append(f"{stamp} (control paused: observing only)")
    return lines


def _row_text(c, width: int, extra: str) -> str:
    if c.weight is None:
        weight = "    -     "
    elif c.weight != c.old_weight:
        weight = f"{c.old_weight:>4}→{c.weight:<5}"
    else:
        weight = f"{c.weight:>4}      "
    return f"{c.name:<{width}} PI {_fmt_pi(c.pi)} {c.perf.source:<11} w {weight} {c.status:<8} {c.reason}{extra}"


class TextLines:
    """:func:`format_tick`, remembering each class's line: a row that is the
    same object as last tick's (the engine's idle skip), or shows the same
    values, is not formatted again. Same lines as :func:`format_tick`."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple] = {}  # name -> (row, key, text)

    def lines(self, snap: Snapshot) -> list[str]:
        stamp = time.strftime("%H:%M:%S", time.localtime(snap.wall))
        lines = [f"{stamp} {e.kind:<8} {e.text}" for e in snap.events]
        classes = snap.decision.classes
        width = max((len(c.name) for c in classes), default=8)
        rows, tokens = self._rows, snap.tokens
        for c in classes:
            tok = tokens.get(c.name)
            extra = f" [{tok.signal}]" if tok is not None and hasattr(tok, "signal") else ""
            hit = rows.get(c.name)
            if hit is not None and hit[0] is c and hit[1][0] == width and hit[1][-1] == extra:
                text = hit[2]
            else:
                key = (width, c.pi, c.perf.source, c.weight, c.old_weight, c.status, c.reason, extra)
                text = hit[2] if hit is not None and hit[1] == key else _row_text(c, width, extra)
                rows[c.name] = (c, key, text)
            lines.append(f"{stamp} {text}")
        if snap.paused:
            lines.append(f"{stamp} (control paused: observing only)")
        return lines


class JsonLines:
    """The ``--json`` document of :meth:`Snapshot.to_json`, encoded with
    orjson; each class's object is encoded once and reused while its row is
    the same object (the engine's idle skip) and it has no token status.
    ``json.loads`` of a line equals ``snap.to_json()``."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple] = {}  # name -> (row, encoded bytes)
        self._counts: tuple | None = None  # (ClassifyReport.classes, encoded bytes)

    def encode(self, snap: Snapshot) -> bytes:
        parts = []
        rows, tokens = self._rows, snap.tokens
        for c in snap.decision.classes:
            tok = tokens.get(c.name)
            hit = rows.get(c.name)
            if tok is None and hit is not None and hit[0] is c:
                parts.append(hit[1])
                continue
            data = orjson.dumps(class_json(c, tok), option=orjson.OPT_NON_STR_KEYS)
            if tok is None:
                rows[c.name] = (c, data)
            parts.append(data)
        doc = snap.json_head(classify=False)
        report = snap.classify
        if report is not None:  # the class counts: encoded again only when the classifier made new ones
            head = report.to_json(processes=False, classes=False)
            if self._counts is None or self._counts[0] is not report.classes:
                self._counts = (report.classes, orjson.dumps(report.classes_json(), option=orjson.OPT_NON_STR_KEYS))
            head["classes"] = orjson.Fragment(self._counts[1])
            doc["classify"] = head
        doc["classes"] = orjson.Fragment(b"[" + b",".join(parts) + b"]")
        doc["events"] = [{"kind": e.kind, "text": e.text} for e in snap.events]
        doc["errors"] = list(snap.errors)
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)


class Emitter:
    """Writes one tick to ``out``: text lines, or one JSON line."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.text = TextLines()
        self.json = JsonLines()

    def __call__(self, snap: Snapshot) -> None:
        out = self.out
        if self.as_json:
            data = self.json.encode(snap)
            buf = getattr(out, "buffer", None)
            if buf is not None:
                out.flush()
                buf.write(data)
                buf.flush()
                return
            out.write(data.decode())
        else:
            out.write("\n".join(self.text.lines(snap)) + "\n")
        out.flush()


def emit(snap: Snapshot, out: TextIO, as_json: bool) -> None:
    """One tick, without the per-class caches (see :class:`Emitter`)."""
    Emitter(out, as_json)(snap)


def run_headless(loop: ControlLoop, *, as_json: bool = False, once: bool = False, out: TextIO | None = None,
                 journal_every: int | None = None, hooks: Sequence[Callable[[Snapshot], None]] = (),
                 notifier=None) -> int:
    """Run until a signal (or one tick with ``once``); returns the exit code."""
    out = out or sys.stdout
    mode = " (dry run: nothing is written)" if loop.dry_run else ""
    started = f"wlmtui: {replace(loop.policy, interval=loop.interval).summary()} on {loop.backend.label}{mode}"
    if journal_every is not None and not as_json:
        from wlmtui.journal_log import JournalWriter

        printer = JournalWriter(out, journal_every)
        printer.start(started)
    else:
        printer = Emitter(out, as_json)
        if not as_json:
            out.write(started + "\n")
            out.flush()

    def publish(snap: Snapshot) -> None:
        printer(snap)
        for hook in hooks:
            hook(snap)
        if notifier is not None:
            notifier.after_tick(snap)  # last: READY=1 once the tick is out everywhere
    if once:
        loop.prime()
        if isinstance(loop.clock, ManualClock):
            loop.clock.advance(loop.interval)  # the simulated host needs no real waiting
        else:
            time.sleep(loop.interval)
        publish(loop.step())
        return 0
    stop = threading.Event()
    previous = {}

    def _stop(signum, frame):  # noqa: ARG001
        if notifier is not None and not stop.is_set():
            notifier.stopping()
        stop.set()

    def _reload(signum, frame):  # noqa: ARG001
        if notifier is not None:
            notifier.reloading()
        loop.send(Reload())

    for sig, handler in ((signal.SIGTERM, _stop), (signal.SIGINT, _stop), (signal.SIGHUP, _reload)):
        previous[sig] = signal.signal(sig, handler)
    try:
        loop.run(stop, publish)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
