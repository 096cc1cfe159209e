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
* :mod:`.cli` — ``wlmtui classify`` and ``wlmtui run``;
* :mod:`.commands` — :class:`MoveProcess`, the console's move key.

In the control loop (``ControlLoop(..., classifier=make_classifier(policy,
backend, dry_run=..., events=False if once else None, detail=console))``):

* adopting a policy (load, reload, edit): ``classifier.reconfigure(policy)``
  — the next tick reclassifies every process;
* each tick, before sampling: ``report = classifier.tick(wall_now)``; add
  ``report.event_lines()`` to the tick's events and publish ``report`` in
  the snapshot (``report.to_json(processes=False)`` in headless JSON);
* a queued :class:`MoveProcess`: ``kind, text = apply_move(classifier, c)``
  → an event;
* ``classifier.close()`` when the loop closes (stops the connector thread).

For the console, :class:`ClassifyReport` (frozen) carries per class
(``classes``: :class:`ClassCount` — ``name``, ``count``, ``busiest``) and
per process (``processes``: :class:`ProcessInfo` — ``pid``, ``start``,
``exe``, ``cmdline``, ``cls`` where it is, ``want`` where the rules put it,
``rule`` and ``where`` (policy file:line), ``sticky``, ``state``, ``cpu``).
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
