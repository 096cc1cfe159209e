"""The real backend on this host's cgroups (root only; skips elsewhere)."""

from __future__ import annotations

import os
import time

import pytest

from kernel_util import kernel_cgroups
from wlmtui.backends.base import ActuatorError
from wlmtui.backends.cgroupfs import weight_to_shares

pytestmark = pytest.mark.kernel

MEASURE_S = 3.0


def test_weights_split_cpu_between_two_busy_loops():
    with kernel_cgroups(["fast", "slow"]) as kc:
        backend = kc.backend()
        try:
            assert backend.attach({"fast": "fast", "slow": "slow"}, create=False) == []
            # 98:10 is cpu.shares 1004:102 on a hybrid host — about 10:1.
            backend.set_weight("fast", 98)
            backend.set_weight("slow", 10)
            assert backend.read_weight("fast") == 98 and backend.read_weight("slow") == 10
            if backend.kind == "v1":
                shares = [open(os.path.join(p, "cpu.shares")).read().strip()
                          for p in (kc.paths(kc.rel("fast"))[0], kc.paths(kc.rel("slow"))[0])]
                assert shares == [str(weight_to_shares(98)), str(weight_to_shares(10))]
            fast, slow = kc.spawn_busy(2)
            kc.move(fast.pid, kc.rel("fast"))
            kc.move(slow.pid, kc.rel("slow"))
            time.sleep(0.3)
            before = backend.sample(time.monotonic())
            time.sleep(MEASURE_S)
            after = backend.sample(time.monotonic())
        finally:
            backend.close()
    elapsed_us = (after.t - before.t) * 1e6
    used = {n: after.classes[n].usage_us - before.classes[n].usage_us for n in ("fast", "slow")}
    total = used["fast"] + used["slow"]
    assert total > 0.3 * elapsed_us, f"the loops hardly ran: {used}"
    assert used["fast"] / total > 0.75, f"CPU split {used}"
    # The starved loop waits for the CPU most of the time: PSI says so.
    stalled = after.classes["slow"].cpu_some_us - before.classes["slow"].cpu_some_us
    assert stalled > 0.3 * elapsed_us, f"slow class cpu stall {stalled} µs of {elapsed_us:.0f}"
    assert {"cpu", "memory", "io"} <= set(after.system)


def test_create_vanish_and_recreate():
    with kernel_cgroups() as kc:
        backend = kc.backend()
        try:
            assert backend.attach({"a": "a", "b": "deep/b"}, create=True) == []
            for path in kc.paths(kc.rel("a")) + kc.paths(kc.rel("deep/b")):
                assert os.path.isdir(path)
            first = backend.sample(time.monotonic())
            assert first.classes["a"] is not None and first.classes["b"] is not None
            backend.set_weight("a", 300)
            assert backend.read_weight("a") == 300

            for path in kc.paths(kc.rel("a")):
                os.rmdir(path)
            gone = backend.sample(time.monotonic())
            assert gone.classes["a"] is None and gone.classes["b"] is not None
            with pytest.raises(ActuatorError, match=r"^a: cgroup /.*/a is gone$"):
                backend.set_weight("a", 200)

            for path in kc.paths(kc.rel("a")):
                os.mkdir(path)
            back = backend.sample(time.monotonic())
            assert back.classes["a"] is not None
            backend.set_weight("a", 200)
            assert backend.read_weight("a") == 200
        finally:
            backend.close()
