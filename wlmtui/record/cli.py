"""``wlmtui replay`` and the daemon's side of recording.

    wlmtui replay [POLICY]           the recording in the policy's record dir (state_dir/record)
    wlmtui replay --dir DIR          a record directory
    wlmtui replay ... --at 03:12     start at a time (also '2026-12-08 03:12:00', '-10m', '+5m')
    wlmtui replay ... --list         print the recording's span and segments, no console
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from wlmtui.record.config import resolve_dir


def record_dir(policy, override: str | None = None) -> str:
    return override or resolve_dir(policy.record, policy.state_dir).dir


def start_recorder(policy, directory: str | None = None, demo: bool = False):
    """The daemon's recorder, or None (disabled, the demo without ``--record-dir``, or unwritable: said once)."""
    from dataclasses import replace

    from wlmtui.record.recorder import Recorder
    from wlmtui.record.store import StoreError

    config = resolve_dir(policy.record, policy.state_dir)
    if directory:
        config = replace(config, dir=directory, enabled=True)
    elif demo or not config.enabled:
        return None

    def report(text: str) -> None:
        print(f"wlmtui: {text}", file=sys.stderr, flush=True)

    try:
        return Recorder(config, report=report)
    except StoreError as exc:
        report(f"recording disabled: {exc}")
        return None


def _join_at(argv: list[str]) -> list[str]:
    """``--at -10m`` as ``--at=-10m`` (argparse takes a leading dash for an option)."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--at" and out[i + 1].startswith("-"):
            out[i:i + 2] = [f"--at={out[i + 1]}"]
            break
    return out


def run_replay(argv: list[str]) -> int:
    from wlmtui.cli import fail, load_or_report, resolve_policy_path
    from wlmtui.record.replay import Recording, RecordingError, describe_span, parse_at

    p = argparse.ArgumentParser(prog="wlmtui replay",
                                description="Open the console on what the daemon recorded, with a time cursor.")
    p.add_argument("policy_pos", nargs="?", metavar="POLICY", help="the daemon's policy (its record dir is used)")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE")
    p.add_argument("--dir", metavar="DIR", help="a record directory (instead of the policy's)")
    p.add_argument("--at", metavar="TIME", help="start at 03:12, '2026-12-08 03:12:00', -10m (before the end) "
                                                "or +5m (after the start); default: the end")
    p.add_argument("--list", action="store_true", help="print the recording's span and segments, then exit")
    p.add_argument("--theme", metavar="NAME", help="console theme")
    args = p.parse_args(_join_at(argv))
    if args.dir:
        directory = args.dir
    else:
        policy = load_or_report(resolve_policy_path(args.policy_opt or args.policy_pos))
        if policy is None:
            return 1
        directory = record_dir(policy)
    try:
        rec = Recording(directory)
    except RecordingError as exc:
        return fail(str(exc), 1)
    pos = len(rec) - 1
    if args.at:
        try:
            target = parse_at(args.at, rec.first_wall, rec.last_wall)
        except ValueError as exc:
            return fail(str(exc))
        if not rec.first_wall - 1 <= target <= rec.last_wall + 1:
            fmt = "%Y-%m-%d %H:%M:%S"
            return fail(f"--at {args.at}: {time.strftime(fmt, time.localtime(target))} is outside the recording "
                        f"({describe_span(rec)})")
        pos = rec.seek(target)
    for w in rec.warnings:
        print(f"wlmtui: {w}", file=sys.stderr)
    if args.list:
        from wlmtui.record.store import list_segments

        print(f"{directory}: {describe_span(rec)}")
        for path in list_segments(directory):
            print(f"  {os.path.basename(path)}  {os.path.getsize(path)} bytes")
        return 0
    from wlmtui.ui.replay import run_replay_console

    return run_replay_console(rec, pos, theme=args.theme)
