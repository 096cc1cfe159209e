"""The OpenMetrics / Prometheus endpoint (``--metrics 127.0.0.1:9464``).

A custom prometheus_client collector fed by the loop's publish hook. Per
tick the hook stores the snapshot and adds what counters need and a single
snapshot cannot give (stall seconds, consumed tokens, this tick's response
times into the histogram buckets): a few additions per class. Everything
else is built from the latest snapshot when Prometheus scrapes.

Families (labels ``class``, ``importance``, ``goal_type`` on every class series):

* ``wlmtui_class_pi`` — performance index (1.0 = on goal); absent while idle
* ``wlmtui_class_weight`` — the CPU weight in force (1..10000)
* ``wlmtui_class_share`` — its share of the busy classes' weight last interval
* ``wlmtui_class_usage_cores`` — CPU used last interval, in cores
* ``wlmtui_class_cpu_stall_seconds_total`` — time some task of the class
  waited for CPU (PSI ``some``), summed since the daemon started: each tick
  adds the stall fraction × the measured interval, i.e. the kernel's
  ``cpu.pressure`` total delta (clipped at the interval)
* ``wlmtui_class_response_seconds`` — histogram of measured response times;
  bucket edges are the z/OS ones (50 % … 400 % of the class's goal) in
  seconds, so each class has its own ``le`` set; a goal change starts the
  class's histogram afresh (Prometheus treats it as a counter reset)
* ``wlmtui_token_consumed_total`` — model-weighted tokens counted since start
* ``wlmtui_token_signal`` — 0 green, 1 yellow, 2 red, 3 black
* ``wlmtui_tick_seconds`` — how long the last tick took; ``wlmtui_ticks_total``;
  ``wlmtui_tick_interval_seconds``; ``wlmtui_info{version,backend,host}``
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from wlmtui import __version__
from wlmtui.goals import BUCKETS
from wlmtui.snapshot import Snapshot

from wlmtui.listen_address import DEFAULT_PORT, MetricsError, parse_address  # noqa: F401 (re-exported)

SIGNAL_VALUE = {"green": 0, "yellow": 1, "red": 2, "black": 3}
CLASS_LABELS = ("class", "importance", "goal_type")


@dataclass(slots=True)
class _Histogram:
    goal: float  # seconds; the edges are fractions of it
    edges: tuple[float, ...]  # upper bounds in seconds (+Inf implied)
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; last is +Inf
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.edges) + 1)

    def add(self, values: Iterable[float]) -> None:
        for v in values:
            self.counts[bisect_left(self.edges, v)] += 1
            self.total += v

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for edge, count in zip(self.edges + (float("inf"),), self.counts):
            running += count
            out.append(("+Inf" if edge == float("inf") else repr(edge), running))
        return out


@dataclass(slots=True)
class _Tokens:
    total: float = 0.0
    window_start: float | None = None
    consumed: float = 0.0


class SnapshotCollector(Collector):
    """Metric families from the latest snapshot plus running totals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._stall: dict[str, float] = {}
        self._hist: dict[str, _Histogram] = {}
        self._tokens: dict[str, _Tokens] = {}

    # -- on the loop thread, once per tick ----------------------------------
    def observe(self, snap: Snapshot) -> None:
        with self._lock:
            dt = snap.dt
            goals = None
            for c in snap.decision.classes:
                m = c.measure
                if m is None:
                    continue
                if m.present and dt > 0:
                    self._stall[c.name] = self._stall.get(c.name, 0.0) + m.cpu_stall * dt
                if m.rt_samples and c.goal_type == "response_time":
                    if goals is None:
                        goals = {k.name: k.goal.value for k in snap.policy.classes}
                    goal = goals.get(c.name)
                    if not goal:
                        continue
                    hist = self._hist.get(c.name)
                    if hist is None or hist.goal != goal:
                        hist = self._hist[c.name] = _Histogram(goal, tuple(round(goal * f, 9) for f in BUCKETS))
                    hist.add(m.rt_samples)
            for name, status in snap.tokens.items():
                consumed = getattr(status, "consumed", None)
                if consumed is None:
                    continue
                acc = self._tokens.setdefault(name, _Tokens())
                start = getattr(status, "window_start", None)
                if acc.window_start is None or start != acc.window_start or consumed < acc.consumed:
                    # a new window (or the first look): what is counted in it so far is new
                    acc.total += consumed if acc.window_start is not None else 0.0
                    acc.window_start = start
                else:
                    acc.total += consumed - acc.consumed
                acc.consumed = consumed
            self._snap = snap

    # -- on the HTTP server's thread, per scrape -----------------------------
    def collect(self):
        with self._lock:
            snap = self._snap
            stall = dict(self._stall)
            hists = {n: (h.buckets(), h.total) for n, h in self._hist.items()}
            tokens = {n: t.total for n, t in self._tokens.items()}
        info = InfoMetricFamily("wlmtui", "wlmtui version and the host backend in use")
        info.add_metric([], {"version": __version__, "backend": snap.backend_kind if snap else "",
                             "host": snap.host if snap else ""})
        yield info
        if snap is None:
            return
        yield GaugeMetricFamily("wlmtui_tick_seconds", "How long the last control tick took",
                                value=snap.loop_ms / 1000.0)
        yield GaugeMetricFamily("wlmtui_tick_interval_seconds", "The configured tick interval", value=snap.interval)
        yield CounterMetricFamily("wlmtui_ticks", "Control ticks since the daemon started", value=snap.tick)
        yield GaugeMetricFamily("wlmtui_paused", "1 while control is paused (observing only)",
                                value=1.0 if snap.paused else 0.0)
        pi = GaugeMetricFamily("wlmtui_class_pi", "Performance index: 1.0 on goal, above 1 missing it",
                               labels=CLASS_LABELS)
        weight = GaugeMetricFamily("wlmtui_class_weight", "CPU weight in force (cgroup v2 scale 1..10000)",
                                   labels=CLASS_LABELS)
        share = GaugeMetricFamily("wlmtui_class_share", "Share of the busy classes' weight last interval (0..1)",
                                  labels=CLASS_LABELS)
        usage = GaugeMetricFamily("wlmtui_class_usage_cores", "CPU used last interval, in cores",
                                  labels=CLASS_LABELS)
        stalls = CounterMetricFamily("wlmtui_class_cpu_stall_seconds",
                                     "Time some task of the class waited for CPU (PSI some), since start",
                                     labels=CLASS_LABELS)
        resp = HistogramMetricFamily("wlmtui_class_response_seconds", "Measured response times of completed work",
                                     labels=CLASS_LABELS)
        consumed = CounterMetricFamily("wlmtui_token_consumed", "Model-weighted tokens counted since start",
                                       labels=CLASS_LABELS)
        signal = GaugeMetricFamily("wlmtui_token_signal", "Token budget signal: 0 green, 1 yellow, 2 red, 3 black",
                                   labels=CLASS_LABELS)
        for c in snap.decision.classes:
            labels = [c.name, str(c.importance), c.goal_type]
            if c.pi is not None:
                pi.add_metric(labels, c.pi)
            if c.weight is not None:
                weight.add_metric(labels, c.weight)
            if c.share is not None:
                share.add_metric(labels, c.share)
            if c.measure is not None and c.measure.present:
                usage.add_metric(labels, c.measure.usage)
            if c.name in stall:
                stalls.add_metric(labels, stall[c.name])
            if c.name in hists:
                buckets, total = hists[c.name]
                resp.add_metric(labels, buckets, total)
            tok = snap.tokens.get(c.name)
            if tok is not None and getattr(tok, "signal", None) in SIGNAL_VALUE:
                signal.add_metric(labels, SIGNAL_VALUE[tok.signal])
            if c.name in tokens:
                consumed.add_metric(labels, tokens[c.name])
        yield from (pi, weight, share, usage, stalls, resp, consumed, signal)


class MetricsServer:
    """The HTTP endpoint: ``/metrics`` in the Prometheus text format, or
    OpenMetrics when the scraper asks for it (prometheus_client negotiates)."""

    def __init__(self, address: str, collector: SnapshotCollector | None = None):
        self.host, self.port = parse_address(address)
        self.collector = collector or SnapshotCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server = None
        self._thread = None

    def start(self) -> "MetricsServer":
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            raise MetricsError(f"cannot serve metrics on {self.host}:{self.port}: {why}") from None
        self.port = self._server.server_address[1]  # the real one when 0 was asked for
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def __call__(self, snap: Snapshot) -> None:
        self.collector.observe(snap)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
