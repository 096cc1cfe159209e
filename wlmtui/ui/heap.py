"""The console's long-lived heap, kept out of the garbage collector's way.

Once the first snapshot is drawn, almost everything the process holds
(Textual's DOM and styles, themes, the policy, the loop) lives until exit.
Python's full (generation 2) collection walks every tracked object, so with
that heap one costs about 40 ms, and one that lands in a tick makes that
tick several times slower than the rest. :func:`freeze` moves the objects that
exist now to the permanent generation the collector skips; later full
collections walk only what was allocated since. :func:`thaw` (at exit) puts
them back, so a process that goes on (the tests) leaks nothing.
"""

from __future__ import annotations

import gc

_frozen = 0  # apps that froze and have not thawed


def freeze() -> None:
    global _frozen
    gc.collect()  # what is garbage now should not be frozen with the rest
    gc.freeze()
    _frozen += 1


def thaw() -> None:
    global _frozen
    if _frozen:
        _frozen -= 1
        if not _frozen:
            gc.unfreeze()
