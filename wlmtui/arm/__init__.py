"""Application Response Measurement (in the manner of ARM 4.0) for wlmtui.

Applications say when transactions start and stop; wlmtui judges
response-time goals on the measured times instead of on CPU pressure.

Application side (never raises, never blocks; see :mod:`wlmtui.arm.client`)::

    import wlmtui.arm

    with wlmtui.arm.transaction("interactive"):
        serve(request)

    h = wlmtui.arm.start("interactive"); ...; h.stop("failed")
    wlmtui.arm.report("interactive", 12.5)            # milliseconds

Shell scripts: ``wlmtui arm report CLASS MILLISECONDS [--status S]``.

wlmtui's side: :class:`wlmtui.arm.receiver.ArmReceiver` (socket and fallback
file → :class:`~wlmtui.arm.receiver.ArmBatch` per drain) and
:class:`wlmtui.arm.attribute.CgroupAttributor` (reports without a class →
the class whose cgroup holds the sender). Wire format:
:mod:`wlmtui.arm.wire`.
"""

from wlmtui.arm.client import (
    Counters,
    Transaction,
    configure,
    counters,
    paths,
    report,
    start,
    transaction,
)
from wlmtui.arm.wire import STATUSES, Completion

__all__ = [
    "STATUSES",
    "Completion",
    "Counters",
    "Transaction",
    "configure",
    "counters",
    "paths",
    "report",
    "start",
    "transaction",
]
