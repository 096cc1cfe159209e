"""The signal file agents read before each LLM call.

One JSON object, rewritten atomically every tick (so a reader never sees a
half-written file, and ``updated_at`` shows whether the writer is alive)::

    {"version": 1, "class": "llm-agent", "signal": "yellow",
     "budget_remaining": 4500, "budget_total": 10000,
     "window_remaining": "25m", "window_resets_at": "2025-11-22T02:00:00Z",
     "consumption_rate": 220.0, "projected_exhaustion": "in 20m",
     "retry_after_s": null, "updated_at": "2025-11-22T01:35:00Z"}

``signal``, ``budget_remaining``, ``budget_total``, ``window_remaining``,
``consumption_rate`` and ``projected_exhaustion`` keep the names and meanings
of the original wlmd README:

* ``budget_remaining`` / ``budget_total`` — whole tokens (model-weighted).
  ``budget_total`` is the class's effective budget: its own budget, or for a
  pool member the allowance the pool rule gives it; ``budget_remaining`` is
  ``budget_total − consumed``, never below 0.
* ``consumption_rate`` — **tokens per minute** (the README's
  ``10000/hour`` example with 4500 left and exhaustion "in 20m" implies
  about 225/min, matching its ``220.0``), one decimal.
* ``projected_exhaustion`` — ``"in 20m"`` when, at the current rate, the
  budget runs out before the window resets; ``"now"`` when it already has;
  ``null`` when it will not run out in this window.
* ``retry_after_s`` — whole seconds until the window resets, when the signal
  is red (or black from the hard ceiling); ``null`` otherwise (also for an
  operator stop, which only an operator clears).
* ``window_resets_at`` / ``updated_at`` — UTC, ISO 8601 with ``Z``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from typing import Any

from wlmtui.tokens.windows import iso_z
from wlmtui.units import format_duration

VERSION = 1
FIELDS = (
    "version", "class", "signal", "budget_remaining", "budget_total", "window_remaining",
    "window_resets_at", "consumption_rate", "projected_exhaustion", "retry_after_s", "updated_at",
)


def build_document(
    *,
    cls: str,
    signal: str,
    consumed: float,
    budget_total: float,
    window_end: float,
    rate_per_s: float,
    exhaustion_s: float | None,
    retry_after_s: float | None,
    now: float,
) -> dict[str, Any]:
    """The signal document, keys in :data:`FIELDS` order."""
    if exhaustion_s is None:
        exhaustion = None
    elif exhaustion_s <= 0:
        exhaustion = "now"
    else:
        exhaustion = f"in {format_duration(exhaustion_s)}"
    return {
        "version": VERSION,
        "class": cls,
        "signal": signal,
        "budget_remaining": max(0, int(budget_total - consumed)),
        "budget_total": max(0, int(budget_total)),
        "window_remaining": format_duration(max(0.0, window_end - now)),
        "window_resets_at": iso_z(window_end),
        "consumption_rate": round(rate_per_s * 60.0, 1),
        "projected_exhaustion": exhaustion,
        "retry_after_s": None if retry_after_s is None else max(0, math.ceil(retry_after_s)),
        "updated_at": iso_z(now),
    }


def atomic_write(path: str, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix.

    Writes a temporary file in the same directory (created if missing),
    fsyncs it (``durable``), renames it over ``path`` and fsyncs the directory
    (best effort). Raises ``OSError``; the temporary file never stays behind.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


def write_signal(path: str, document: dict[str, Any], *, durable: bool = True) -> None:
    """Write ``document`` atomically as one line of JSON (raises ``OSError``)."""
    atomic_write(path, (json.dumps(document) + "\n").encode("utf-8"), durable=durable)


def read_signal(path: str) -> dict[str, Any]:
    """The signal document at ``path``.

    Raises ``OSError`` (e.g. ``FileNotFoundError``) when it cannot be read and
    ``ValueError`` when it is not a JSON object with a ``signal`` string.
    """
    with open(path, "rb") as f:
        raw = f.read(1 << 16)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON signal document ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("signal"), str):
        raise ValueError(f"{path}: not a signal document (no 'signal' field)")
    return doc
