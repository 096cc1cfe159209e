"""``wlmtui attach``: the console on a running daemon's snapshot stream.

    wlmtui attach [POLICY | --policy FILE | --state-dir DIR] [--readonly] [--theme NAME]

The socket is ``<state_dir>/control.sock``; the state directory comes from
``--state-dir`` or from the policy (found the way ``wlmtui POLICY`` finds
it). ``wlmtui POLICY`` itself attaches when a daemon already holds the
single-writer lock and answers on its socket.
"""

from __future__ import annotations

import argparse
import sys

from wlmtui.control.client import AttachError, RemoteLoop
from wlmtui.control.server import socket_path


def attach_console(path: str, *, readonly: bool = False, theme: str | None = None) -> int:
    """Run the console on the daemon at socket ``path``; exit code (detaching leaves the daemon running)."""
    try:
        remote = RemoteLoop(path)
    except AttachError as exc:
        print(f"wlmtui: {exc}; start one with `wlmtui --no-ui POLICY`", file=sys.stderr)
        return 1
    return console_on(remote, readonly=readonly, theme=theme)


def console_on(remote: RemoteLoop, *, readonly: bool = False, theme: str | None = None) -> int:
    path = remote.path
    role = "may edit" if remote.role == "edit" else remote.readonly_reason or "read-only"
    remote.notes.append(("info", f"attached to the wlmtui daemon (pid {remote.daemon_pid}) at {path}: {role}; "
                                 "q detaches and leaves it running"))
    from wlmtui.ui.app import run_console

    try:
        return run_console(remote, readonly=readonly or remote.readonly, theme=theme)
    finally:
        remote.close()


def run_attach(argv: list[str]) -> int:
    from wlmtui.cli import UsageError, load_or_report, resolve_policy_path

    p = argparse.ArgumentParser(prog="wlmtui attach",
                                description="Run the console on a running `wlmtui --no-ui` daemon.")
    p.add_argument("policy_pos", nargs="?", metavar="POLICY", help="the daemon's policy (for its state_dir)")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE")
    p.add_argument("--state-dir", metavar="DIR", help="the daemon's state directory (holds control.sock)")
    p.add_argument("--readonly", action="store_true", help="hide every editing action")
    p.add_argument("--theme", metavar="NAME", help="console theme")
    args = p.parse_args(argv)
    if args.state_dir and (args.policy_pos or args.policy_opt):
        raise UsageError("give either --state-dir or a policy, not both")
    state_dir = args.state_dir
    if state_dir is None:
        path = resolve_policy_path(args.policy_opt or args.policy_pos)
        policy = load_or_report(path)
        if policy is None:
            return 1
        state_dir = policy.state_dir
    return attach_console(socket_path(state_dir), readonly=args.readonly, theme=args.theme)
