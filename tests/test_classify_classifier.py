"""The classifier on a fake process table: who is moved, who is left alone,
reclassification on reload and exec, stickiness, the console's move
command, and the report the console reads. Nothing real is touched."""

from __future__ import annotations

import json
import textwrap

import pytest

from wlmtui.classify.classifier import AllowSet, Classifier
from wlmtui.classify.commands import MoveProcess, apply_move
from wlmtui.classify.fake import ROOT_NS, FakeProcTable
from wlmtui.classify.placer import PlaceError, RecordingPlacer
from wlmtui.classify.sticky import MemoryStickyStore
from wlmtui.policy import parse_policy

POLICY = """
service_classes:
  - name: web
    cgroup: web
    goal: {type: velocity, target: 20}
    classify:
      - {exe: nginx}
      - {tag: web}
  - name: batch
    cgroup: batch
    goal: {type: velocity, target: 20}
    classify:
      - {cmdline: 'make|gcc', uid: 1000}
  - name: agents
    type: token
    goal: {target: 10000/hour}
"""

SELF = 99_999  # "wlmtui itself" in the fake table


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def policy(text: str = POLICY):
    return parse_policy(textwrap.dedent(text), "p.yaml")


def make(table: FakeProcTable | None = None, text: str = POLICY, **kw):
    table = table or FakeProcTable()
    placer = RecordingPlacer(table)
    store = kw.pop("sticky", None) or MemoryStickyStore()
    kw.setdefault("own_ns", ROOT_NS)
    clf = Classifier(policy(text), placer, procs=table, sticky=store, events=False, self_pid=SELF, **kw)
    return clf, table, placer, store


def test_new_processes_go_to_the_class_of_their_first_matching_rule():
    clf, t, placer, _ = make()
    nginx = t.spawn("/usr/sbin/nginx")
    gcc = t.spawn("/usr/bin/gcc", cmdline="gcc -O2 x.c", euid=1000)
    gcc_root = t.spawn("/usr/bin/gcc", cmdline="gcc -O2 x.c", euid=0)  # uid does not match: all must
    tagged = t.spawn("/usr/bin/python3", env={"WLM_TAG": "web"})
    other = t.spawn("/usr/bin/vim")
    report = clf.tick(0)
    assert placer.members() == {"web": frozenset({nginx, tagged}), "batch": frozenset({gcc})}
    assert {m.pid: (m.cls, m.rule) for m in report.moved} == {
        nginx: ("web", "web#1 exe=nginx"), tagged: ("web", "web#2 tag=web"),
        gcc: ("batch", "batch#1 cmdline=make|gcc uid=1000")}
    assert report.full and report.new == 5 and report.rules == 3
    by_pid = {p.pid: p for p in report.processes}
    assert gcc_root not in by_pid and other not in by_pid  # unmatched, in no class: not listed
    assert by_pid[tagged].where == "p.yaml:8" and by_pid[tagged].state == "moved"
    # a second tick moves nothing more
    again = clf.tick(1)
    assert again.moved == () and not again.full and again.new == 0


def test_left_alone_kernel_threads_pid1_self_containers_and_out_of_scope():
    t = FakeProcTable()
    t.spawn("/sbin/init", pid=1)
    t.spawn("/usr/sbin/nginx", pid=SELF)  # wlmtui itself, even if a rule matches it
    kthread = t.spawn(None, kernel_thread=True, comm="nginx")
    boxed = t.spawn("/usr/sbin/nginx", ns_depth=2)
    other_cgns = t.spawn("/usr/sbin/nginx", ns=("cgroup:[1]", ROOT_NS[1]))
    unreadable_ns = t.spawn("/usr/sbin/nginx", ns=None)
    outside = t.spawn("/usr/sbin/nginx")
    inside = t.spawn("/usr/sbin/nginx")
    scope = AllowSet(t)
    scope.add(inside)
    for pid in (1, SELF, kthread, boxed, other_cgns, unreadable_ns):
        scope.add(pid)
    clf, _, placer, _ = make(t, scope=scope)
    report = clf.tick(0)
    assert placer.moves == [(inside, "web")]
    states = {p.pid: p.state for p in report.processes}
    assert states[boxed] == "excluded: in a container (its own PID namespace)"
    assert states[other_cgns] == "excluded: in another cgroup namespace"
    assert states[unreadable_ns] == "excluded: namespaces unreadable"
    assert outside not in states and 1 not in states and SELF not in states and kthread not in states


