"""Classifier cost: one full scan of 5,000 processes, the steady tick, and
exec-to-cgroup latency with the proc connector.

    python -m bench.classify_scan                # fake table; real host too when root with cgroups
    python -m bench.classify_scan --quick        # fewer rounds, 100 real sleepers, 20 latency samples
    python -m bench.classify_scan --fake-only    # no real processes, no cgroups
    python -m bench.classify_scan --json FILE    # figures as JSON too

**Fake table** (goal: full scan < 50 ms). 5,000 processes in memory —
a realistic mix of servers, shells, builds, kernel threads (4 %),
containers (3 %), tagged processes (5 %) — against a policy of 6 classes
and 20 rules (exe globs, cmdline regexes, uid, tag, parent). *Full scan*:
a new classifier's first tick — every process read, matched and moved (in
memory). *Reload*: reconfigure + tick over known processes. *Steady*: a
tick with nothing new, and with 50 new processes. This is the classifier's
own logic; reads are dictionary lookups.

**Real host** (root, real cgroups below ``wlmtui-bench-<random>``): the
bench starts a few hundred sleeping processes (copies of ``sleep`` with
bench-specific names, some tagged) and
  * classifies *every* process on the host in a dry run (reads /proc,
    moves nothing) — the real cost per process, and per 5,000 by
    extrapolation;
  * classifies with a scope of exactly its own sleepers and moves them into
    its cgroups (both hierarchies on a hybrid host);
  * times the steady tick, and ``psutil.process_iter`` over the same host
    for comparison.

**Exec → cgroup latency** (goal < 100 ms): with the proc connector, the
bench starts a matching process and polls ``/proc/PID/cgroup`` every
0.2 ms until it is in its class; the time counts from just before the fork,
so it includes fork and exec. Without the connector a new process waits
for the next tick (up to one interval).

Only processes the bench started are ever moved; on exit (also Ctrl-C or
SIGTERM) they are killed and the cgroups removed. Timings are printed with
PASS/MISS against the goals; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import textwrap
import time

from bench.report import machine_line, table, verdict

FULL_SCAN_GOAL_MS = 50.0
LATENCY_GOAL_MS = 100.0
N_FAKE = 5000

SERVERS = [
    ("/usr/sbin/nginx", "nginx: worker process", 33),
    ("/usr/sbin/php-fpm8.2", "php-fpm: pool www", 33),
    ("/usr/bin/python3.11", "/usr/bin/python3 -m gunicorn app:wsgi -w 4", 1000),
    ("/usr/bin/python3.11", "python3 manage.py shell", 1000),
    ("/usr/bin/python3.11", "/usr/bin/python3 /usr/bin/unattended-upgrade", 0),
    ("/usr/lib/postgresql/15/bin/postgres", "postgres: 15/main: checkpointer", 108),
    ("/usr/bin/java", "java -Xmx4g -jar /opt/svc/app.jar", 1001),
    ("/usr/bin/node", "node /srv/api/server.js", 1002),
    ("/usr/bin/bash", "-bash", 1000),
    ("/usr/bin/zsh", "-zsh", 1003),
    ("/usr/sbin/sshd", "sshd: alice@pts/0", 0),
    ("/usr/bin/make", "make -j16", 990),
    ("/usr/bin/gcc-12", "gcc -O2 -c x.c", 990),
    ("/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet x.c", 990),
    ("/usr/bin/rsync", "/usr/bin/rsync --server -logDtpre.iLsfxC . /backup", 0),
    ("/usr/sbin/cron", "/usr/sbin/cron -f", 0),
    ("/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald", 0),
    ("/usr/bin/containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2 -namespace moby", 0),
    ("/usr/bin/vim.basic", "vim notes.md", 1000),
    ("/usr/bin/tmux", "tmux new -s work", 1000),
    ("/usr/local/bin/agent", "agent --job 42", 1004),
    ("/usr/bin/sleep", "sleep 3600", 1000),
]

FAKE_POLICY = """
service_classes:
  - name: web
    cgroup: web
    goal: {type: response_time, target: 300ms}
    importance: 1
    classify:
      - {exe: [nginx, 'php-fpm*']}
      - {exe: 'python3*', cmdline: 'gunicorn|uvicorn'}
      - {exe: node, cmdline: '/srv/api/'}
      - {tag: web}
  - name: db
    cgroup: db
    goal: {type: velocity, target: 50}
    importance: 1
    classify:
      - {exe: '/usr/lib/postgresql/*/bin/postgres'}
      - {exe: [mysqld, mariadbd]}
  - name: interactive
    cgroup: interactive
    goal: {type: velocity, target: 60}
    importance: 2
    classify:
      - {exe: [bash, zsh, fish], parent: sshd}
      - {exe: [vim*, tmux, less], uid: [1000, 1003]}
  - name: services
    cgroup: services
    goal: {type: velocity, target: 40}
    importance: 3
    classify:
      - {exe: java, cmdline: '-jar /opt/svc/'}
      - {tag: 'SVC=1'}
  - name: batch
    cgroup: batch
    goal: {type: velocity, target: 20}
    importance: 4
    classify:
      - {exe: [make, 'gcc*', 'g++*', cc1, cc1plus, ld, rustc]}
      - {uid: 990}
      - {cmdline: '^/usr/bin/rsync .*--server', uid: 0}
      - {tag: batch}
  - name: scavenger
    cgroup: scavenger
    goal: {type: discretionary}
    classify:
      - {exe: agent, cmdline: '--job [0-9]+'}
      - {tag: scavenge}
      - {exe: sleep, uid: 1000}
