"""The metrics endpoint as Prometheus sees it: scraped over HTTP and read back
with prometheus_client's own parsers, values checked against known snapshots."""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import replace

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from loop_util import sim_loop, ticks

from wlmtui.cli import demo_policy, main
from wlmtui.goals import BUCKETS
from wlmtui.metrics import MetricsError, MetricsServer, SnapshotCollector, parse_address
from wlmtui.observation import ClassMeasure
from wlmtui.tokens.ledger import TokenLedger


def scrape(url: str, openmetrics: bool = False) -> dict:
    """{family name: {(sample name, frozenset(labels)): value}} from one scrape."""
    headers = {"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"} if openmetrics else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
        text = resp.read().decode()
        ctype = resp.headers["Content-Type"]
    assert ctype.startswith("application/openmetrics-text" if openmetrics else "text/plain")
    families = parse_openmetrics(text) if openmetrics else parse_text(text)
    out = {}
    for fam in families:
        out[fam.name] = {"type": fam.type,
                         "samples": {(s.name, frozenset(s.labels.items())): s.value for s in fam.samples}}
    return out


def labels(c) -> frozenset:
    return frozenset({"class": c.name, "importance": str(c.importance), "goal_type": c.goal_type}.items())


@pytest.fixture
def demo():
    policy = demo_policy()
    ledger = TokenLedger(policy, write_signals=False)
    loop, clock = sim_loop(policy, tokens=ledger)
    yield loop, clock
    loop.close()


@pytest.fixture
def server():
    srv = MetricsServer("127.0.0.1:0").start()
    yield srv
    srv.close()


@pytest.mark.parametrize("openmetrics", [False, True], ids=["prometheus-text", "openmetrics"])
def test_scrape_matches_the_latest_snapshot(demo, server, openmetrics):
    loop, clock = demo
    for snap in ticks(loop, clock, 12):  # into the interactive peak at 8 s
        server(snap)
    got = scrape(server.url, openmetrics)
    info = (got["wlmtui"] if openmetrics else got["wlmtui_info"])["samples"]  # text format: a gauge
    ((name, info_labels), value), = info.items()
    assert name == "wlmtui_info" and value == 1
    assert dict(info_labels)["backend"] == "sim" and dict(info_labels)["version"]
    assert got["wlmtui_ticks"]["type"] == "counter"
    assert got["wlmtui_ticks"]["samples"][("wlmtui_ticks_total", frozenset())] == 12
    assert got["wlmtui_tick_seconds"]["samples"][("wlmtui_tick_seconds", frozenset())] == pytest.approx(
        snap.loop_ms / 1000)
    for c in snap.decision.classes:
        pi = got["wlmtui_class_pi"]["samples"].get(("wlmtui_class_pi", labels(c)))
        assert pi == pytest.approx(c.pi), c.name
        weight = got["wlmtui_class_weight"]["samples"].get(("wlmtui_class_weight", labels(c)))
        assert weight == c.weight, c.name  # None for the token class: no series
        share = got["wlmtui_class_share"]["samples"].get(("wlmtui_class_share", labels(c)))
        assert share == (None if c.share is None else pytest.approx(c.share)), c.name
    coder = snap.decision.get("coder")
    assert got["wlmtui_token_signal"]["samples"][("wlmtui_token_signal", labels(coder))] == \
        {"green": 0, "yellow": 1, "red": 2, "black": 3}[snap.tokens["coder"].signal]
    assert got["wlmtui_class_response_seconds"]["type"] == "histogram"
    assert got["wlmtui_class_cpu_stall_seconds"]["type"] == "counter"
    assert got["wlmtui_token_consumed"]["type"] == "counter"


def _with_measures(snap, measures: dict[str, ClassMeasure], dt: float):
    classes = tuple(c._replace(measure=measures[c.name]) if c.name in measures else c for c in snap.decision.classes)
    return replace(snap, dt=dt, decision=replace(snap.decision, classes=classes))


def test_counters_and_histogram_from_known_measures(demo):
    loop, clock = demo
    (base,) = ticks(loop, clock, 1)
    goal = base.policy.get("interactive").goal.value
    assert goal == 0.25
    col = SnapshotCollector()
    # tick 1: interactive stalls 25 % of 2 s, batch 10 %; three responses
    col.observe(_with_measures(base, {
        "interactive": ClassMeasure(cpu_stall=0.25, rt_samples=(0.1, 0.2, 0.3)),
        "batch": ClassMeasure(cpu_stall=0.1)}, dt=2.0))
    # tick 2: interactive 50 % of 1 s; batch's cgroup vanished (no stall counted); two responses
    col.observe(_with_measures(base, {
        "interactive": ClassMeasure(cpu_stall=0.5, rt_samples=(0.125, 5.0)),
        "batch": ClassMeasure(present=False)}, dt=1.0))
    fams = {f.name: f for f in col.collect()}
    stall = {s.labels["class"]: s.value for s in fams["wlmtui_class_cpu_stall_seconds"].samples}
    assert stall["interactive"] == pytest.approx(0.25 * 2 + 0.5 * 1)
    assert stall["batch"] == pytest.approx(0.1 * 2)
    hist = [s for s in fams["wlmtui_class_response_seconds"].samples if s.labels["class"] == "interactive"]
    buckets = {s.labels["le"]: s.value for s in hist if s.name.endswith("_bucket")}
    edges = [round(goal * f, 9) for f in BUCKETS]
    assert list(buckets) == [repr(e) for e in edges] + ["+Inf"]
    # cumulative: 0.1, 0.125 ≤ 0.125 (50 %); 0.2 ≤ 0.2 (80 %); 0.3 ≤ 0.3 (120 %); 5.0 beyond 400 %
    assert buckets["0.125"] == 2 and buckets["0.175"] == 2 and buckets["0.2"] == 3
    assert buckets["0.3"] == 4 and buckets["1.0"] == 4 and buckets["+Inf"] == 5
    (count,) = [s.value for s in hist if s.name.endswith("_count")]
    (total,) = [s.value for s in hist if s.name.endswith("_sum")]
    assert count == 5 and total == pytest.approx(0.1 + 0.2 + 0.3 + 0.125 + 5.0)
    # a new goal starts the histogram afresh (new bucket edges)
    doubled = replace(base.policy, classes=tuple(
        replace(c, goal=replace(c.goal, value=0.5)) if c.name == "interactive" else c for c in base.policy.classes))
    col.observe(replace(_with_measures(base, {"interactive": ClassMeasure(rt_samples=(0.2,))}, 1.0), policy=doubled))
    fams = {f.name: f for f in col.collect()}
    hist = {s.labels.get("le"): s.value for s in fams["wlmtui_class_response_seconds"].samples
            if s.labels["class"] == "interactive" and s.name.endswith("_bucket")}
    assert hist["0.25"] == 1 and hist["+Inf"] == 1


