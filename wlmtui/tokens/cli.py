"""``wlmtui tokens …`` — what agents and operators call from a shell.

    wlmtui tokens record CLASS N [--model M] [--agent A] [--counter-file F]
    wlmtui tokens status [CLASS] [--json]
    wlmtui tokens stop CLASS [--reason TEXT]
    wlmtui tokens resume CLASS

Each takes ``--policy FILE`` (else ``$WLMTUI_POLICY``, else
``/etc/wlmtui/policy.yaml``); ``record --counter-file F`` needs no policy.
``stop``/``resume`` write the flag file in the policy's ``state_dir`` that a
running loop honours at its next tick. Exit codes: 0 ok, 1 a problem with
the policy or files, 2 a usage mistake; ``status`` exits 3 when any shown
class is red or black (handy in scripts).
"""

from __future__ import annotations

import argparse
import json
import sys

from wlmtui import agent
from wlmtui.policy import Policy, ServiceClass
from wlmtui.tokens import state as store


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wlmtui tokens", description="Token budgets: record usage, show signals, stop/resume.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_policy(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--policy", dest="policy", metavar="FILE", help="service policy (YAML)")
        return sp

    rec = with_policy(sub.add_parser("record", help="append one usage line (what an agent calls)"))
    rec.add_argument("cls", metavar="CLASS")
    rec.add_argument("tokens", metavar="N", type=int)
    rec.add_argument("--model")
    rec.add_argument("--agent")
    rec.add_argument("--counter-file", metavar="FILE", help="write here instead of the class's counter_file")
    st = with_policy(sub.add_parser("status", help="current signals"))
    st.add_argument("cls", metavar="CLASS", nargs="?")
    st.add_argument("--json", action="store_true", help="one JSON object per class")
    stop = with_policy(sub.add_parser("stop", help="emergency stop: the class turns black until resumed"))
    stop.add_argument("cls", metavar="CLASS")
    stop.add_argument("--reason", metavar="TEXT")
    res = with_policy(sub.add_parser("resume", help="release an emergency stop"))
    res.add_argument("cls", metavar="CLASS")
    return p


def _policy(given: str | None) -> Policy | None:
    from wlmtui.cli import load_or_report, resolve_policy_path

    return load_or_report(resolve_policy_path(given))


def _token_class(policy: Policy, name: str) -> ServiceClass:
    from wlmtui.cli import UsageError

    cls = policy.get(name)
    if cls is None or not cls.is_token:
        names = ", ".join(c.name for c in policy.classes if c.is_token) or "none"
        raise UsageError(f"{name!r} is not a token class of this policy (token classes: {names})")
    return cls


def _status_row(cls: ServiceClass, flags: dict) -> dict:
    row: dict = {"class": cls.name, "signal_file": cls.signal_file, "stopped": cls.name in flags}
    if not cls.signal_file:
        row.update(signal="unknown", stale=True, error="no signal_file in the policy")
        return row
    sig = agent.read_signal(cls.signal_file, fail_open=False)
    row.update(signal=sig.raw, stale=sig.stale, age_s=None if sig.age_s is None else round(sig.age_s, 1))
    for key in ("budget_remaining", "budget_total", "window_remaining", "consumption_rate",
                "projected_exhaustion", "retry_after_s", "updated_at"):
        row[key] = (sig.document or {}).get(key)
    if sig.error:
        row["error"] = sig.error
    return row


def _print_table(rows: list[dict]) -> None:
    header = f"{'class':16} {'signal':7} {'remaining/total':>19} {'rate/min':>9} {'exhausts':>9} {'resets in':>9}  note"
    print(header)
    for r in rows:
        rem, tot = r.get("budget_remaining"), r.get("budget_total")
        used = f"{rem}/{tot}" if rem is not None and tot is not None else "-"
        rate = r.get("consumption_rate")
        notes = []
        if r.get("stopped"):
            notes.append("emergency stop")
        if r.get("stale"):
            notes.append("stale" + (f" ({r['age_s']}s old)" if r.get("age_s") is not None else ""))
        if r.get("error"):
            notes.append(r["error"])
        print(f"{r['class'][:16]:16} {str(r.get('signal'))[:7]:7} {used:>19} "
              f"{'-' if rate is None else rate:>9} {str(r.get('projected_exhaustion') or '-'):>9} "
              f"{str(r.get('window_remaining') or '-'):>9}  {'; '.join(notes)}")


def run_tokens(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "record":
        path = args.counter_file
        if path is None:
            policy = _policy(args.policy)
            if policy is None:
                return 1
            path = _token_class(policy, args.cls).counter_file
            if not path:
                print(f"wlmtui: class {args.cls!r} has no counter_file; pass --counter-file", file=sys.stderr)
                return 1
        try:
            agent.record(args.cls, args.tokens, model=args.model, agent=args.agent, counter_file=path)
        except (ValueError, OSError) as exc:
            print(f"wlmtui: {exc}", file=sys.stderr)
            return 1
        return 0
    policy = _policy(args.policy)
    if policy is None:
        return 1
    if args.command in ("stop", "resume"):
        _token_class(policy, args.cls)
        try:
            if args.command == "stop":
                path = store.stop(policy.state_dir, args.cls, args.reason)
                print(f"{args.cls}: emergency stop set ({path}); signal black from the next tick")
            elif store.resume(policy.state_dir, args.cls):
                print(f"{args.cls}: emergency stop released")
            else:
                print(f"{args.cls}: was not stopped")
        except OSError as exc:
            print(f"wlmtui: cannot write the stop flag in {policy.state_dir}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return 0
    classes = [_token_class(policy, args.cls)] if args.cls else [c for c in policy.classes if c.is_token]
    flags = store.stopped_classes(policy.state_dir)
    rows = [_status_row(c, flags) for c in classes]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    elif rows:
        _print_table(rows)
    else:
        print("no token classes in this policy")
    return 3 if any(r.get("signal") in ("red", "black") for r in rows) else 0
