"""Metrics cost: what the OpenMetrics endpoint adds to the headless daemon.

    python -m bench.metrics_cost               # 50 classes, 1 s interval, 120 s window
    python -m bench.metrics_cost --quick       # 30 s window
    python -m bench.metrics_cost --classes 200 --duration 60

Three headless daemons run side by side on the **simulated host** (backend
``sim``: no cgroups, the same simulated load in each, so every daemon does the
same control work), each with N classes at a 1 s interval, journal output
(``--log``, a summary per hour, so printing does not dominate):

* ``plain`` — no ``--metrics``;
* ``plain (again)`` — the same command: its difference from ``plain`` is the
  noise floor of the measurement;
* ``metrics`` — ``--metrics 127.0.0.1:PORT``, scraped over HTTP by this
  process every second (what Prometheus does), each scrape read in full.

CPU time of each daemon is taken over one common window after the first
tick from ``/proc/PID/stat`` (utime + stime, clock ticks): unlike the
per-thread schedstat sum of ``bench.loop_cost`` it keeps the time of threads
that have exited — prometheus_client's server answers each scrape on a
thread of its own, which is gone by the time the window closes. Printed: each daemon's
CPU in % of a core, the metrics daemon's extra CPU over ``plain`` in % of a
core (goal < 1 %), the ratio metrics/plain, the noise floor beside it, and
the scrape size and latency. All traffic goes to 127.0.0.1; the number of
scrapes is bounded by the window.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.loop_cost import ROOT, _Watched
from bench.loop_cost import measure_together as _measure_together
from bench.report import machine_line, table, verdict

GOAL_PCT_OF_CORE = 1.0

_GOALS = (
    ("{type: response_time, target: 100ms, percentile: 95}", 1, "[[0, 0.02]]", 5),
    ("{type: velocity, target: 20}", 3, "[[0, 0.03]]", 0),
    ("{type: response_time, target: 300ms}", 2, "[[0, 0.01], [30, 0.04]]", 10),
    ("{type: discretionary}", None, "[[0, 0.02]]", 0),
)


def policy_text(n: int) -> str:
    lines = ["interval: 1s", "backend: sim", "simulation: {cpus: 2, seed: 3}", "service_classes:"]
    for i in range(n):
        goal, imp, demand, service_ms = _GOALS[i % len(_GOALS)]
        lines += [f"  - name: c{i:03d}", f"    cgroup: wlm/c{i:03d}", f"    goal: {goal}"]
        if imp is not None:
            lines.append(f"    importance: {imp}")
        sim = f"{{demand: {demand}, period: 60" + (f", service_ms: {service_ms}" if service_ms else "") + "}"
        lines.append(f"    simulate: {sim}")
    return "\n".join(lines) + "\n"


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process, exited threads included."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_together(watched: list[_Watched], duration: float) -> tuple[list[dict], float]:
    """CPU of every process over one common window, counting exited threads
    (the HTTP server answers each scrape on a short-lived thread)."""
    return _measure_together(watched, duration, cpu=process_cpu_seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scraper:
    """Scrapes a URL every ``period`` seconds until stopped (bounded by ``limit``)."""

    def __init__(self, url: str, period: float, limit: int):
        self.url, self.period, self.limit = url, period, limit
        self.latencies: list[float] = []
        self.sizes: list[int] = []
        self.errors: list[str] = []
        self.series = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set() and len(self.latencies) + len(self.errors) < self.limit:
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    body = resp.read()
                self.latencies.append(time.perf_counter() - t0)
                self.sizes.append(len(body))
                self.series = sum(1 for ln in body.splitlines() if ln and not ln.startswith(b"#"))
            except OSError as exc:
                self.errors.append(str(exc))
            nxt += self.period
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def start(self) -> "Scraper":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def wait_for_endpoint(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if b"wlmtui_class_pi" in resp.read():
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} served no class metrics in {timeout:g} s")


def measure(n: int, duration: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="wlmtui-bench-metrics-") as tmp:
        def daemon(name: str) -> list[str]:
            """The command of one daemon, with its own state_dir (one writer per state_dir)."""
            state = os.path.join(tmp, name)
            policy = os.path.join(tmp, f"{name}.yaml")
            Path(policy).write_text(policy_text(n).replace("backend: sim", f"backend: sim\nstate_dir: {state}"))
            return [sys.executable, "-m", "wlmtui", "--no-ui", "--log", "--log-every", "3600", policy]

        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("NOTIFY_SOCKET", None)
        port = free_port()
        url = f"http://127.0.0.1:{port}/metrics"
        watched: list[_Watched] = []
        scraper = None
        try:
            watched.append(_Watched(daemon("plain"), first_line_is_header=True, env=env))
            watched.append(_Watched(daemon("again"), first_line_is_header=True, env=env))
            watched.append(_Watched(daemon("metrics") + ["--metrics", f"127.0.0.1:{port}"], first_line_is_header=True,
                                    env=env))
            wait_for_endpoint(url)
            scraper = Scraper(url, 1.0, limit=int(duration) + 5).start()
            (plain, again, metrics), steal = measure_together(watched, duration)
        finally:
            if scraper is not None:
                scraper.stop()
            for w in watched:
                w.stop()
    extra = metrics["pct"] - plain["pct"]
    noise = abs(again["pct"] - plain["pct"])
    return {
        "classes": n, "interval_s": 1.0, "duration_s": duration, "backend": "sim",
        "plain_pct": plain["pct"], "plain_again_pct": again["pct"], "metrics_pct": metrics["pct"],
        "extra_pct_of_core": extra, "noise_pct_of_core": noise,
        "ratio": metrics["pct"] / plain["pct"] if plain["pct"] > 0 else None,
        "scrapes": len(scraper.latencies), "scrape_errors": len(scraper.errors),
        "scrape_bytes": statistics.median(scraper.sizes) if scraper.sizes else None,
        "series": scraper.series,
        "scrape_ms_median": 1000 * statistics.median(scraper.latencies) if scraper.latencies else None,
        "host_steal_pct": steal,
        "pass": extra < GOAL_PCT_OF_CORE and not scraper.errors,
    }


def format_table(r: dict) -> str:
    return table(
        ["classes", "plain", "plain (again)", "metrics, scraped 1/s", "extra CPU", "noise floor", "ratio",
         "scrapes", "series", "body", "scrape", f"extra < {GOAL_PCT_OF_CORE:g} % of a core"],
        [[r["classes"], f"{r['plain_pct']:.3f} %", f"{r['plain_again_pct']:.3f} %", f"{r['metrics_pct']:.3f} %",
          f"{r['extra_pct_of_core']:+.3f} %", f"{r['noise_pct_of_core']:.3f} %",
          "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}×",
          f"{r['scrapes']} ({r['scrape_errors']} failed)", r["series"],
          "n/a" if r["scrape_bytes"] is None else f"{r['scrape_bytes'] / 1024:.1f} KiB",
          "n/a" if r["scrape_ms_median"] is None else f"{r['scrape_ms_median']:.1f} ms",
          verdict(r["pass"])]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--duration", type=float, default=120.0, help="measurement window (s)")
    p.add_argument("--quick", action="store_true", help="a 30 s window")
    p.add_argument("--out", metavar="DIR", help="write metrics_cost.json there")
    args = p.parse_args(argv)
    duration = 30.0 if args.quick else args.duration
    print(machine_line())
    print(f"metrics cost: {args.classes} classes, 1 s interval, scraped every 1 s, {duration:g} s window "
          "(simulated host)\n", flush=True)
    r = measure(args.classes, duration)
    print(format_table(r))
    print(f"\nhost steal over the window: {r['host_steal_pct']:.1f} %")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "metrics_cost.json"), "w", encoding="utf-8") as fh:
            json.dump(r, fh, indent=2)
    return 0 if r["pass"] else 1


def run(argv: list[str] | None = None) -> int:
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
