"""PID-reuse safety, as a hypothesis state machine on a fake process table
with a tiny PID space (PIDs come back all the time).

Processes spawn, exec, exit, have their PID reused — also *in the middle
of* a classification (``chaos``) — get started "by hand" with
``wlmtui run`` (sticky), and policies are swapped. Checked at every move:

* the process the PID names *at the moment of the write* is the one the
  rules chose that class for (never a newcomer on an old process's
  account), and it is not sticky;

and after every tick without chaos:

* every live, non-sticky process that a rule matches is in its class;
* every sticky process is still where ``wlmtui run`` put it, and a PID
  reused after a sticky process exited does not inherit its stickiness.
"""

from __future__ import annotations

import textwrap

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wlmtui.classify.classifier import Classifier, _View
from wlmtui.classify.fake import ROOT_NS, FakeProcTable
from wlmtui.classify.placer import RecordingPlacer
from wlmtui.classify.rules import first_match, ordered_rules
from wlmtui.classify.sticky import MemoryStickyStore
from wlmtui.policy import parse_policy

SELF = 10_000
EXES = ["/usr/sbin/nginx", "/usr/bin/make", "/usr/bin/vim", "/usr/bin/python3"]


def _policy(web_exe: str, batch_exe: str):
    return parse_policy(textwrap.dedent(f"""
        service_classes:
          - name: web
            cgroup: web
            goal: {{type: velocity, target: 20}}
            classify: [{{exe: {web_exe}}}, {{tag: web}}]
          - name: batch
            cgroup: batch
            goal: {{type: velocity, target: 20}}
            classify: [{{exe: {batch_exe}}}, {{uid: 1000, exe: python3}}]
    """), "p.yaml")


POLICIES = [_policy("nginx", "make"), _policy("make", "nginx"), _policy("vim", "python3")]


class PidReuse(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = FakeProcTable(pid_max=12)  # PIDs 2..11
        self.placer = RecordingPlacer(self.table)
        self.store = MemoryStickyStore()
        self.policy = POLICIES[0]
        self.placer.check = self.check_move
        self.clf = Classifier(self.policy, self.placer, procs=self.table, sticky=self.store, events=False,
                              self_pid=SELF, own_ns=ROOT_NS)
        self.stale: set[tuple[int, int]] = set()  # exec'd without a new exe: not re-read without the connector
        self.run_class: dict[tuple[int, int], str] = {}

    # -- the check at every move
    def identity(self, pid: int) -> tuple[int, int] | None:
        p = self.table.procs.get(pid)
        return None if p is None else (pid, p.start)

    def expected(self, pid: int) -> str | None:
        match = first_match(ordered_rules(self.policy.classes), _View(self.table, pid))
        return None if match is None else match[0]

    def check_move(self, pid: int, cls: str) -> None:
        chaos, self.table.chaos = self.table.chaos, None  # the check itself must not cause reuse
        try:
            key = self.identity(pid)
            assert key is not None, f"moved pid {pid}, which names no process"
            assert key not in self.store.records, f"moved sticky process {key}"
            if key not in self.stale:
                assert self.expected(pid) == cls, f"moved {self.table.procs[pid].exe} (pid {pid}) to {cls}"
        finally:
            self.table.chaos = chaos

    # -- the world
    @precondition(lambda self: len(self.table.procs) < 9)
    @rule(exe=st.sampled_from(EXES), tag=st.sampled_from([None, "web", "other"]), uid=st.sampled_from([0, 1000]))
    def spawn(self, exe, tag, uid):
        self.table.spawn(exe, env={"WLM_TAG": tag} if tag else {}, euid=uid)

    @precondition(lambda self: self.table.procs)
    @rule(data=st.data(), exe=st.sampled_from(EXES))
    def exec(self, data, exe):
        pid = data.draw(st.sampled_from(sorted(self.table.procs)))
        if self.table.procs[pid].exe == exe:
            self.stale.add(self.identity(pid))
        self.table.exec(pid, exe)

    @precondition(lambda self: self.table.procs)
    @rule(data=st.data())
    def exit(self, data):
        self.table.exit(data.draw(st.sampled_from(sorted(self.table.procs))))

    @precondition(lambda self: self.table.procs)
    @rule(data=st.data(), exe=st.sampled_from(EXES))
    def reuse(self, data, exe):
        self.table.reuse(data.draw(st.sampled_from(sorted(self.table.procs))), exe)

    @precondition(lambda self: len(self.table.procs) < 9)
    @rule(exe=st.sampled_from(EXES), cls=st.sampled_from(["web", "batch"]))
    def wlmtui_run(self, exe, cls):
        """A process started with `wlmtui run --class cls`: recorded, placed."""
        pid = self.table.spawn(exe)
        key = self.identity(pid)
        self.store.mark(*key, cls, "wlmtui run")
        self.placer.where[pid] = (cls, key[1])
        self.run_class[key] = cls

    @rule(index=st.integers(0, len(POLICIES) - 1))
    def reload(self, index):
        self.policy = POLICIES[index]
        self.clf.reconfigure(self.policy)
        self.stale.clear()  # a reload reads every process again

    def _chaos(self, data):
        """Exit or PID reuse at some reads during the next classification."""
        plan = data.draw(st.dictionaries(st.integers(1, 60), st.sampled_from(["exit", "reuse"]), max_size=3))
        exes = data.draw(st.lists(st.sampled_from(EXES), min_size=3, max_size=3))
        reads = {"n": 0}

        def chaos(pid: int) -> None:
            reads["n"] += 1
            action = plan.get(reads["n"])
            if action is None or pid not in self.table.procs:
                return
            if action == "exit":
                self.table.exit(pid)
            else:
                self.table.reuse(pid, exes[reads["n"] % 3])

        return chaos

    @rule(data=st.data())
    def tick_with_chaos(self, data):
        self.table.chaos = self._chaos(data)
        try:
            self.clf.tick()
        finally:
            self.table.chaos = None
        self.tick_clean()  # what a chaotic tick left undone, the next one does

    @precondition(lambda self: self.table.procs)
    @rule(data=st.data())
    def exec_event_with_chaos(self, data):
        pid = data.draw(st.sampled_from(sorted(self.table.procs)))
        self.table.chaos = self._chaos(data)
        try:
            self.clf.on_event(pid)
        finally:
            self.table.chaos = None

    @rule()
    def tick(self):
        self.tick_clean()

    def tick_clean(self):
        self.clf.tick()
        for pid, p in self.table.procs.items():
            key = (pid, p.start)
            if key in self.run_class:
                assert self.placer.cls_of(pid) == self.run_class[key], f"sticky {key} moved"
                continue
            want = self.expected(pid)
            if want is not None and key not in self.stale:
                assert self.placer.cls_of(pid) == want, f"{p.exe} (pid {pid}) not in {want}"

    @invariant()
    def sticky_records_name_live_processes_or_are_pruned_next_tick(self):
        for key in self.store.records:
            assert key in self.run_class  # only `wlmtui run` ever made records here


PidReuse.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestPidReuse = PidReuse.TestCase