def test_token_consumed_counts_across_windows(demo):
    loop, clock = demo
    (base,) = ticks(loop, clock, 1)
    tok = base.tokens["coder"]
    col = SnapshotCollector()

    def at(consumed: float, window_start: float):
        return replace(base, tokens={"coder": replace(tok, consumed=consumed, window_start=window_start)})

    for consumed, start in ((100.0, 0.0), (150.0, 0.0), (400.0, 0.0), (30.0, 3600.0), (80.0, 3600.0)):
        col.observe(at(consumed, start))
    fams = {f.name: f for f in col.collect()}
    (sample,) = fams["wlmtui_token_consumed"].samples
    # counted from the daemon's start: +50 +250 in the first window, then 30 +50 in the next
    assert sample.value == pytest.approx(50 + 250 + 30 + 50)


def test_scrape_before_the_first_tick_has_only_info(server):
    got = scrape(server.url)
    assert set(got) == {"wlmtui_info"}


def test_port_taken_is_a_clear_error(capsys):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(MetricsError, match=rf"cannot serve metrics on 127\.0\.0\.1:{port}: address already in use"):
            MetricsServer(f"127.0.0.1:{port}").start()
        code = main(["--demo", "--no-ui", "--once", "--metrics", f"127.0.0.1:{port}"])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"wlmtui: cannot serve metrics on 127.0.0.1:{port}: address already in use"]
    finally:
        holder.close()


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("9464", ("127.0.0.1", 9464)), (":9464", ("0.0.0.0", 9464)),
    ("[::1]:9464", ("::1", 9464)), ("localhost:0", ("localhost", 0)),
])
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, message", [
    ("localhost", "expected HOST:PORT"), ("h:99999", "port must be a number"), ("[::1]9464", "IPv6"),
    ("h:http", "port must be a number"),
])
def test_bad_addresses(text, message):
    with pytest.raises(MetricsError, match=message):
        parse_address(text)


def test_cli_rejects_a_bad_address_and_the_console(capsys):
    assert main(["--demo", "--no-ui", "--once", "--metrics", "nowhere"]) == 2
    assert capsys.readouterr().err.strip() == \
        "wlmtui: metrics address 'nowhere': expected HOST:PORT (e.g. 127.0.0.1:9464)"
    assert main(["--demo", "--metrics", "127.0.0.1:0"]) == 2
    assert "add --no-ui" in capsys.readouterr().err


def test_policy_metrics_key_serves_the_once_tick(tmp_path, capsys):
    from wlmtui.policy import PolicyError, parse_policy

    base = "service_classes:\n  - {name: a, cgroup: a, importance: 1, goal: {type: velocity, target: 20}}\n"
    assert parse_policy("metrics: 127.0.0.1:9464\n" + base, "p.yaml").metrics == "127.0.0.1:9464"
    assert parse_policy("metrics: 9464\n" + base, "p.yaml").metrics == "9464"
    with pytest.raises(PolicyError) as err:
        parse_policy("metrics: nowhere\n" + base, "p.yaml")
    assert str(err.value.problems[0]) == "p.yaml:1: metrics 'nowhere': expected HOST:PORT (e.g. 127.0.0.1:9464)"


def test_grafana_dashboard_queries_only_metrics_we_export(demo, server):
    import json
    import re
    from pathlib import Path

    loop, clock = demo
    for snap in ticks(loop, clock, 10):
        server(snap)
    with urllib.request.urlopen(server.url, timeout=5) as resp:
        exported = {line.split("{")[0].split(" ")[0] for line in resp.read().decode().splitlines()
                    if line and not line.startswith("#")}
    dash = json.loads((Path(__file__).resolve().parent.parent / "grafana" / "wlmtui-dashboard.json").read_text())
    assert {v["name"] for v in dash["templating"]["list"]} >= {"host", "datasource"}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) == len(dash["panels"]) >= 6
    for expr in exprs:
        assert 'instance=~"$host"' in expr, expr
        used = set(re.findall(r"\bwlmtui_[a-z_]+", expr))
        assert used and used <= exported, (expr, used - exported)
    pi = next(p for p in dash["panels"] if "wlmtui_class_pi" in p["targets"][0]["expr"])
    steps = pi["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert any(s["value"] == 1 for s in steps) and pi["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assert any("histogram_quantile(0.95" in e and "wlmtui_class_response_seconds_bucket" in e for e in exprs)