"""


def fake_table(n: int, seed: int = 1):
    from wlmtui.classify.fake import FakeProcTable

    rng = random.Random(seed)
    table = FakeProcTable()
    table.spawn("/sbin/init", pid=1)
    sshd = table.spawn("/usr/sbin/sshd", cmdline="sshd: /usr/sbin/sshd -D")
    pids = [sshd]
    while len(table.procs) < n:
        r = rng.random()
        if r < 0.04:
            table.spawn(None, kernel_thread=True, comm=f"kworker/{rng.randrange(64)}")
            continue
        exe, cmd, uid = rng.choice(SERVERS)
        env = {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8"}
        if rng.random() < 0.05:
            env["WLM_TAG"] = rng.choice(["web", "batch", "scavenge", "other"])
        parent = sshd if exe.endswith(("bash", "zsh")) and rng.random() < 0.5 else rng.choice(pids)
        boxed = rng.random() < 0.03
        pids.append(table.spawn(exe, cmdline=cmd, euid=uid, egid=uid, ppid=parent, env=env,
                                ns_depth=2 if boxed else 1, cpu=rng.randrange(10_000)))
    return table


class _Timer:
    """Wall and CPU time of a block, in ms (CPU time shows the cost apart
    from waiting for a core on a busy host)."""

    def __init__(self, wall: list[float], cpu: list[float] | None = None) -> None:
        self.wall, self.cpu = wall, cpu

    def __enter__(self) -> "_Timer":
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall.append((time.perf_counter() - self.t0) * 1000)
        if self.cpu is not None:
            self.cpu.append((time.process_time() - self.c0) * 1000)


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def bench_fake(n: int, rounds: int) -> dict:
    from wlmtui.classify.classifier import Classifier
    from wlmtui.classify.fake import ROOT_NS
    from wlmtui.classify.placer import RecordingPlacer
    from wlmtui.classify.sticky import MemoryStickyStore
    from wlmtui.policy import parse_policy

    policy = parse_policy(textwrap.dedent(FAKE_POLICY), "bench.yaml")
    rules = sum(len(c.classify) for c in policy.classes)
    full, full_detail, reload, steady, steady_detail, churn = [], [], [], [], [], []
    cpu = {k: [] for k in ("full", "full_detail", "reload", "steady", "steady_detail", "churn")}
    moved = 0
    for r in range(rounds):
        table = fake_table(n, seed=r + 1)
        # with the report's per-process detail (CPU, command line: what the console shows)
        clf = Classifier(policy, RecordingPlacer(table), procs=table, sticky=MemoryStickyStore(), events=False,
                         self_pid=10**7, own_ns=ROOT_NS, detail=True)
        with _Timer(full_detail, cpu["full_detail"]):
            clf.tick(0)
        for _ in range(3):
            with _Timer(steady_detail, cpu["steady_detail"]):
                clf.tick(1)
        # scan and classification alone
        placer = RecordingPlacer(table)
        clf = Classifier(policy, placer, procs=table, sticky=MemoryStickyStore(), events=False,
                         self_pid=10**7, own_ns=ROOT_NS, detail=False)
        with _Timer(full, cpu["full"]):
            report = clf.tick(0)
        moved = len(report.moved)
        with _Timer(reload, cpu["reload"]):
            clf.reconfigure(policy)
            clf.tick(1)
        for _ in range(3):
            with _Timer(steady, cpu["steady"]):
                clf.tick(2)
        exe, cmd, uid = SERVERS[0]
        new = [table.spawn(exe, cmdline=cmd, euid=uid) for _ in range(50)]
        with _Timer(churn, cpu["churn"]):
            clf.tick(3)
        for pid in new:
            table.exit(pid)
    return {"n": n, "rules": rules, "classes": len(policy.classes), "moved": moved, "rounds": rounds,
            "full_ms": _stats(full), "reload_ms": _stats(reload), "steady_ms": _stats(steady),
            "churn50_ms": _stats(churn), "full_detail_ms": _stats(full_detail),
            "steady_detail_ms": _stats(steady_detail),
            "cpu_ms": {k: statistics.median(v) for k, v in cpu.items()}}


# ---------------------------------------------------------------- real host

REAL_POLICY = """
cgroup_root: {parent}
state_dir: {state}
service_classes:
  - name: a
    cgroup: a
    goal: {{type: velocity, target: 20}}
    classify:
      - {{exe: 'wlmb-a-{marker}'}}
      - {{cmdline: 'no-such-thing-{marker} [0-9]+'}}
      - {{exe: [nginx, 'php-fpm*'], uid: 33}}
  - name: b
    cgroup: b
    goal: {{type: velocity, target: 20}}
    classify:
      - {{tag: 'b-{marker}'}}
      - {{exe: 'python3*', cmdline: 'gunicorn-{marker}'}}
      - {{parent: 'wlmb-parent-{marker}'}}
