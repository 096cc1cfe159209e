"""Performance index per goal type, from measured transactions or the PSI proxy."""

from __future__ import annotations

import textwrap

import pytest

from wlmtui.goals import MIN_SAMPLES, bucket_counts, bucket_pi, percentile, performance
from wlmtui.observation import ClassMeasure
from wlmtui.policy import parse_policy


def cls(goal: str, **extra):
    more = "".join(f"\n    {k}: {v}" for k, v in extra.items())
    policy = parse_policy(textwrap.dedent(f"""
        service_classes:
          - name: c
            cgroup: c
            goal: {goal}{more}
    """))
    return policy.classes[0]


BUSY = dict(usage=0.5, velocity=50.0, cpu_stall=0.06, cpu_full=None)  # a kernel without cgroup cpu "full"


def test_average_goal_uses_the_mean():
    c = cls("{type: response_time, target: 100ms}")
    m = ClassMeasure(**BUSY, rt_samples=(0.05, 0.10, 0.15, 0.20, 0.25))
    perf = performance(c, m, list(m.rt_samples))
    assert perf.source == "rt-measured" and perf.measured == pytest.approx(0.15)
    assert perf.pi == pytest.approx(1.5)


def test_percentile_pi_by_zos_buckets():
    goal = 0.1
    # 95 % of completions within 80 % of the goal, the rest far beyond
    values = [0.075] * 95 + [1.0] * 5
    assert bucket_counts(values, goal)[3] == 95  # the ≤ 80 % bucket
    assert bucket_pi(values, goal, 95) == 0.8
    assert bucket_pi(values, goal, 99) == pytest.approx(10.0)  # beyond 400 %: the exact ratio
    # a p95 just over the goal lands in the ≤ 110 % bucket → PI 1.1 (missing)
    values = [0.05] * 90 + [0.105] * 10
    assert bucket_pi(values, goal, 95) == 1.1
    c = cls("{type: response_time, target: 100ms, percentile: 95}")
    perf = performance(c, ClassMeasure(**BUSY), values)
    # control runs on the percentile itself over the goal (continuous); the bucket PI is for display
    assert perf.pi == pytest.approx(1.05) and perf.measured == pytest.approx(percentile(values, 95))
    assert perf.distribution.bucket_pi == 1.1
    assert "p95" in perf.detail


def test_too_few_transactions_fall_back_to_the_psi_proxy_and_say_so():
    c = cls("{type: response_time, target: 100ms}")
    m = ClassMeasure(**BUSY)
    perf = performance(c, m, [0.2] * (MIN_SAMPLES - 1))
    assert perf.source == "psi-proxy"
    assert perf.pi == pytest.approx(0.06 / 0.03)
    assert f"only {MIN_SAMPLES - 1} transactions" in perf.detail


def test_psi_proxy_prefers_full_stall_where_the_kernel_reports_it():
    """"some" counts a class's workers queueing behind each other (38 % at a
    p95 of 27 ms in BENCHMARKS.md); "full" counts only time in which none of
    them ran, which is the delay weights can fix."""
    c = cls("{type: response_time, target: 100ms}")
    perf = performance(c, ClassMeasure(usage=0.5, velocity=50.0, cpu_stall=0.38, cpu_full=0.006), [])
    assert perf.pi == pytest.approx(0.2) and "cpu stall (full) 0.6%" in perf.detail
    assert performance(c, ClassMeasure(**BUSY), []).detail.startswith("cpu stall (some) 6.0%")


def test_throughput_from_completion_counts():
    c = cls("{type: throughput, target: 120/min}")  # 2 per second
    perf = performance(c, ClassMeasure(**BUSY, completions=4), dt=4.0)
    assert perf.source == "completions" and perf.pi == pytest.approx(2.0)
    assert performance(c, ClassMeasure(**BUSY), dt=4.0).source == "psi-proxy"


def test_velocity_idle_missing_and_discretionary():
    v = cls("{type: velocity, target: 40}")
    assert performance(v, ClassMeasure(usage=0.2, velocity=20.0)).pi == pytest.approx(2.0)
    assert performance(v, ClassMeasure()).source == "idle"
    assert performance(v, ClassMeasure(present=False)).source == "missing"
    assert performance(cls("{type: discretionary}"), ClassMeasure()).pi == 0.81


def test_delay_shares_explain_why_a_class_waits():
    m = ClassMeasure(cpu_stall=0.3, mem_stall=0.0, io_stall=0.1)
    assert m.delay_shares() == pytest.approx({"cpu": 0.75, "memory": 0.0, "io": 0.25})
    assert ClassMeasure().delay_shares() == {}


def test_measured_pi_carries_its_distribution():
    c = cls("{type: response_time, target: 100ms, percentile: 95}")
    values = [0.01 * i for i in range(1, 101)]  # 10 ms … 1 s
    perf = performance(c, ClassMeasure(**BUSY), values)
    d = perf.distribution
    assert d.count == 100 and (d.p50, d.p95, d.p99) == pytest.approx((0.5, 0.95, 0.99))
    assert sum(d.buckets) == 100 and d.buckets[0] == 5 and d.buckets[-1] == 60
    assert d.to_json()["buckets"]["<=50%"] == 5
