"""The classifier on the real kernel: real processes, real cgroups (both
hierarchies on a hybrid host). Root only; skips with the reason elsewhere.

Safety: the classifier is built with a scope of exactly the processes
these tests start (by PID *and* start time) or their descendants, so no
other process on the host is ever moved; the cgroups are uniquely named
children of a test parent that ``kernel_cgroups`` removes afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_util import kernel_cgroups
from wlmtui.backends.detect import select_backend
from wlmtui.classify.classifier import AllowSet, Classifier, descendants_of
from wlmtui.classify.connector import ConnectorUnavailable, ProcConnector
from wlmtui.classify.placer import parse_proc_cgroup, placer_for
from wlmtui.policy import load_policy

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parent.parent
SLEEP = shutil.which("sleep") or "/bin/sleep"


def cgroups_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
        return parse_proc_cgroup(fh.read())


def in_class(kc, pid: int, cls: str) -> bool:
    where = cgroups_of(pid)
    want = "/" + kc.rel(cls)
    kinds = ("v2",) if kc.pure_v2 else ("cpu", "v2")
    return all(where.get(k) == want for k in kinds)


def policy_text(kc, tmp_path: Path, marker: str, websrv: str, *, edited: bool = False) -> str:
    web_rule, tagged_rule = (f"{{tag: tag-{marker}}}", f"{{exe: {websrv}}}") if edited else \
                            (f"{{exe: {websrv}}}", f"{{tag: tag-{marker}}}")
    return f"""
cgroup_root: {kc.parent}
state_dir: {tmp_path / 'state'}
service_classes:
  - name: web
    cgroup: web
    goal: {{type: velocity, target: 20}}
    classify: [{web_rule}]
  - name: batch
    cgroup: batch
    goal: {{type: velocity, target: 20}}
    classify: [{{cmdline: 'wlmt-batch-{marker}'}}]
  - name: tagged
    cgroup: tagged
    goal: {{type: velocity, target: 20}}
    classify: [{tagged_rule}]
  - name: users
    cgroup: users
    goal: {{type: discretionary}}
    classify: [{{uid: 65534, exe: sleep}}]