def test_already_in_place_is_not_written_again():
    clf, t, placer, _ = make()
    pid = t.spawn("/usr/sbin/nginx")
    placer.configure({"web": "web", "batch": "batch"})
    placer.where[pid] = ("web", t.procs[pid].start)
    report = clf.tick(0)
    assert placer.moves == [] and report.moved == ()
    assert report.processes[0].state == "in place" and report.classes[0].count == 1


def test_exec_of_a_known_process_reclassifies_it():
    clf, t, placer, _ = make()
    shell = t.spawn("/usr/bin/bash")
    clf.tick(0)
    assert placer.moves == []
    t.exec(shell, "/usr/sbin/nginx", "nginx -g daemon off;")
    report = clf.tick(1)
    assert placer.moves == [(shell, "web")] and report.moved[0].via == "rescan"


def test_exec_event_places_at_once_without_a_tick():
    clf, t, placer, _ = make()
    clf.tick(0)
    pid = t.spawn("/usr/sbin/nginx")
    clf.on_event(pid, "exec event")
    assert placer.moves == [(pid, "web")]
    report = clf.tick(1)  # reported with the next tick, not moved twice
    assert [(m.pid, m.via) for m in report.moved] == [(pid, "exec event")] and placer.moves == [(pid, "web")]


def test_reload_reclassifies_everything_and_unmatched_processes_stay():
    clf, t, placer, _ = make()
    a = t.spawn("/usr/sbin/nginx")
    b = t.spawn("/usr/bin/make", cmdline="make -j8", euid=1000)
    clf.tick(0)
    edited = POLICY.replace("{exe: nginx}", "{exe: apache2}").replace("make|gcc", "make")
    edited = edited.replace("      - {cmdline: 'make', uid: 1000}", "      - {cmdline: 'make', uid: 1000}\n      - {exe: nginx}")
    clf.reconfigure(policy(edited))
    report = clf.tick(1)
    assert report.full
    assert placer.members() == {"web": frozenset(), "batch": frozenset({a, b})}
    assert [(m.pid, m.cls, m.via) for m in report.moved] == [(a, "batch", "policy")]
    # a rule removed: the process matches nothing now and stays where it is
    clf.reconfigure(policy(POLICY.replace("{exe: nginx}", "{exe: apache2}")))
    report = clf.tick(2)
    assert report.moved == () and placer.cls_of(a) == "batch"


def test_sticky_processes_and_their_children_are_left_alone():
    clf, t, placer, store = make()
    run = t.spawn("/usr/sbin/nginx")  # started with `wlmtui run --class batch`
    store.mark(run, t.procs[run].start, "batch", "wlmtui run")
    placer.configure({"web": "web", "batch": "batch"})
    placer.where[run] = ("batch", t.procs[run].start)
    child = t.spawn("/usr/sbin/nginx", ppid=run)
    report = clf.tick(0)
    assert placer.moves == []
    info = {p.pid: p for p in report.processes}
    assert info[run].sticky and info[run].state == "sticky (wlmtui run)" and info[run].cls == "batch"
    assert info[child].sticky and info[child].state == f"sticky (child of {run})"
    # a reload does not undo it
    clf.reconfigure(clf.policy)
    assert clf.tick(1).moved == () and placer.moves == []


def test_a_reused_pid_does_not_inherit_stickiness_and_stale_records_are_pruned():
    clf, t, placer, store = make()
    run = t.spawn("/usr/bin/vim")
    old_start = t.procs[run].start
    store.mark(run, old_start, "batch", "wlmtui run")
    clf.tick(0)
    t.reuse(run, "/usr/sbin/nginx")  # the sticky process exits; a new one gets its PID
    clf.tick(1)
    assert placer.moves == [(run, "web")]
    assert (run, old_start) not in store.records  # pruned: its process is gone


@pytest.mark.parametrize("at_read", range(1, 6))
def test_a_process_that_exits_mid_classification_is_not_an_error(at_read):
    """Reads of one new process: stat, exe, ids, namespaces, then the identity
    check just before the move — exiting at any of them is fine."""
    clf, t, placer, _ = make()
    pid = t.spawn("/usr/sbin/nginx")
    reads = {"n": 0}

    def chaos(p: int) -> None:
        if p == pid:
            reads["n"] += 1
            if reads["n"] == at_read:
                t.exit(pid)

    t.chaos = chaos
    report = clf.tick(0)
    assert placer.moves == [] and report.errors == () and report.moved == ()
    assert reads["n"] >= at_read


