"""Messages from the loop thread to the console."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from wlmtui.snapshot import Snapshot


@dataclass
class SnapshotReady(Message):
    """A new snapshot is waiting in the app's mailbox.

    Only the newest matters for drawing, so a backlog of these collapses
    into one (``can_replace``); the app still feeds every queued snapshot
    into its history and event log before drawing the newest.
    """

    snapshot: Snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


@dataclass
class LoopStopped(Message):
    """The control loop thread ended with an error; the console stays up."""

    error: str


@dataclass
class LoopNote(Message):
    """A line for the event log from an attached console's link (empty: the link state changed)."""

    kind: str
    text: str
