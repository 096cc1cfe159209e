"""The agent side of token budgets: report usage, obey the signal.

Three lines for an agent author::

    from wlmtui import agent

    agent.wait_until_allowed("/run/wlmtui/coder.signal.json", timeout=600)   # before a call
    reply = call_the_model(...)
    agent.record("coder", reply.usage.total_tokens, model="gpt-4o")          # after it

:func:`record` appends one JSON line to the class's counter file with a
single ``O_APPEND`` write (atomic for lines under 4 KiB, so concurrent agents
never interleave). :func:`read_signal` never raises for a missing or garbled
signal file; it reports it as stale and applies the caller's choice:
``fail_open=True`` treats a stale or missing signal as green (keep working
when wlmtui is down), ``fail_open=False`` as red (stop when it is down). A
stale **black** stays black either way: an emergency stop must not lapse
because the daemon that published it died.

Defaults come from the environment when not passed: ``WLMTUI_COUNTER_FILE``
(else ``/run/wlmtui/counters.jsonl``) and ``WLMTUI_AGENT``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

DEFAULT_COUNTER_FILE = "/run/wlmtui/counters.jsonl"
MAX_LINE = 4000  # bytes; below PIPE_BUF-sized appends, which stay whole
ALLOWED = ("green", "yellow")
SIGNALS = ("green", "yellow", "red", "black")


def _counter_file(path: str | None) -> str:
    return path or os.environ.get("WLMTUI_COUNTER_FILE") or DEFAULT_COUNTER_FILE


def format_line(cls: str, tokens: int, model: str | None = None, agent: str | None = None,
                ts: float | None = None) -> bytes:
    """The counter line :func:`record` writes (``ts`` first, ``tokens`` last)."""
    if not isinstance(cls, str) or not cls:
        raise ValueError("cls must be a non-empty class name")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be a whole number ≥ 0, not {tokens!r}")
    moment = time.time() if ts is None else float(ts)
    line: dict[str, Any] = {"ts": round(moment, 3), "class": cls}
    if agent:
        line["agent"] = str(agent)
    if model:
        line["model"] = str(model)
    line["tokens"] = tokens
    data = (json.dumps(line, ensure_ascii=True) + "\n").encode("ascii")
    if len(data) > MAX_LINE:
        raise ValueError(f"counter line of {len(data)} bytes is too long to append atomically (limit {MAX_LINE})")
    return data


def record(cls: str, tokens: int, model: str | None = None, agent: str | None = None,
           counter_file: str | None = None, *, ts: float | None = None) -> None:
    """Append one usage line for ``cls`` to ``counter_file``.

    Raises ``ValueError`` for a bad argument and ``OSError`` when the file
    cannot be written (the directory is created when missing).
    """
    data = format_line(cls, tokens, model, agent or os.environ.get("WLMTUI_AGENT"), ts)
    path = _counter_file(counter_file)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o664)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, flags, 0o664)
    try:
        written = os.write(fd, data)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError(f"short write to {path}: {written} of {len(data)} bytes")


@dataclass(frozen=True, slots=True)
class Signal:
    """What an agent should do now.

    ``signal`` is the effective signal after the staleness rule; ``raw`` is
    what the file said (``"missing"`` / ``"invalid"`` when there was nothing
    usable); ``document`` the whole signal file when it could be read.
    """

    signal: str
    raw: str
    stale: bool
    age_s: float | None = None
    document: dict | None = None
    error: str | None = None

    @property
    def allowed(self) -> bool:
        """True for green and yellow (yellow: skip calls that are not essential)."""
        return self.signal in ALLOWED

    @property
    def retry_after_s(self) -> float | None:
        value = (self.document or {}).get("retry_after_s")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _age(doc: dict, path: str, now: float) -> float | None:
    stamp = doc.get("updated_at")
    if isinstance(stamp, str):
        try:
            return now - datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            pass
    try:
        return now - os.stat(path).st_mtime
    except OSError:
        return None


def read_signal(signal_file: str, max_age_s: float | None = None, fail_open: bool = True, *,
                interval: float = 1.0, now: float | None = None) -> Signal:
    """Read a signal file; never raises.

    A signal older than ``max_age_s`` (default three writer intervals,
    ``3 × interval`` = 3 s) is *stale*: it becomes green with
    ``fail_open=True`` and red with ``fail_open=False`` — except black,
    which stays black.
    """
    limit = 3.0 * interval if max_age_s is None else max_age_s
    moment = time.time() if now is None else now
    fallback = "green" if fail_open else "red"
    try:
        with open(signal_file, "rb") as f:
            raw_bytes = f.read(1 << 16)
    except FileNotFoundError:
        return Signal(fallback, "missing", True, error=f"{signal_file} does not exist")
    except OSError as exc:
        return Signal(fallback, "missing", True, error=f"{signal_file}: {exc.strerror or exc}")
    try:
        doc = json.loads(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    raw = doc.get("signal") if isinstance(doc, dict) else None
    if raw not in SIGNALS:
        return Signal(fallback, "invalid", True, document=doc if isinstance(doc, dict) else None,
                      error=f"{signal_file} is not a signal document")
    age = _age(doc, signal_file, moment)
    stale = age is None or age > limit
    effective = raw if not stale or raw == "black" else fallback
    return Signal(effective, raw, stale, age, doc)


class BudgetWaitTimeout(TimeoutError):
    """:func:`wait_until_allowed` gave up; ``signal`` is the last one read."""

    def __init__(self, signal: Signal, waited: float):
        self.signal = signal
        self.waited = waited
        super().__init__(f"token budget signal still {signal.signal} after {waited:.0f}s")


def wait_until_allowed(signal_file: str, timeout: float | None = None, *, poll_s: float = 1.0,
                       fail_open: bool = True, max_age_s: float | None = None, interval: float = 1.0,
                       sleep: Callable[[float], None] = time.sleep,
                       monotonic: Callable[[], float] = time.monotonic) -> Signal:
    """Block while the signal is red or black; return the signal that allowed the call.

    Raises :class:`BudgetWaitTimeout` (a ``TimeoutError``) after ``timeout``
    seconds (``None`` waits for ever).
    """
    started = monotonic()
    while True:
        sig = read_signal(signal_file, max_age_s, fail_open, interval=interval)
        if sig.allowed:
            return sig
        waited = monotonic() - started
        if timeout is not None and waited >= timeout:
            raise BudgetWaitTimeout(sig, waited)
        pause = poll_s if timeout is None else max(0.0, min(poll_s, timeout - waited))
        sleep(pause)
