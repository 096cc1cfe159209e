"""The headless encoders with per-class caches give exactly the output of the
plain ones: JSON lines (orjson) whose content equals ``Snapshot.to_json()``,
and text lines equal to ``format_tick``, tick after tick — on the simulated
host (busy classes, a token class) and on quiet classes (the idle skip)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from loop_util import sim_loop, ticks

from wlmtui.cli import demo_policy
from wlmtui.headless import Emitter, JsonLines, TextLines, format_tick
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import parse_policy

ROOT = Path(__file__).resolve().parent.parent


def _check(snaps) -> None:
    enc, text = JsonLines(), TextLines()
    for snap in snaps:
        line = enc.encode(snap)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == json.loads(json.dumps(snap.to_json()))
        assert text.lines(snap) == format_tick(snap)


def test_encoders_match_on_the_simulated_host(tmp_path):
    loop, clock = sim_loop(demo_policy(str(tmp_path)))
    _check(ticks(loop, clock, 60))


def test_encoders_match_on_quiet_classes_and_rows_are_reused(tmp_path):
    sys.path.insert(0, str(ROOT))
    from bench.loop_cost import class_names, fake_tree, policy_text

    names = class_names(12)
    with fake_tree(names) as tree:
        policy = parse_policy(policy_text(12, None, "50ms"))
        clock = ManualClock()
        from wlmtui.classify.classifier import Classifier
        from wlmtui.classify.fake import FakeProcTable
        from wlmtui.classify.placer import RecordingPlacer
        from wlmtui.classify.sticky import MemoryStickyStore

        procs = FakeProcTable()
        placer = RecordingPlacer(procs)
        classifier = Classifier(policy, placer, procs=procs, events=False, detail=False, sticky=MemoryStickyStore(),
                                own_ns=None, clock=clock, members_every=1.0)
        loop = ControlLoop(policy, tree.backend(policy), create=False, clock=clock, classifier=classifier)
        try:
            loop.prime()
            snaps = []
            for _ in range(40):
                clock.advance(0.05)
                snaps.append(loop.step())
        finally:
            loop.close()
    assert loop.engine.skipped >= 30
    assert all(s.classify is not None for s in snaps)
    assert snaps[-1].classify.classes is snaps[-2].classify.classes  # counts reused: the encoder's cache is hit
    _check(snaps)
    # and the rows did repeat as objects, so the caches were used
    assert sum(a is b for a, b in zip(snaps[-1].decision.classes, snaps[-2].decision.classes)) >= 6


def test_emitter_writes_bytes_or_text(tmp_path):
    loop, clock = sim_loop(demo_policy(str(tmp_path)))
    snap = ticks(loop, clock, 2)[-1]
    raw = io.BytesIO()
    wrapped = io.TextIOWrapper(raw, encoding="utf-8")
    Emitter(wrapped, True)(snap)
    plain = io.StringIO()
    Emitter(plain, True)(snap)
    assert json.loads(raw.getvalue()) == json.loads(plain.getvalue()) == json.loads(json.dumps(snap.to_json()))
    text = io.StringIO()
    Emitter(text, False)(snap)
    assert text.getvalue() == "\n".join(format_tick(snap)) + "\n"
