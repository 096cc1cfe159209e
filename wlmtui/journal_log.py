"""Headless output that reads well in ``journalctl``: events, errors and a summary every N ticks.

On a terminal ``--no-ui`` prints every class every tick. In the journal that
is a wall of lines, so ``--log`` (chosen by itself when the output stream is
the journal, see :func:`wlmtui.systemd.stream_is_journal`) writes instead:

* each event of the tick on its own line, with a syslog priority prefix
  that journald turns into the entry's priority (``<3>`` error, ``<4>``
  warning, ``<5>`` notice, ``<6>`` info);
* a sample error (cgroup missing, unreadable file) once when it appears
  (``<4>``) and once when it clears (``<6>``), not every tick;
* one ``<6>`` summary line every ``every`` ticks, and at once when a class
  starts or stops missing its goal.

No timestamps: the journal stamps every line itself.
"""

from __future__ import annotations

from typing import TextIO

from wlmtui.snapshot import Snapshot

ERR, WARNING, NOTICE, INFO = 3, 4, 5, 6
#: event kind → syslog priority
PRIORITY = {"error": ERR, "token": WARNING, "reload": NOTICE, "edit": NOTICE, "decision": INFO, "info": INFO}


def line(priority: int, text: str) -> str:
    """One journal line: the priority prefix, the text on one line."""
    return f"<{priority}>" + " ".join(text.split("\n"))


def summary(snap: Snapshot) -> str:
    classes = snap.decision.classes
    missing = [c for c in classes if c.status == "missing"]
    changed = sum(1 for c in classes if c.changed)
    text = f"tick {snap.tick}: {len(classes)} classes, "
    if missing:
        text += f"{len(missing)} missing goal (" + ", ".join(
            f"{c.name} PI {c.pi:.2f}" for c in missing[:4] if c.pi is not None) + ")"
    else:
        text += "none missing goal"
    worst = max((c for c in classes if c.pi is not None and c.perf.source != "fixed"), key=lambda c: c.pi, default=None)
    if worst is not None and not missing:
        text += f", highest PI {worst.name} {worst.pi:.2f}"
    text += f", {changed} weight change(s), loop {snap.loop_ms:.1f} ms"
    if snap.paused:
        text += ", control paused"
    if snap.dry_run:
        text += ", dry run"
    return text


class JournalWriter:
    """Turns snapshots into journal lines; keeps only what de-duplication needs."""

    def __init__(self, out: TextIO, every: int = 60):
        if every < 1:
            raise ValueError("the summary interval must be at least one tick")
        self.out = out
        self.every = every
        self._errors: set[str] = set()
        self._missing: frozenset[str] | None = None

    def start(self, text: str) -> None:
        self._write([line(INFO, text)])

    def _write(self, lines: list[str]) -> None:
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def lines(self, snap: Snapshot) -> list[str]:
        out = [line(PRIORITY.get(e.kind, INFO), f"{e.kind}: {e.text}") for e in snap.events]
        errors = set(snap.errors)
        event_texts = {e.text for e in snap.events}
        out += [line(WARNING, f"error: {t}") for t in sorted(errors - self._errors) if t not in event_texts]
        out += [line(INFO, f"cleared: {t}") for t in sorted(self._errors - errors)]
        self._errors = errors
        missing = frozenset(c.name for c in snap.decision.classes if c.status == "missing")
        if snap.tick % self.every == 0 or self._missing is None or missing != self._missing:
            out.append(line(INFO, summary(snap)))
        self._missing = missing
        return out

    def __call__(self, snap: Snapshot) -> None:
        self._write(self.lines(snap))
