"""Token budgets for LLM agents: counters in, signal files out.

Agents append one JSON line per LLM call to a counter file
(:func:`wlmtui.agent.record`) and read a signal file before the next call
(:func:`wlmtui.agent.read_signal`). This package sits in between. It is pure
and clock-injected: every decision takes ``now`` as an argument.

Modules
    :mod:`~wlmtui.tokens.parse`        counter lines → usage (fast path + json fallback)
    :mod:`~wlmtui.tokens.tailer`       follow one counter file (offset, inode, rotation, truncation)
    :mod:`~wlmtui.tokens.windows`      calendar-aligned hour/day/week/month windows, any IANA zone
    :mod:`~wlmtui.tokens.budget`       burn rate, projection, signal and pool rules, token PI
    :mod:`~wlmtui.tokens.signal_file`  the signal document and its atomic write
    :mod:`~wlmtui.tokens.state`        persisted offsets + consumption; emergency-stop flags
    :mod:`~wlmtui.tokens.ledger`       :class:`TokenLedger`, the one object the loop calls
    :mod:`~wlmtui.tokens.cli`          ``wlmtui tokens record|status|stop|resume``

How the loop uses it (the loop thread is the only caller)::

    from wlmtui.tokens import TokenLedger

    ledger = TokenLedger(policy)                 # state_dir from the policy; restores offsets/consumption
    ...
    statuses = ledger.tick(now)                  # once per tick (wall-clock epoch seconds); never raises
    # -> dict[class_name, TokenStatus] for every class with goal type "token";
    #    TokenStatus.pi is the class's PI, TokenStatus.to_json() the --json form
    ...
    ledger.set_stop(name, True / False)          # the console's emergency stop / release
    ledger.reconfigure(new_policy)               # SIGHUP reload / console edit, before the next tick
    ledger.close()                               # SIGTERM: persist and release file descriptors

``TokenStatus`` (frozen) carries: ``signal``, ``consumed`` (model-weighted)
and ``tokens`` (raw) in this window, ``budget`` (own), ``allowance`` (own
budget, or what the pool rule grants), ``remaining``, ``rate_per_s`` /
``rate_per_min``, ``projected``, ``pi``, ``window``, ``window_start`` /
``window_end`` / ``window_remaining``, ``exhaustion_in``, ``retry_after_s``,
``importance``, ``pool``, ``stopped`` / ``stop_reason``, ``late_tokens``,
``malformed`` / ``unknown`` (running totals of its counter file),
``counter_file``, ``signal_file``, ``last_error`` and ``updated_at``.

``tick(now, injected=...)`` also accepts :class:`~wlmtui.tokens.parse.Usage`
values that did not come from a file. ``TokenLedger.files`` gives a
:class:`FileStatus` per counter file (offset, malformed/unknown totals and
the unknown class names, last rotation/truncation, errors).

Command line and console (any process, while the loop runs)::

    from wlmtui.tokens import stop, resume, stopped_classes
    stop(policy.state_dir, "llm-agent", reason="runaway")   # black from the next tick on
    resume(policy.state_dir, "llm-agent")                    # back to the normal rules
    read_signal(cls.signal_file)                             # `wlmtui tokens status`

Per tick the ledger: rolls each class's window (a restart may cross several),
polls each distinct counter file once (classes may share a file; records go
to the class named in their ``class`` field, others count as unknown), adds
the model-weighted tokens, updates the burn rate, applies the pool rule and
the signal rules with hysteresis, honours stop flags, rewrites every signal
file (always, so a stale ``updated_at`` shows the loop has stopped), then
saves offsets and consumption in one atomic write.
"""

from wlmtui.tokens.budget import BudgetState, allowances, classify
from wlmtui.tokens.ledger import FileStatus, TokenLedger, TokenStatus
from wlmtui.tokens.parse import Usage
from wlmtui.tokens.signal_file import read_signal, write_signal
from wlmtui.tokens.state import StopFlag, resume, stop, stopped_classes
from wlmtui.tokens.tailer import CounterTailer, PollResult
from wlmtui.tokens.windows import window_bounds

__all__ = [
    "BudgetState", "CounterTailer", "FileStatus", "PollResult", "StopFlag", "TokenLedger", "TokenStatus",
    "Usage", "allowances", "classify", "read_signal", "resume", "stop", "stopped_classes",
    "window_bounds", "write_signal",
]
