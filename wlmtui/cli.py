"""The ``wlmtui`` command line.

    wlmtui [POLICY]                 console (Textual)
    wlmtui --demo                   console on the built-in simulated host
    wlmtui --no-ui POLICY           headless loop (--json for JSON lines)
    wlmtui check POLICY             validate and list every problem
    wlmtui tokens ...               token budgets (record, status, stop, resume)
    wlmtui classify POLICY          show which class each process would be put in (--json)
    wlmtui run --class NAME -- CMD  start a command inside a class's cgroup (sticky)
    wlmtui attach [POLICY]          console on a running --no-ui daemon (its control socket)
    wlmtui install-unit             write the systemd unit (--dry-run prints it)
    wlmtui replay [POLICY] [--at T] the console on what the daemon recorded, with a time cursor
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

from wlmtui import __version__
from wlmtui.backends.base import BackendError
from wlmtui.policy import Policy, PolicyError, load_policy, parse_policy
from wlmtui.units import parse_duration

DEFAULT_POLICY = "/etc/wlmtui/policy.yaml"
#: subcommand → (module, function taking the remaining arguments)
SUBCOMMANDS = {
    "check": (__name__, "run_check"),
    "tokens": ("wlmtui.tokens.cli", "run_tokens"),
    "classify": ("wlmtui.classify.cli", "run_classify"),
    "run": ("wlmtui.classify.cli", "run_run"),
    "arm": ("wlmtui.arm.cli", "run_arm"),
    "attach": ("wlmtui.control.attach", "run_attach"),
    "install-unit": ("wlmtui.unit", "run_install_unit"),
    "replay": ("wlmtui.record.cli", "run_replay"),
}


class UsageError(Exception):
    """A mistake on the command line: one line to stderr, exit 2."""


def fail(message: str, code: int = 2) -> int:
    print(f"wlmtui: {message}", file=sys.stderr)
    return code


def resolve_policy_path(given: str | None) -> str:
    """``--policy``/positional, then ``$WLMTUI_POLICY``, then the system default."""
    if given:
        return given
    env = os.environ.get("WLMTUI_POLICY")
    if env:
        return env
    if Path(DEFAULT_POLICY).exists():
        return DEFAULT_POLICY
    raise UsageError(
        f"no policy given, $WLMTUI_POLICY is not set and {DEFAULT_POLICY} does not exist; "
        "pass a policy file (see sample_policies/), or try `wlmtui --demo`"
    )


def demo_policy(workdir: str | None = None) -> Policy:
    """The packaged demo policy, with its state (token files) in a private temp dir."""
    text = resources.files("wlmtui.data").joinpath("demo.yaml").read_text(encoding="utf-8")
    state = workdir or tempfile.mkdtemp(prefix="wlmtui-demo-")
    text = text.replace("state_dir: /tmp/wlmtui-demo", f"state_dir: {state}")
    return replace(parse_policy(text, "demo.yaml"), source=None)


def load_or_report(path: str) -> Policy | None:
    try:
        return load_policy(path)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"wlmtui: {len(exc.problems)} problem(s) in {path}; nothing was changed", file=sys.stderr)
        return None


def _interval(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of ticks (1 or more)")
    return int(text)


def main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wlmtui",
        description="Goal-oriented workload manager for Linux with a live console.",
        epilog="Subcommands: `wlmtui check POLICY`, `wlmtui tokens {record,status,stop,resume}`, "
               "`wlmtui classify POLICY`, `wlmtui run --class NAME [--policy P] -- CMD ARGS`, "
               "`wlmtui arm report CLASS MS`, `wlmtui attach [POLICY | --state-dir DIR]`, "
               "`wlmtui install-unit [--dry-run]`, `wlmtui replay [POLICY | --dir DIR] [--at TIME]`. "
               "Policy lookup: POLICY, --policy, $WLMTUI_POLICY, /etc/wlmtui/policy.yaml.",
    )
    p.add_argument("policy_pos", nargs="?", metavar="POLICY", help="service policy (YAML)")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE", help="service policy (YAML)")
    p.add_argument("--demo", action="store_true", help="run on the built-in simulated host with the demo policy")
    p.add_argument("--no-ui", action="store_true", help="headless: one line per class per tick")
    p.add_argument("--json", action="store_true", help="headless: one JSON object per tick")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="headless: serve OpenMetrics/Prometheus metrics here (default: policy's metrics:)")
    p.add_argument("--log", action="store_true",
                   help="headless: journal lines (events, errors, a summary every --log-every ticks); "
                        "chosen by itself when the output is the systemd journal")
    p.add_argument("--log-every", type=_positive_int, metavar="N", help="ticks between --log summaries (default 60)")
    p.add_argument("--once", action="store_true", help="measure one interval, decide, act, print, exit")
    p.add_argument("--dry-run", action="store_true", help="decide but write nothing to cgroups")
    p.add_argument("--interval", type=_interval, metavar="DUR", help="tick interval (default: policy's, else 1s)")
    p.add_argument("--backend", choices=("auto", "v2", "v1", "sim"), help="host backend (default: policy's, else auto)")
    p.add_argument("--cgroup-root", metavar="DIR", help="directory the class cgroups live under (v2 layout); 'delegated': below "
                        "wlmtui's own systemd-delegated cgroup (pure v2, see docs/systemd.md)")
    p.add_argument("--no-create", action="store_true", help="do not create missing class cgroups")
    p.add_argument("--readonly", action="store_true", help="console: hide every editing action")
    p.add_argument("--record-dir", metavar="DIR", help="headless: record every tick here (default: the policy's "
                                                       "record.dir; the demo records only with this)")
    p.add_argument("--no-record", action="store_true", help="headless: do not record (overrides record.enabled)")
    p.add_argument("--theme", metavar="NAME", help="console theme")
    p.add_argument("--version", action="version", version=f"wlmtui {__version__}")
    return p


class SimulatedWall:
    """Wall clock of the simulated host: ``simulation.start`` plus elapsed time."""

    def __init__(self, start: float, clock=None):
        import time

        self.clock = clock or time.monotonic
        self.offset = start - self.clock()

    def __call__(self) -> float:
        return self.offset + self.clock()


def make_arm(policy: Policy, backend):
    """The transaction-report receiver, where response times can matter.

    Not on the simulated host (its applications report by themselves). A
    receiver that cannot bind (no permission, path too long) is reported
    once and the loop runs without it: goals fall back to the PSI proxy.
    """
    if backend.kind == "sim" or not any(c.goal.type in ("response_time", "throughput") for c in policy.classes):
        return None
    from wlmtui.arm.attribute import CgroupAttributor
    from wlmtui.arm.receiver import ArmError, ArmReceiver

    state = policy.state_dir
    try:
        return ArmReceiver(os.path.join(state, "arm.sock"), os.path.join(state, "arm.jsonl"),
                           attribute=CgroupAttributor.from_policy(policy),
                           classes=[c.name for c in policy.classes])
    except ArmError as exc:
        print(f"wlmtui: transaction reports disabled: {exc}", file=sys.stderr)
        return None


def build_loop(args: argparse.Namespace, policy: Policy):
    import time

    from wlmtui.backends.detect import select_backend
    from wlmtui.loop import ControlLoop, ManualClock

    kind = args.backend or policy.backend
    backend = select_backend(kind, policy, cgroup_root=args.cgroup_root,
                             role="observe" if args.dry_run or args.no_create else "daemon")
    clock = ManualClock() if backend.kind == "sim" and args.once else time.monotonic
    wall = time.time
    if backend.kind == "sim" and policy.sim_start is not None:
        wall = SimulatedWall(policy.sim_start, clock)
        backend.wall = wall
    ledger = None
    if any(c.is_token for c in policy.classes):
        from wlmtui.tokens.ledger import TokenLedger

        ledger = TokenLedger(policy, write_signals=not args.dry_run)
    from wlmtui.classify.cli import make_classifier

    classifier = make_classifier(policy, backend, dry_run=args.dry_run, events=False if args.once else None,
                                 detail=not args.no_ui)
    return ControlLoop(policy, backend, tokens=ledger, classifier=classifier, arm=make_arm(policy, backend),
                       dry_run=args.dry_run,
                       create=not args.no_create,
                       interval=args.interval, clock=clock, wall=wall)


def run_main(argv: list[str]) -> int:
    args = main_parser().parse_args(argv)
    if args.json and not args.no_ui and not args.once:
        args.no_ui = True
    if args.once:
        args.no_ui = True
    if args.log or args.log_every:
        args.no_ui = True
    if args.demo:
        policy = demo_policy()
        if args.backend and args.backend != "sim":
            return fail("--demo runs on the simulated host only (drop --backend)")
        args.backend = "sim"
    else:
        path = resolve_policy_path(args.policy_opt or args.policy_pos)
        policy = load_or_report(path)
        if policy is None:
            return 1
    if args.metrics and not args.no_ui:
        return fail("--metrics serves the headless daemon; add --no-ui")
    from wlmtui.lock import LockError, LockHeld, StateLock

    lock = StateLock(policy.state_dir)  # one writer per state directory (see wlmtui.lock)
    try:
        lock.acquire()
    except LockHeld as exc:
        if not args.no_ui:  # the console attaches to the daemon that holds the lock, if it answers
            from wlmtui.control.attach import console_on
            from wlmtui.control.client import AttachError, RemoteLoop
            from wlmtui.control.server import socket_path

            try:
                remote = RemoteLoop(socket_path(policy.state_dir))
            except AttachError:
                return fail(str(exc), 1)
            return console_on(remote, readonly=args.readonly, theme=args.theme)
        return fail(str(exc), 1)
    except LockError as exc:
        if not args.dry_run:
            return fail(str(exc), 1)
        # a dry run writes no cgroup: without a writable state_dir it runs unlocked, and says so
        print(f"wlmtui: dry run without the single-writer lock: {exc}", file=sys.stderr)
    try:
        try:
            loop = build_loop(args, policy)
        except BackendError as exc:
            return fail(str(exc))
        try:
            if args.no_ui:
                return _run_daemon(args, loop, policy)
            from wlmtui.ui.app import run_console

            return run_console(loop, readonly=args.readonly, theme=args.theme)
        finally:
            loop.close()
    finally:
        lock.release()


def _run_daemon(args: argparse.Namespace, loop, policy: Policy) -> int:
    """The headless loop with what a daemon serves beside it: metrics,
    systemd notification, journal lines and (not for ``--once``) the control socket."""
    from contextlib import ExitStack

    from wlmtui import daemon
    from wlmtui.headless import run_headless

    try:
        extras = daemon.setup(metrics_address=args.metrics or policy.metrics, log=args.log,
                              log_every=args.log_every, as_json=args.json, interval=loop.interval)
    except daemon.MetricsError as exc:
        return fail(str(exc))
    for note in extras.notes:
        print(f"wlmtui: warning: {note}", file=sys.stderr)
    if extras.metrics is not None:
        print(f"wlmtui: metrics at {extras.metrics.url}", file=sys.stderr, flush=True)
    with ExitStack() as stack:
        stack.callback(extras.close)
        hooks = list(extras.hooks)
        if not args.once and not args.no_record:
            from wlmtui.record.cli import start_recorder

            recorder = start_recorder(policy, args.record_dir, demo=args.demo)
            if recorder is not None:
                stack.callback(recorder.close)
                hooks.append(recorder.publish)
        if not args.once:
            from wlmtui.control.daemon import serving

            hooks += stack.enter_context(serving(loop))
        return run_headless(loop, as_json=args.json, once=args.once, journal_every=extras.journal_every,
                            hooks=hooks, notifier=extras.notifier)


def run_check(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="wlmtui check", description="Validate a policy; list every problem.")
    p.add_argument("policy_pos", nargs="?", metavar="POLICY")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE")
    args = p.parse_args(argv)
    path = resolve_policy_path(args.policy_opt or args.policy_pos)
    policy = load_or_report(path)
    if policy is None:
        return 1
    print(f"{path}: OK — {policy.summary()}")
    return 0


def _subcommand(name: str):
    """The entry point of a subcommand, imported only when it is used."""
    from importlib import import_module

    module, func = SUBCOMMANDS[name]
    return getattr(import_module(module), func) if module != __name__ else globals()[func]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return _subcommand(argv[0])(argv[1:])
        return run_main(argv)
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