"""


def _sleep_copy(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    shutil.copy(shutil.which("sleep") or "/bin/sleep", path)
    os.chmod(path, 0o755)
    return path


def _in(bc, pid: int, cls: str) -> bool:
    from wlmtui.classify.placer import parse_proc_cgroup

    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
            where = parse_proc_cgroup(fh.read())
    except OSError:
        return False
    want = f"/{bc.parent}/{cls}"
    return all(where.get(k) == want for k in (("v2",) if bc.kind == "v2" else ("cpu", "v2")))


def bench_real(sleepers: int, rounds: int, samples: int) -> dict:
    import psutil

    from bench.cgroups import bench_cgroups
    from wlmtui.backends.detect import select_backend
    from wlmtui.classify.classifier import AllowSet, Classifier, descendants_of
    from wlmtui.classify.connector import ConnectorUnavailable, ProcConnector
    from wlmtui.classify.placer import RecordingPlacer, placer_for
    from wlmtui.policy import parse_policy

    out: dict = {}
    marker = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-classify-") as tmp, bench_cgroups(["a", "b"]) as bc:
        exe_a = _sleep_copy(tmp, f"wlmb-a-{marker}")
        other = _sleep_copy(tmp, f"wlmb-x-{marker}")
        policy = parse_policy(REAL_POLICY.format(parent=bc.parent, state=os.path.join(tmp, "state"),
                                                 marker=marker), "bench.yaml")
        backend = select_backend(None, policy)
        placer = placer_for(backend)
        backend.close()
        # -- the sleepers: half match a (exe), a quarter b (tag), a quarter nothing
        env_b = {**os.environ, "WLM_TAG": f"b-{marker}"}
        t0 = time.perf_counter()
        procs = []
        for i in range(sleepers):
            kind = i % 4
            argv = [exe_a if kind < 2 else other, "3600"]
            procs.append(bc.spawn(argv, env=env_b if kind == 2 else None, stdout=subprocess_devnull()))
        out["spawn_s"] = time.perf_counter() - t0
        scope = AllowSet()
        for p in procs:
            scope.add(p.pid)
        host = len(os.listdir("/proc"))
        # -- every process on the host, dry run (reads only)
        dry_full, dry_steady = [], []
        for _ in range(rounds):
            clf = Classifier(policy, RecordingPlacer(), events=False, dry_run=True, detail=False)
            t0 = time.perf_counter()
            report = clf.tick()
            dry_full.append((time.perf_counter() - t0) * 1000)
            scanned = report.scanned
            for _ in range(3):
                t0 = time.perf_counter()
                clf.tick()
                dry_steady.append((time.perf_counter() - t0) * 1000)
        out["host_processes"] = scanned
        out["dry_full_ms"] = _stats(dry_full)
        out["dry_steady_ms"] = _stats(dry_steady)
        out["us_per_process"] = out["dry_full_ms"][0] * 1000 / max(1, scanned)
        # -- psutil over the same host, for comparison
        ps = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            count = sum(1 for _ in psutil.process_iter(["pid", "create_time", "exe", "cmdline", "uids", "gids",
                                                        "ppid", "environ"]))
            ps.append((time.perf_counter() - t0) * 1000)
        out["psutil_ms"] = _stats(ps)
        out["psutil_us_per_process"] = out["psutil_ms"][0] * 1000 / max(1, count)
        # -- scoped: classify and really move the bench's own sleepers
        clf = Classifier(policy, placer, scope=scope, events=False)
        t0 = time.perf_counter()
        report = clf.tick()
        out["scoped_full_ms"] = (time.perf_counter() - t0) * 1000
        out["scoped_moved"] = len(report.moved)
        steady = []
        for _ in range(max(3, rounds)):
            t0 = time.perf_counter()
            clf.tick()
            steady.append((time.perf_counter() - t0) * 1000)
        out["scoped_steady_ms"] = _stats(steady)
        want = {p.pid: ("a" if i % 4 < 2 else "b" if i % 4 == 2 else None) for i, p in enumerate(procs)}
        out["placed_right"] = sum(1 for pid, cls in want.items() if cls is None or _in(bc, pid, cls))
        out["sleepers"] = sleepers
        out["kind"] = bc.kind
        out["host_before"] = host
        clf.close()
        bc.stop(procs)
        # -- exec → cgroup latency with the proc connector
        try:
            ProcConnector().close()
            connector = None
        except ConnectorUnavailable as exc:
            connector = str(exc)
        out["connector"] = connector or "available"
        if connector is None:
            clf = Classifier(policy, placer, scope=descendants_of(os.getpid()), events=True)
            try:
                clf.tick()
                latencies, forks = [], []
                for _ in range(samples):
                    t0 = time.perf_counter()
                    p = bc.spawn([exe_a, "3600"], stdout=subprocess_devnull())
                    forks.append((time.perf_counter() - t0) * 1000)
                    deadline = t0 + 2.0
                    while not _in(bc, p.pid, "a") and time.perf_counter() < deadline:
                        time.sleep(0.0002)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    bc.stop([p])
                out["latency_ms"] = _stats(latencies) + (max(latencies),)
                out["fork_exec_ms"] = _stats(forks)
                out["latency_samples"] = samples
                out["latency_missed"] = sum(1 for x in latencies if x >= 2000)
            finally:
                clf.close()
    return out


def subprocess_devnull():
    import subprocess

    return subprocess.DEVNULL


# ---------------------------------------------------------------- output

def fmt(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def print_fake(f: dict) -> None:
    print(f"## Fake table: {f['n']} processes, {f['classes']} classes, {f['rules']} rules "
          f"({f['rounds']} rounds; wall median / p95, CPU median)\n")
    c = f["cpu_ms"]
    goal = f"< {FULL_SCAN_GOAL_MS:g} ms"
    rows = [
        ["full scan (first tick: read, match, move all)", fmt(f["full_ms"][0]), fmt(f["full_ms"][1]),
         fmt(c["full"]), goal, verdict(f["full_ms"][0] < FULL_SCAN_GOAL_MS)],
        ["reload (reconfigure + reclassify all)", fmt(f["reload_ms"][0]), fmt(f["reload_ms"][1]),
         fmt(c["reload"]), goal, verdict(f["reload_ms"][0] < FULL_SCAN_GOAL_MS)],
        ["steady tick, nothing new", fmt(f["steady_ms"][0]), fmt(f["steady_ms"][1]), fmt(c["steady"]), "", ""],
        ["steady tick, 50 new processes", fmt(f["churn50_ms"][0]), fmt(f["churn50_ms"][1]), fmt(c["churn"]), "", ""],
        ["full scan + per-process detail for the console", fmt(f["full_detail_ms"][0]),
         fmt(f["full_detail_ms"][1]), fmt(c["full_detail"]), "", ""],
        ["steady tick + per-process detail", fmt(f["steady_detail_ms"][0]), fmt(f["steady_detail_ms"][1]),
         fmt(c["steady_detail"]), "", ""],
    ]
    print(table(["", "wall median", "wall p95", "CPU median", "goal", ""], rows))
    print(f"\n{f['moved']} processes placed by the full scan. PASS/MISS on the wall median; "
          "CPU time is the cost apart from waiting for a core.\n")


def print_real(r: dict) -> None:
    print(f"## Real host: {r['host_processes']} processes ({r['sleepers']} bench sleepers), /proc read directly\n")
    per5000 = r["us_per_process"] * 5000 / 1000
    rows = [
        ["every host process, dry run: full scan", fmt(r["dry_full_ms"][0]), fmt(r["dry_full_ms"][1]),
         f"{r['us_per_process']:.1f} µs/process", ""],
        ["  same, extrapolated to 5,000 processes", fmt(per5000), "", f"< {FULL_SCAN_GOAL_MS:g} ms (est.)",
         verdict(per5000 < FULL_SCAN_GOAL_MS)],
        ["every host process, dry run: steady tick", fmt(r["dry_steady_ms"][0]), fmt(r["dry_steady_ms"][1]), "", ""],
        ["psutil.process_iter, same attributes", fmt(r["psutil_ms"][0]), fmt(r["psutil_ms"][1]),
         f"{r['psutil_us_per_process']:.1f} µs/process", ""],
        [f"bench sleepers only: classify + move {r['scoped_moved']}", fmt(r["scoped_full_ms"]), "",
         f"{r['placed_right']}/{r['sleepers']} in the right cgroup", verdict(r["placed_right"] == r["sleepers"])],
        ["  per process moved (cgroup.procs writes: "
         f"{'2 hierarchies' if r.get('kind') == 'v1' else '1 hierarchy'})",
         f"{r['scoped_full_ms'] * 1000 / max(1, r['scoped_moved']):.0f} µs", "", "", ""],
        ["bench sleepers only: steady tick", fmt(r["scoped_steady_ms"][0]), fmt(r["scoped_steady_ms"][1]), "", ""],
    ]
    print(table(["", "median", "p95", "", ""], rows))
    print(f"\n(spawning {r['sleepers']} sleepers took {r['spawn_s']:.2f} s)\n")
    print("## Exec → in its cgroup (proc connector)\n")
    if "latency_ms" not in r:
        print(f"n/a — proc connector unavailable: {r['connector']}; a new process waits for the next tick.\n")
        return
    med, p95, worst = r["latency_ms"]
    rows = [
        [f"exec → in cgroup ({r['latency_samples']} processes)", fmt(med), fmt(p95), fmt(worst),
         f"< {LATENCY_GOAL_MS:g} ms", verdict(p95 < LATENCY_GOAL_MS)],
        ["  of which fork + exec (Popen)", fmt(r["fork_exec_ms"][0]), fmt(r["fork_exec_ms"][1]), "", "", ""],
    ]
    print(table(["", "median", "p95", "max", "goal", ""], rows))
    if r["latency_missed"]:
        print(f"\n{r['latency_missed']} process(es) not placed within 2 s.")
    print()


def _cpu_pressure() -> str:
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as fh:
            some = fh.readline().split()
        return f"CPU pressure {some[1].split('=')[1]} % (some, avg10)"
    except (OSError, IndexError):
        return "CPU pressure unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.classify_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and processes")
    p.add_argument("--fake-only", action="store_true", help="only the fake table (no processes, no cgroups)")
    p.add_argument("--n", type=int, default=N_FAKE, help=f"fake table size (default {N_FAKE})")
    p.add_argument("--sleepers", type=int, help="real sleeping processes to start (default 300, --quick 100)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = p.parse_args(argv)
    rounds = 3 if args.quick else 10
    print(f"# Classifier scan and placement\n{machine_line()} · {_cpu_pressure()}\n")
    results: dict = {"fake": bench_fake(args.n, rounds)}
    print_fake(results["fake"])
    if not args.fake_only:
        from bench.cgroups import available

        why = available()
        if why:
            print(f"## Real host\n\nskipped: {why}\n")
        else:
            sleepers = args.sleepers or (100 if args.quick else 300)
            results["real"] = bench_real(sleepers, rounds=3 if args.quick else 5, samples=20 if args.quick else 50)
            print_real(results["real"])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
