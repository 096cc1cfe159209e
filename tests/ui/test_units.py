"""Console pieces without a running app: form validation, keymap, themes,
formatting, token cells, history."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from textual.theme import Theme

from wlmtui.policy import Gains, parse_policy
from wlmtui.ui import fmt
from wlmtui.ui.editing import form_fields, initial_values, validate
from wlmtui.ui.keymap import load_keymap, parse_keymap
from wlmtui.ui.messages import SnapshotReady
from wlmtui.ui.panels.tokens import token_cells
from wlmtui.ui.themes import ThemeFileError, load_themes, theme_from_mapping

from wlmtui.cli import demo_policy
from wlmtui.ui.app import run_console

from .support import COMMENTED_POLICY, EPOCH, FakeStatus, sim_loop

POLICY = parse_policy(COMMENTED_POLICY)


def test_form_offers_what_the_class_has():
    assert [f.key for f in form_fields(POLICY.get("web"))] == [
        "kp", "ki", "importance", "min_weight", "base_weight", "max_weight", "target", "psi_threshold"]
    assert [f.key for f in form_fields(POLICY.get("batch"))] == [
        "kp", "ki", "importance", "min_weight", "base_weight", "max_weight", "target"]
    assert [f.key for f in form_fields(POLICY.get("agents"))] == ["importance", "budget", "pool"]


@pytest.mark.parametrize("name", ["web", "batch", "agents"])
def test_untouched_form_gives_back_the_same_class(name):
    cls = POLICY.get(name)
    result = validate(cls, initial_values(cls))
    assert result.ok and result.cls == cls


@pytest.mark.parametrize("field,text,words", [
    ("kp", "abc", "not a number"),
    ("kp", "-1", "outside 0–100"),
    ("ki", "", "required"),
    ("importance", "7", "outside 1–5"),
    ("importance", "1.5", "whole number"),
    ("min_weight", "5000", "above max_weight"),
    ("base_weight", "5", "outside min_weight..max_weight"),
    ("target", "fast", "not a duration"),
    ("psi_threshold", "30", "did you mean '30%'"),
])
def test_invalid_text_is_refused_under_its_field(field, text, words):
    cls = POLICY.get("web")
    raw = initial_values(cls) | {field: text}
    result = validate(cls, raw)
    assert not result.ok
    assert words in result.errors[field]


def test_valid_edit_builds_the_class():
    cls = POLICY.get("web")
    raw = initial_values(cls) | {"kp": "1.5", "max_weight": "3000", "target": "200ms", "psi_threshold": "4%"}
    new = validate(cls, raw).cls
    assert new.gains == Gains(1.5, 0.7)
    assert new.max_weight == 3000 and new.goal.value == pytest.approx(0.2) and new.psi_threshold == pytest.approx(0.04)
    assert new.simulate == cls.simulate and new.cgroup == cls.cgroup


def test_token_budget_validation():
    cls = POLICY.get("agents")
    assert "not a token budget" in validate(cls, initial_values(cls) | {"budget": "lots"}).errors["budget"]
    new = validate(cls, initial_values(cls) | {"budget": "2M/day", "pool": "team"}).cls
    assert (new.goal.value, new.goal.window, new.pool) == (2_000_000, "day", "team")


def test_keymap_parsing(tmp_path):
    ids = ["wlmtui.edit", "wlmtui.quit"]
    keymap, problems = parse_keymap({"edit": "E", "wlmtui.quit": ["q", "ctrl+q"], "nope": "x", "quit": ""}, ids)
    assert keymap == {"wlmtui.edit": "E", "wlmtui.quit": "q,ctrl+q"}
    assert any("unknown binding id 'nope'" in p for p in problems)
    assert any("no key given" in p for p in problems)
    path = tmp_path / "keymap.yaml"
    path.write_text("edit: [E\n")
    keymap, problems = load_keymap(ids, path)
    assert keymap == {} and "not valid YAML" in problems[0]
    assert load_keymap(ids, tmp_path / "absent.yaml") == ({}, [])


def test_packaged_themes_load_with_console_variables():
    themes, problems = load_themes()
    assert problems == []
    names = {t.name for t in themes}
    assert {"wlm-dark", "wlm-light", "wlm-3270"} <= names
    for t in themes:
        assert isinstance(t, Theme)
        for var in ("wlm-missing", "wlm-meeting", "wlm-beating", "wlm-idle", "wlm-green", "wlm-yellow",
                    "wlm-red", "wlm-black"):
            assert var in t.variables, (t.name, var)
    assert next(t for t in themes if t.name == "wlm-light").dark is False


def test_bad_theme_files_are_reported_not_fatal(tmp_path):
    (tmp_path / "broken.yaml").write_text("name: x\nprimary: '#fff'\ncolour: red\n")
    (tmp_path / "mine.yaml").write_text("name: mine\nprimary: '#123456'\nvariables: {wlm-missing: '#ff0000'}\n")
    themes, problems = load_themes(tmp_path)
    assert "mine" in {t.name for t in themes}
    assert any("unknown theme key(s): colour" in p for p in problems)
    with pytest.raises(ThemeFileError):
        theme_from_mapping(["not", "a", "mapping"], "x.yaml")


def test_formatting():
    assert fmt.sparkline([0, 0.5, 1.0, None], 6, 0, 1) == "  ▁▅█ "
    assert fmt.gauge(10, 10, 1000, 8) == "├●─────┤"
    assert fmt.gauge(1000, 10, 1000, 8) == "├─────●┤"
    assert fmt.pi(None) == "-" and fmt.pi(1.234) == "1.23" and fmt.pi(12.34) == "12.3"
    assert fmt.measured("response_time", "rt-measured", 0.312) == "312ms"
    assert fmt.measured("velocity", "velocity", 45.2) == "vel 45"
    assert fmt.signed(0.0) == " 0.000" and fmt.signed(-0.25) == "-0.250"


def test_token_cells_from_a_full_status():
    s = FakeStatus(signal="yellow", consumed=5500, budget=10000, remaining=4500, rate=220.0, projected=12000,
                   window_end=EPOCH + 1500)
    cells = token_cells("coder", s, EPOCH)
    assert cells["signal"][0] == "yellow"
    assert cells["used"][0] == "5.5K/10.0K"
    assert cells["rate"][0] == "220/min"
    assert cells["projected"][0].startswith("12.0K")
    assert cells["exhausts"][0] == "20m"  # 4500 left at 220/min
    assert cells["resets"][0] == "25m"


def test_token_cells_from_other_shapes():
    # the original wlmd signal-file names, as a mapping
    wlmd = {"signal": "red", "budget_remaining": 0, "budget_total": 10000, "window_remaining": "25m",
            "consumption_rate": 220.0, "projected_exhaustion": "in 0m"}
    cells = token_cells("old", wlmd, EPOCH)
    assert cells["used"][0] == "10.0K/10.0K" and cells["resets"][0] == "25m" and cells["exhausts"][0] == "0m"
    # a bare object with only a signal, and ISO / datetime reset times
    bare = token_cells("x", type("S", (), {"signal": "black"})(), EPOCH)
    assert bare["signal"][0] == "black" and bare["used"][0] == "-/-"
    iso = token_cells("y", {"signal": "green", "window_resets_at": "2026-09-21T15:00:00Z"}, EPOCH)
    assert iso["resets"][0] == "46m"
    dt = token_cells("z", {"signal": "green", "window_end": datetime(2026, 9, 21, 15, tzinfo=timezone.utc)}, EPOCH)
    assert dt["resets"][0] == "46m"


def test_snapshot_messages_collapse():
    a = SnapshotReady(object())  # type: ignore[arg-type]
    b = SnapshotReady(object())  # type: ignore[arg-type]
    assert b.can_replace(a)


def test_history_skips_replayed_ticks(tmp_path):
    from wlmtui.ui.history import History

    from .support import sim_loop

    loop = sim_loop(POLICY)
    loop.prime()
    h = History(size=5)
    snaps = []
    for _ in range(7):
        loop.clock.advance(1.0)
        snaps.append(loop.step())
        h.add(snaps[-1])
    h.add(snaps[-1])
    assert len(h.t) == 5 and len(h.series("web").weight) == 5
    assert list(h.series("web").weight)[-1] == snaps[-1].decision.get("web").weight


def test_unknown_theme_is_a_message_not_a_traceback(tmp_path, capsys):
    loop = sim_loop(demo_policy(str(tmp_path)))
    assert run_console(loop, theme="no-such-theme") == 2
    err = capsys.readouterr().err
    assert "unknown theme 'no-such-theme'" in err and "wlm-3270" in err


def test_exhaustion_is_shown_only_within_the_window():
    # the ledger's own answer: None means "not before the window resets"
    ledger_like = {"signal": "green", "consumed": 100, "budget": 4000, "exhaustion_in": None,
                   "rate_per_min": 10.0, "window_end": EPOCH + 600}
    assert token_cells("c", ledger_like, EPOCH)["exhausts"][0] == "-"
    assert token_cells("c", ledger_like | {"exhaustion_in": 300.0}, EPOCH)["exhausts"][0] == "5m"
    # no such field: computed from rate, and hidden when after the reset
    slow = FakeStatus(consumed=100, budget=4000, remaining=3900, rate=10.0, window_end=EPOCH + 600)
    assert token_cells("c", slow, EPOCH)["exhausts"][0] == "-"
    fast = FakeStatus(consumed=100, budget=4000, remaining=3900, rate=1000.0, window_end=EPOCH + 600)
    assert token_cells("c", fast, EPOCH)["exhausts"][0] == "3m"


# -- why a class waits, processes ---------------------------------------------------------
def test_delay_text_biggest_first_and_compact_when_long():
    assert fmt.delay({}) == "-"
    assert fmt.delay({"cpu": 1.0, "memory": 0.0, "io": 0.0}) == "cpu 100"
    assert fmt.delay({"cpu": 0.2, "memory": 0.0, "io": 0.8}) == "io 80 cpu 20"
    assert fmt.delay({"cpu": 0.5, "memory": 0.3, "io": 0.2}) == "c50 m30 i20"  # "cpu 50 mem 30 io 20" is too wide
    assert fmt.delay({"cpu": 0.93, "memory": 0.04, "io": 0.03}) == "cpu 93"  # under 10 %: left out


def test_source_tags_and_response_times():
    assert [fmt.source_tag(s) for s in ("rt-measured", "psi-proxy", "velocity", "completions", "token", "fixed",
                                        "idle", "missing")] == ["rt", "psi", "vel", "tput", "tok", "fix", "-", "-"]
    assert (fmt.rt(0.0726), fmt.rt(1.2907), fmt.rt(12.34), fmt.rt(None)) == ("73ms", "1.29s", "12.3s", "-")


def test_bucket_labels_and_bars():
    from wlmtui.goals import BUCKETS

    labels = fmt.bucket_labels(BUCKETS)
    assert labels[0] == "≤50" and labels[5] == "≤100" and labels[-2:] == ["≤400", ">400"]
    assert len(labels) == len(BUCKETS) + 1
    assert fmt.bar(0, 10) == " " and fmt.bar(10, 10) == "█"
    assert fmt.bar(1, 1000) != " "  # a thin tail still shows


def test_histogram_groups_buckets_when_narrow():
    from wlmtui.goals import Distribution
    from wlmtui.ui.panels.detail import histogram

    dist = Distribution(10, 0.1, 0.3, 0.5, 0.25, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1))
    bars, counts, labels = histogram(dist, 95, {}, 200)
    assert counts.plain.split() == [str(n) for n in dist.buckets]
    assert labels.plain.split()[-3:] == ["≤400", ">400", "%"] or labels.plain.endswith("% of goal")
    bars, counts, labels = histogram(dist, 95, {}, 50)
    assert labels.plain.split()[:6] == ["≤50", "≤100", "≤150", "≤200", "≤400", ">400"]
    assert counts.plain.split() == ["1", "5", "1", "1", "1", "1"]
    underlined = [s for s in labels.spans if "underline" in str(s.style)]
    assert len(underlined) == 1 and labels.plain[underlined[0].start:underlined[0].end].strip() == ">400"


def test_narrow_tables_keep_columns_by_priority():
    from wlmtui.ui.panels.classes import COLUMNS, visible_columns

    assert visible_columns(78, False, compact=False) == tuple(k for k, *_ in COLUMNS if k != "procs")
    narrow = visible_columns(78, True, compact=True)
    assert narrow == ("name", "pi", "src", "status", "delay", "weight", "measured", "procs")
    # the first four by priority, then the small imp column still fits: table order
    assert visible_columns(40, True, compact=True) == ("name", "imp", "pi", "src", "status")


def test_process_rows_sort_and_filter():
    from wlmtui.ui.processes import process_cells, process_rows

    from .support import fake_process

    procs = [fake_process(30, "/usr/bin/b", "b --x", "web", 0.2), fake_process(10, "/usr/bin/a", "a", "batch", None),
             fake_process(20, "/usr/bin/c", "c -v", "web", 0.9, want="batch", state="would move")]
    assert [p.pid for p in process_rows(procs)] == [20, 30, 10]  # CPU first; unknown CPU last
    assert [p.pid for p in process_rows(procs, "pid")] == [10, 20, 30]
    assert [p.pid for p in process_rows(procs, "class")] == [10, 20, 30]
    assert [p.pid for p in process_rows(procs, "command")] == [10, 30, 20]
    assert [p.pid for p in process_rows(procs, "cpu", "WEB")] == [20, 30]
    assert [p.pid for p in process_rows(procs, "cpu", "web -v")] == [20]
    cells = process_cells(procs[2])
    assert cells["state"] == ("would move → batch", "moving") and cells["cpu"][0] == "0.90"