def test_a_process_that_exits_during_the_write_is_not_an_error():
    clf, t, placer, _ = make()
    pid = t.spawn("/usr/sbin/nginx")
    placer.check = lambda p, cls: t.exit(p)  # gone when the kernel gets the write: ESRCH
    report = clf.tick(0)
    assert report.errors == () and report.moved == () and placer.moves == []


@pytest.mark.parametrize("at_read", range(1, 6))
def test_a_pid_reused_mid_classification_is_never_moved_on_the_old_process_account(at_read):
    clf, t, placer, _ = make()
    pid = t.spawn("/usr/sbin/nginx")
    state = {"n": 0}

    def chaos(p: int) -> None:
        if p == pid:
            state["n"] += 1
            if state["n"] == at_read:  # nginx exits, vim gets its PID
                t.chaos = None
                t.reuse(pid, "/usr/bin/vim")

    t.chaos = chaos
    placer.check = lambda p, cls: pytest.fail(f"moved {t.procs[p].exe} (pid {p}) to {cls}")
    clf.tick(0)
    clf.tick(1)  # and the new process is classified as itself: vim matches nothing
    assert placer.moves == []
    assert state["n"] >= at_read  # the reuse did happen at that read


def test_run_racing_the_scan_wins():
    class LateStore(MemoryStickyStore):
        def load(self):  # the record appears after the scan loaded the records
            return {}

    clf, t, placer, store = make(sticky=LateStore())
    pid = t.spawn("/usr/sbin/nginx")
    store.mark(pid, t.procs[pid].start, "batch", "wlmtui run")
    report = clf.tick(0)
    assert placer.moves == [] and report.processes[0].sticky


def test_placement_errors_are_reported_once_and_mark_the_process():
    clf, t, placer, _ = make()

    def refuse(pid, cls):
        raise PlaceError(f"{cls}: cannot write /x/cgroup.procs: permission denied (run as root)")

    placer.check = refuse
    a = t.spawn("/usr/sbin/nginx")
    t.spawn("/usr/sbin/nginx")
    report = clf.tick(0)
    assert report.errors == ("web: cannot write /x/cgroup.procs: permission denied (run as root)",)
    assert {p.state for p in report.processes} == {"failed: " + report.errors[0]}
    assert ("error", "classify: " + report.errors[0]) in report.event_lines()
    t.spawn("/usr/sbin/nginx")
    assert clf.tick(1).errors == ()  # the same problem is not repeated every tick
    assert a in {p.pid for p in clf.last.processes}


def test_dry_run_reports_and_moves_nothing():
    clf, t, placer, store = make(dry_run=True)
    pid = t.spawn("/usr/sbin/nginx")
    gone = t.spawn("/usr/bin/vim")
    store.mark(gone, t.procs[gone].start, "batch", "wlmtui run")
    t.exit(gone)
    report = clf.tick(0)
    assert placer.moves == [] and report.dry_run
    assert [(m.pid, m.dry_run) for m in report.moved] == [(pid, True)]
    assert report.moved[0].describe() == f"pid {pid} nginx would move to web: rule web#1 exe=nginx [policy]"
    assert report.processes[0].state == "would move"
    assert store.records  # a dry run does not even prune


def test_move_command_pins_and_releases():
    clf, t, placer, store = make()
    pid = t.spawn("/usr/sbin/nginx")
    clf.tick(0)
    start = t.procs[pid].start
    kind, text = apply_move(clf, MoveProcess(pid, "batch", start))
    assert kind == "edit" and text == f"pid {pid} nginx moved to batch: by hand (sticky) [console]"
    assert placer.cls_of(pid) == "batch" and store.records == {(pid, start): "batch"}
    report = clf.tick(1)
    assert report.processes[0].sticky and report.processes[0].cls == "batch"
    clf.reconfigure(clf.policy)
    clf.tick(2)
    assert placer.cls_of(pid) == "batch"  # a reload leaves a hand placement alone
    kind, text = apply_move(clf, MoveProcess(pid, None))
    assert kind == "edit" and "released" in text and placer.cls_of(pid) == "web" and not store.records


@pytest.mark.parametrize("setup, why", [
    (lambda t: t.spawn("/sbin/init", pid=1), "is PID 1"),
    (lambda t: t.spawn(None, kernel_thread=True), "is a kernel thread"),
    (lambda t: t.spawn("/usr/bin/x", ns_depth=3), "is in a container"),
    (lambda t: 4242, "has exited"),
])
def test_move_command_refusals(setup, why):
    clf, t, placer, _ = make()
    pid = setup(t)
    kind, text = apply_move(clf, MoveProcess(pid, "web"))
    assert kind == "error" and why in text and placer.moves == []


