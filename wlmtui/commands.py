"""Operator edits, as values sent to the loop thread.

The console (or a signal handler) puts commands on the loop's queue; the
loop applies them at the start of its next tick, so it stays the only
writer of engine state.
"""

from __future__ import annotations

from dataclasses import dataclass

from wlmtui.policy import Policy, ServiceClass


@dataclass(frozen=True, slots=True)
class UpdateClass:
    """Replace one class's settings (gains, importance, weights, goal …)."""

    cls: ServiceClass


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    weight: int | None  # None releases the pin


@dataclass(frozen=True, slots=True)
class Pause:
    paused: bool


@dataclass(frozen=True, slots=True)
class Reload:
    """Re-read the policy file from disk (a bad file keeps the old policy)."""


@dataclass(frozen=True, slots=True)
class ReplacePolicy:
    """Adopt an already validated policy (``saved`` clears the unsaved mark)."""

    policy: Policy
    saved: bool = False


@dataclass(frozen=True, slots=True)
class EmergencyStop:
    name: str
    stop: bool  # True: black until released


Command = UpdateClass | Pin | Pause | Reload | ReplacePolicy | EmergencyStop