"""


def spawn(kc, argv, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kw)
    kc.procs.append(proc)  # killed and reaped by kernel_cgroups, also on failure
    return proc


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_processes_land_in_their_classes_reload_moves_them_sticky_and_unmatched_stay(tmp_path):
    with kernel_cgroups(["web", "batch", "tagged", "users"]) as kc:
        marker = secrets.token_hex(4)
        websrv = f"wlmt-web-{marker}"
        shutil.copy(SLEEP, tmp_path / websrv)
        os.chmod(tmp_path / websrv, 0o755)
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(policy_text(kc, tmp_path, marker, websrv))
        policy = load_policy(policy_file)

        web = spawn(kc, [str(tmp_path / websrv), "600"])
        batch = spawn(kc, [sys.executable, "-c", "import time; time.sleep(600)", f"wlmt-batch-{marker}"])
        tagged = spawn(kc, [SLEEP, "600"], env={**os.environ, "WLM_TAG": f"tag-{marker}"})
        user = spawn(kc, [SLEEP, "600"], user=65534, group=65534)
        unmatched = spawn(kc, [SLEEP, "600"])  # sleep, but as root: the users rule needs uid AND exe
        # started by hand in batch; it matches web's exe rule but is sticky
        run = spawn(kc, [sys.executable, "-m", "wlmtui", "run", "--class", "batch", "--policy", str(policy_file),
                         "--", str(tmp_path / websrv), "600"], cwd=ROOT)
        assert wait_for(lambda: _child_exe(run.pid) == str(tmp_path / websrv)), "wlmtui run did not start its child"
        sticky = _children(run.pid)[0]
        assert in_class(kc, sticky, "batch")
        # a shell started by hand in batch, whose child matches web's rule: the child is sticky too
        shell_run = spawn(kc, [sys.executable, "-m", "wlmtui", "run", "--class", "batch", "--policy",
                               str(policy_file), "--", "/bin/sh", "-c", f"{tmp_path / websrv} 600; :"], cwd=ROOT)
        assert wait_for(lambda: _children(run_child(shell_run.pid))), "the shell did not start its child"
        shell = run_child(shell_run.pid)
        grandchild = _children(shell)[0]
        assert wait_for(lambda: _exe(grandchild) == str(tmp_path / websrv))
        before = {p.pid: cgroups_of(p.pid) for p in (unmatched, run)}

        scope = AllowSet()
        for pid in (web.pid, batch.pid, tagged.pid, user.pid, unmatched.pid, run.pid, sticky,
                    shell_run.pid, shell, grandchild):
            scope.add(pid)
        backend = select_backend(None, policy)
        placer = placer_for(backend)
        backend.close()
        clf = Classifier(policy, placer, scope=scope, events=False)
        try:
            first = clf.tick()
            clf.tick()  # "within two ticks"
            assert in_class(kc, web.pid, "web")
            assert in_class(kc, batch.pid, "batch")
            assert in_class(kc, tagged.pid, "tagged")
            assert in_class(kc, user.pid, "users")
            assert in_class(kc, sticky, "batch")
            assert in_class(kc, shell, "batch") and in_class(kc, grandchild, "batch")
            assert {p.pid: cgroups_of(p.pid) for p in (unmatched, run)} == before
            moved = {m.pid: m.cls for m in first.moved}
            assert moved == {web.pid: "web", batch.pid: "batch", tagged.pid: "tagged", user.pid: "users"}
            counts = {c.name: c.count for c in clf.last.classes}
            assert counts == {"web": 1, "batch": 4, "tagged": 1, "users": 1}
            info = {p.pid: p for p in clf.last.processes}
            assert info[sticky].sticky and info[sticky].state == "sticky (wlmtui run)"
            assert info[grandchild].sticky and info[grandchild].state == f"sticky (child of {shell})"
            assert info[web.pid].rule == f"web#1 exe={websrv}" and info[web.pid].state == "moved"

            # edit the rules (web's exe rule and tagged's tag rule swap classes) and reload
            policy_file.write_text(policy_text(kc, tmp_path, marker, websrv, edited=True))
            clf.reconfigure(load_policy(policy_file))
            report = clf.tick()
            assert report.full
            assert in_class(kc, web.pid, "tagged") and in_class(kc, tagged.pid, "web")
            assert in_class(kc, batch.pid, "batch") and in_class(kc, user.pid, "users")
            assert in_class(kc, sticky, "batch") and in_class(kc, grandchild, "batch")
            assert {p.pid: cgroups_of(p.pid) for p in (unmatched, run)} == before
            assert {m.pid: m.cls for m in report.moved} == {web.pid: "tagged", tagged.pid: "web"}
        finally:
            clf.close()
            run.send_signal(signal.SIGTERM)  # forwarded to the child; the wrapper exits 143
            assert run.wait(timeout=10) == 128 + signal.SIGTERM
            os.kill(grandchild, signal.SIGKILL)  # the shell then runs `:` and ends, and its wrapper
            assert shell_run.wait(timeout=10) == 0
        assert not os.listdir(tmp_path / "state" / "sticky")


def test_exec_events_place_processes_between_ticks(tmp_path):
    try:
        ProcConnector().close()
    except ConnectorUnavailable as exc:
        pytest.skip(f"no proc connector here: {exc}")
    with kernel_cgroups(["web"]) as kc:
        marker = secrets.token_hex(4)
        websrv = f"wlmt-web-{marker}"
        shutil.copy(SLEEP, tmp_path / websrv)
        os.chmod(tmp_path / websrv, 0o755)
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(policy_text(kc, tmp_path, marker, websrv))
        policy = load_policy(policy_file)
        backend = select_backend(None, policy)
        placer = placer_for(backend)
        backend.close()
        # only descendants of this test process: nothing else on the host
        clf = Classifier(policy, placer, scope=descendants_of(os.getpid()), events=True)
        try:
            clf.tick()
            assert clf.events_active and clf.last.events == "proc connector"
            direct = spawn(kc, [str(tmp_path / websrv), "600"])
            # a shell that execs the server later: placed at its exec, no tick in between
            later = spawn(kc, ["/bin/sh", "-c", f"sleep 0.3; exec {tmp_path / websrv} 600"])
            assert wait_for(lambda: in_class(kc, direct.pid, "web"), timeout=5)
            assert not in_class(kc, later.pid, "web")
            assert wait_for(lambda: in_class(kc, later.pid, "web"), timeout=5)
            report = clf.tick()
            vias = {m.pid: m.via for m in report.moved}
            assert vias == {direct.pid: "exec event", later.pid: "exec event"}
        finally:
            clf.close()
        assert not clf.events_active


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def run_child(pid: int) -> int:
    children = _children(pid)
    return children[0] if children else -1


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _child_exe(pid: int) -> str | None:
    for child in _children(pid):
        try:
            return os.readlink(f"/proc/{child}/exe")
        except OSError:
            return None
    return None
