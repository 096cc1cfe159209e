"""``wlmtui classify`` (preview the rules) and ``wlmtui run`` (start a command
inside a class, like ``cgexec`` or ``systemd-run --scope``).

``wlmtui run --class NAME [--policy P] -- CMD ARGS…`` forks; the child
records itself as sticky in ``<state_dir>/sticky`` (so the classifier
leaves it and its descendants alone), writes its own PID to the class
cgroup's ``cgroup.procs`` (in both hierarchies on a hybrid host), then
execs the command. The parent re-asserts the placement (in case a scan
raced the child), forwards SIGTERM/SIGHUP/SIGUSR1/SIGUSR2, waits, removes
the records and exits with the command's exit code (128+N when it was
killed by signal N). Like ``env``/``timeout``: 125 when wlmtui itself
failed, 126 when the command could not be run, 127 when it was not found.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys

from wlmtui.backends.base import BackendError
from wlmtui.classify.classifier import MEMBERS_EVERY, Classifier, ClassifyReport
from wlmtui.classify.placer import CgroupPlacer, PlaceError, ProcessGone, RecordingPlacer, placer_for
from wlmtui.classify.procfs import own_start
from wlmtui.classify.sticky import FileStickyStore

EXIT_FAILED, EXIT_CANNOT_RUN, EXIT_NOT_FOUND = 125, 126, 127
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def make_classifier(policy, backend, *, dry_run: bool = False, events: bool | None = None,
                    detail: bool = True) -> Classifier | None:
    """The loop's classifier for ``backend`` (``None`` on the simulated host,
    which has no processes to place). ``events=False`` for ``--once``;
    ``detail=False`` headless (counts and moves only, no per-process CPU)."""
    placer = placer_for(backend)
    if placer is None:
        return None
    return Classifier(policy, placer, dry_run=dry_run, events=events, detail=detail, members_every=MEMBERS_EVERY)


def _policy(given: str | None):
    from wlmtui.cli import load_or_report, resolve_policy_path

    path = resolve_policy_path(given)
    return load_or_report(path)


def _backend(policy, kind: str | None, cgroup_root: str | None):
    from wlmtui.backends.detect import select_backend

    return select_backend(kind or policy.backend, policy, cgroup_root=cgroup_root)


# ---------------------------------------------------------------- classify

def classify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wlmtui classify",
        description="Show which class each process would be put in by the policy's classify rules, "
                    "and the rule that matched. Moves nothing.")
    p.add_argument("policy_pos", nargs="?", metavar="POLICY", help="service policy (YAML)")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE", help="service policy (YAML)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--all", action="store_true", help="also list processes already in a class cgroup that no rule matches")
    p.add_argument("--backend", choices=("auto", "v2", "v1"), help="where class cgroups are (default: policy's, else auto)")
    p.add_argument("--cgroup-root", metavar="DIR", help="directory the class cgroups live under (v2 layout)")
    return p


def preview(policy, backend=None) -> ClassifyReport:
    """One read-only classification of every process on the host."""
    placer = placer_for(backend) if backend is not None else None
    classifier = Classifier(policy, placer or RecordingPlacer(), events=False, dry_run=True)
    try:
        return classifier.tick()
    finally:
        classifier.close()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_preview(report: ClassifyReport, *, show_all: bool = False, located: bool = True) -> str:
    rows = [p for p in report.processes if p.want is not None or p.rule is not None or (show_all and p.cls)]
    lines = []
    if rows:
        where = lambda p: os.path.basename(p.where) if p.where else ("sticky" if p.sticky else "-")  # noqa: E731
        state = lambda p: (p.state.replace("excluded: ", "left alone: ") if located or p.state != "would move"  # noqa: E731
                           else "matches")
        rule = lambda p: p.rule or ("placed by hand" if p.sticky else "(no rule)")  # noqa: E731
        widths = [max([len(h)] + [len(f(p)) for p in rows]) for h, f in (
            ("CLASS", lambda p: p.want or p.cls or "-"), ("STATE", state), ("RULE", rule), ("AT", where))]
        widths = [min(w, cap) for w, cap in zip(widths, (20, 36, 40, 24))]
        cw, sw, rw, ww = widths
        lines.append(f"{'PID':>7}  {'CLASS':<{cw}}  {'STATE':<{sw}}  {'RULE':<{rw}}  {'AT':<{ww}}  COMMAND")
        for p in rows:
            lines.append(f"{p.pid:>7}  {_short(p.want or p.cls or '-', cw):<{cw}}  {_short(state(p), sw):<{sw}}  "
                         f"{_short(rule(p), rw):<{rw}}  {_short(where(p), ww):<{ww}}  "
                         f"{_short(p.cmdline or p.exe or '?', 70)}")
    else:
        lines.append("no process matches a classify rule" if report.rules else "the policy has no classify rules")
    matched = [p for p in report.processes if p.rule is not None]
    per_class: dict[str, int] = {}
    for p in matched:
        per_class[p.want] = per_class.get(p.want, 0) + 1
    moving = sum(1 for p in matched if p.state == "would move")
    sticky = sum(1 for p in report.processes if p.sticky)
    detail = ", ".join(f"{k} {v}" for k, v in per_class.items())
    summary = f"{report.scanned} processes scanned, {len(matched)} match a rule{f' ({detail})' if detail else ''}"
    if located:
        summary += f", {moving} would be moved"
    if sticky:
        summary += f", {sticky} placed by hand (sticky) left alone"
    lines.append(summary)
    return "\n".join(lines)


def run_classify(argv: list[str]) -> int:
    args = classify_parser().parse_args(argv)
    policy = _policy(args.policy_opt or args.policy_pos)
    if policy is None:
        return 1
    backend = None
    note = None
    try:
        backend = _backend(policy, args.backend, args.cgroup_root)
        if backend.kind == "sim":
            backend, note = None, "the policy's backend is the simulated host: current cgroups not shown"
    except BackendError as exc:
        note = f"class cgroups not found ({exc}); showing matches only"
    try:
        report = preview(policy, backend)
    finally:
        if backend is not None:
            backend.close()
    if args.json:
        doc = report.to_json()
        doc["located"] = backend is not None
        doc["matches"] = [p.to_json() for p in report.processes if p.rule is not None or p.sticky]
        print(json.dumps(doc, indent=None))
        return 0
    if note:
        print(f"wlmtui: {note}", file=sys.stderr)
    if os.geteuid() != 0:
        print("wlmtui: not root: other users' processes may not be fully inspected", file=sys.stderr)
    print(format_preview(report, show_all=args.all, located=backend is not None))
    return 0


# ---------------------------------------------------------------- run

def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wlmtui run",
        usage="wlmtui run --class NAME [--policy P] -- CMD [ARGS...]",
        description="Start a command inside a service class's cgroup (like cgexec or systemd-run --scope). "
                    "The process is sticky: the classifier leaves it and its children where they are. "
                    "Exit status: the command's; 125 if wlmtui failed, 126 if the command cannot run, "
                    "127 if it was not found.")
    p.add_argument("--class", dest="cls", required=True, metavar="NAME", help="the service class to run in")
    p.add_argument("--policy", dest="policy_opt", metavar="FILE", help="service policy (YAML)")
    p.add_argument("--backend", choices=("auto", "v2", "v1"), help="cgroup backend (default: policy's, else auto)")
    p.add_argument("--cgroup-root", metavar="DIR", help="directory the class cgroups live under (v2 layout)")
    p.add_argument("--no-create", action="store_true", help="fail if the class cgroup does not exist yet")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD", help="the command and its arguments")
    return p


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"wlmtui run: {message}", file=sys.stderr)
    return code


def _prepare(args) -> tuple[CgroupPlacer, FileStickyStore, str] | int:
    policy = _policy(args.policy_opt)
    if policy is None:
        return EXIT_FAILED
    cls = policy.get(args.cls)
    usable = [c.name for c in policy.classes if c.cgroup]
    if cls is None or not cls.cgroup:
        why = "is not a class of this policy" if cls is None else "has no cgroup"
        return _fail(f"{args.cls!r} {why}; classes with a cgroup: {', '.join(usable) or 'none'}")
    try:
        backend = _backend(policy, args.backend, args.cgroup_root)
    except BackendError as exc:
        return _fail(str(exc))
    try:
        placer = placer_for(backend)
        if placer is None:
            return _fail("the policy's backend is the simulated host; run needs real cgroups (--backend auto)")
        try:
            warnings = backend.attach({cls.name: cls.cgroup}, create=not args.no_create)
        except BackendError as exc:
            return _fail(str(exc))
        missing = [w for w in warnings if "does not exist" in w]
        if missing:
            return _fail(missing[0])
    finally:
        backend.close()
    problems = placer.configure({cls.name: cls.cgroup})
    if problems:
        return _fail(problems[0])
    store = FileStickyStore(policy.state_dir)
    try:
        os.makedirs(store.dir, mode=0o755, exist_ok=True)
        if not os.access(store.dir, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as exc:
        return _fail(f"cannot record the placement in {store.dir}: {(exc.strerror or str(exc)).lower()} "
                     "(state_dir in the policy; run as root?)")
    return placer, store, cls.name


def _child(placer: CgroupPlacer, store: FileStickyStore, cls: str, command: list[str], report_fd: int) -> None:
    """In the forked child: record, move, exec. Never returns."""
    code, stage = EXIT_FAILED, "prepare"
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT) + FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        pid = os.getpid()
        stage = "record"
        store.mark(pid, own_start(), cls, "wlmtui run", command)
        stage = "move"
        placer.place(pid, cls)
        stage = "exec"
        os.execvp(command[0], command)
    except BaseException as exc:  # noqa: BLE001 - the child must never return into wlmtui
        if stage == "exec" and isinstance(exc, OSError):
            code = EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_CANNOT_RUN
            message = f"{command[0]}: {(exc.strerror or str(exc)).lower()}"
        elif stage == "record":
            message = f"cannot record the placement: {exc}"
        else:
            message = str(exc)
        try:
            os.write(report_fd, f"{code}\0{message}".encode(errors="replace"))
        finally:
            os._exit(code)


def run_run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        return _fail("no command given (wlmtui run --class NAME -- CMD ARGS…)", 2)
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    placer, store, cls = prepared
    wrapper = (os.getpid(), own_start())
    try:
        store.mark(*wrapper, None, "wlmtui run (wrapper)", command)  # leave the wrapper alone too
    except OSError as exc:
        return _fail(f"cannot record the placement in {store.dir}: {exc}")
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(placer, store, cls, command, write_fd)
    os.close(write_fd)
    child_start = None
    try:
        failure = _read_all(read_fd)
        if not failure:
            # The child is ours and not yet waited for: its PID cannot be reused.
            try:
                placer.place(pid, cls)
            except (ProcessGone, PlaceError):
                pass
        previous = {sig: signal.signal(sig, lambda s, _f: _forward(pid, s)) for sig in FORWARDED}
        ignored = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
        try:
            child_start = _start_of(pid)
            _, status = os.waitpid(pid, 0)
        finally:
            for sig, handler in {**previous, **ignored}.items():
                signal.signal(sig, handler)
    finally:
        os.close(read_fd)
        store.remove(*wrapper)
        if child_start is not None:
            store.remove(pid, child_start)
    if failure:
        code_text, _, message = failure.decode(errors="replace").partition("\0")
        print(f"wlmtui run: {message}", file=sys.stderr)
        return int(code_text) if code_text.isdigit() else EXIT_FAILED
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _start_of(pid: int) -> int | None:
    from wlmtui.classify.procfs import ProcFS

    st = ProcFS().stat(pid)
    return None if st is None else st.start


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
