"""Rule-based classification of processes into service classes (CKRM style).

Modules (imported lazily: ``wlmtui.policy`` imports :mod:`.rules`):

* :mod:`.rules` — the ``classify:`` rules of a class: validation and matching;
* :mod:`.classifier` — :class:`Classifier` (driven by the control loop) and
  its frozen :class:`ClassifyReport`;
* :mod:`.procfs` — reading ``/proc`` cheaply; :mod:`.fake` — an in-memory
  process table for tests and benches;
* :mod:`.placer` — moving a process into its class cgroup(s);
* :mod:`.sticky` — hand placements (``wlmtui run``, the console) the
  classifier leaves alone;
* :mod:`.connector` — the Linux proc connector (exec events);
* :mod:`.cli` — ``wlmtui classify`` and ``wlmtui run``.
"""

from __future__ import annotations

_EXPORTS = {
    "Classifier": "classifier", "ClassifyReport": "classifier", "ClassCount": "classifier",
    "ProcessInfo": "classifier", "Move": "classifier", "AllowSet": "classifier", "descendants_of": "classifier",
    "CgroupPlacer": "placer", "RecordingPlacer": "placer", "placer_for": "placer",
    "PlaceError": "placer", "ProcessGone": "placer",
    "Rule": "rules", "parse_rules": "rules", "first_match": "rules",
    "FileStickyStore": "sticky", "MemoryStickyStore": "sticky",
    "make_classifier": "cli", "MoveProcess": "commands", "apply_move": "commands",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wlmtui.classify' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"wlmtui.classify.{module}"), name)