def test_move_command_refuses_a_reused_pid_and_unknown_classes():
    clf, t, placer, _ = make()
    pid = t.spawn("/usr/bin/vim")
    start = t.procs[pid].start
    t.reuse(pid, "/usr/bin/vim")
    assert apply_move(clf, MoveProcess(pid, "web", start)) == (
        "error", f"move to web of pid {pid} refused: PID {pid} now names another process")
    assert apply_move(clf, MoveProcess(pid, "agents"))[1].endswith("no class 'agents' with a cgroup")
    assert placer.moves == []


def test_report_counts_busiest_and_json():
    clock = Clock()
    clf, t, placer, _ = make(clock=clock, top=2)
    pids = [t.spawn("/usr/sbin/nginx") for _ in range(4)]
    child = t.spawn("/usr/bin/sh", ppid=pids[0])  # inherited the cgroup, matches nothing
    clf.tick(0)
    placer.where[child] = ("web", t.procs[child].start)
    for i, pid in enumerate(pids):
        t.procs[pid].cpu += 10 * (i + 1)  # 0.1 … 0.4 cores over 1 s at 100 ticks/s
    clock.t = 1.0
    report = clf.tick(1)
    web, batch = report.classes
    assert (web.name, web.count, batch.count) == ("web", 5, 0) and web.present
    assert [p.pid for p in web.busiest] == [pids[3], pids[2]]
    assert web.busiest[0].cpu == pytest.approx(0.4)
    inherited = next(p for p in report.processes if p.pid == child)
    assert (inherited.cls, inherited.want, inherited.rule, inherited.state) == ("web", None, None, "no rule")
    assert len(report.by_class("web")) == 5
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["classes"][0]["busiest"][0]["pid"] == pids[3] and doc["events"] == "scan only (proc connector off)"


def test_no_rules_no_scan_but_counts_still_reported():
    text = POLICY.replace("    classify:\n      - {exe: nginx}\n      - {tag: web}\n", "")
    text = text.replace("    classify:\n      - {cmdline: 'make|gcc', uid: 1000}\n", "")
    clf, t, placer, _ = make(text=text)
    clf.tick(0)
    pid = t.spawn("/usr/sbin/nginx")
    placer.where[pid] = ("web", t.procs[pid].start)
    t.reads = 0
    report = clf.tick(1)
    assert report.rules == 0 and report.scanned == 0 and report.classes[0].count == 1
    assert t.reads <= 4  # only the member's stat (and its exe/cmdline once)


def test_parents_before_children_in_one_tick():
    clf, t, placer, store = make()
    # the child has a lower PID than its parent (PIDs wrapped) but started later
    parent = t.spawn("/usr/sbin/nginx", pid=500)
    child = t.spawn("/usr/sbin/nginx", pid=300, ppid=parent)
    store.mark(parent, t.procs[parent].start, None, "wlmtui run (wrapper)")
    clf.tick(0)
    assert placer.moves == []  # the child inherited stickiness although it was listed first


def test_a_run_process_matching_no_rule_is_sticky_and_so_are_its_children():
    clf, t, placer, store = make()
    make_ = t.spawn("/usr/bin/make")  # `wlmtui run --class web -- make`, seen before its record
    clf.tick(0)
    store.mark(make_, t.procs[make_].start, "web", "wlmtui run")
    clf.tick(1)
    gcc = t.spawn("/usr/bin/gcc", cmdline="gcc -c x.c", euid=1000, ppid=make_)  # matches batch
    report = clf.tick(2)
    assert placer.moves == []
    info = {p.pid: p for p in report.processes}
    assert info[make_].sticky and info[gcc].sticky and info[gcc].state == f"sticky (child of {make_})"


def test_exec_event_of_a_run_process_sees_its_fresh_record():
    clf, t, placer, store = make()
    clf.tick(0)
    pid = t.spawn("/usr/bin/make")  # matches no rule; its record was written just before exec
    store.mark(pid, t.procs[pid].start, "batch", "wlmtui run")
    clf.on_event(pid)
    child = t.spawn("/usr/sbin/nginx", ppid=pid)
    clf.on_event(child)
    assert placer.moves == []
