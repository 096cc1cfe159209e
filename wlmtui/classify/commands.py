"""The console's move key, as a command for the loop thread.

The console never moves a process itself: it sends :class:`MoveProcess`
through ``ControlLoop.send`` and the loop applies it at the start of its
next tick with :func:`apply_move`, so the loop thread stays the only writer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MoveProcess:
    """Put process ``pid`` into class ``cls`` by hand (sticky); ``cls=None``
    releases a hand placement so the rules apply again. ``start`` (from
    :class:`~wlmtui.classify.classifier.ProcessInfo`) makes sure the PID
    still names the process the operator chose."""

    pid: int
    cls: str | None
    start: int | None = None


def apply_move(classifier, command: MoveProcess) -> tuple[str, str]:
    """Carry out a :class:`MoveProcess`; ``(event kind, text)`` for the log."""
    try:
        if command.cls is None:
            return "edit", classifier.unpin(command.pid)
        return "edit", classifier.pin(command.pid, command.cls, start=command.start)
    except ValueError as exc:
        what = "release" if command.cls is None else f"move to {command.cls}"
        return "error", f"{what} of pid {command.pid} refused: {exc}"
