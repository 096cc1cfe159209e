"""``wlmtui arm …`` — transaction reports from shell scripts.

    wlmtui arm report CLASS MILLISECONDS [--status S] [--policy P]
    wlmtui arm status [--policy P] [--json]

``report`` sends one completed transaction the way the Python API does
(socket, else the fallback file). ``CLASS`` ``-`` leaves the class to
wlmtui, which attributes the report by the cgroup of the calling shell (the
parent of this command). Paths: the policy's ``state_dir`` when ``--policy``
is given, else ``$WLMTUI_ARM_SOCKET`` / ``$WLMTUI_ARM_FILE``, else
``/var/lib/wlmtui``. ``report`` exits 0 whether or not wlmtui is running and
prints nothing; a bad argument is one line on stderr and exit 2.

``status`` says whether a receiver is bound to the socket (exit 0) or not
(exit 1), and how big the fallback file is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import stat
import sys

from wlmtui.arm import client
from wlmtui.arm.wire import MAX_MS, STATUSES


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints the whole usage)
        raise _Usage(message)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not math.isfinite(value) or not 0.0 <= value < MAX_MS:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of milliseconds, 0 up to one day")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wlmtui arm", description="Transaction reports (ARM): report one, or show the receiver.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser("report", help="report one completed transaction (exit 0 even when wlmtui is down)")
    rep.add_argument("cls", metavar="CLASS", help="service class; '-' lets wlmtui attribute it by cgroup")
    rep.add_argument("ms", metavar="MILLISECONDS", type=_milliseconds, help="response time in milliseconds")
    rep.add_argument("--status", default="good", choices=STATUSES, help="ARM status (default good)")
    rep.add_argument("--policy", metavar="FILE", help="use this policy's state_dir")
    st = sub.add_parser("status", help="is a receiver bound to the socket? (exit 0 yes, 1 no)")
    st.add_argument("--policy", metavar="FILE", help="use this policy's state_dir")
    st.add_argument("--json", action="store_true", help="one JSON object")
    return p


def _state_dir(policy_path: str | None) -> str | None:
    if not policy_path:
        return None
    from wlmtui.policy import PolicyError, load_policy

    try:
        return load_policy(policy_path).state_dir
    except PolicyError as exc:
        raise _Usage(f"{policy_path}: {len(exc.problems)} problem(s) in the policy (see `wlmtui check`)") from None
    except OSError as exc:
        raise _Usage(f"{policy_path}: {(exc.strerror or str(exc)).lower()}") from None


def _report(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args.policy)
    if state_dir:
        client.configure(state_dir=state_dir)
    if args.cls == "-":
        # this process exits at once: attribute by the caller (the shell), which lives on
        line = b'{"ms":%.3f%s,"pid":%d}\n' % (args.ms, client.STATUS_TAIL[args.status], os.getppid())
        try:
            client._channel.send_line(line)  # the API's delivery (socket, else file); the line names its pid
        except Exception:  # noqa: BLE001 - never fail a script because of a report
            pass
        return 0
    if not args.cls:
        raise _Usage("CLASS must not be empty (use '-' to let wlmtui attribute the report)")
    client.report(args.cls, args.ms, args.status)
    return 0


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args.policy)
    sock_path, file_path = client.default_paths(state_dir)
    try:
        st = os.lstat(sock_path)
        if not stat.S_ISSOCK(st.st_mode):
            sock_state = "not a socket"
        else:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                probe.connect(sock_path)
                sock_state = "live"
            except OSError:
                sock_state = "stale (no receiver)"
            finally:
                probe.close()
    except FileNotFoundError:
        sock_state = "absent (wlmtui is not receiving)"
    except OSError as exc:
        sock_state = f"unreadable: {(exc.strerror or str(exc)).lower()}"
    try:
        size: int | None = os.stat(file_path).st_size
    except OSError:
        size = None
    if args.json:
        print(json.dumps({"socket": sock_path, "socket_state": sock_state.split(" ")[0], "fallback_file": file_path,
                          "fallback_bytes": size, "fallback_limit": client.FALLBACK_LIMIT}))
    else:
        print(f"socket   {sock_path}: {sock_state}")
        if size is None:
            print(f"fallback {file_path}: absent")
        else:
            full = " (over the limit: reports are being dropped)" if size > client.FALLBACK_LIMIT else ""
            print(f"fallback {file_path}: {size} bytes{full}")
    return 0 if sock_state == "live" else 1


def run_arm(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "report":
            return _report(args)
        return _status(args)
    except _Usage as exc:
        print(f"wlmtui arm: {exc}", file=sys.stderr)
        return 2
