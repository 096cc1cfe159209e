"""The console: a Textual app around the control loop.

The loop runs in a thread worker and is the only writer of engine state; it
publishes one frozen :class:`~wlmtui.snapshot.Snapshot` per tick into the
app's mailbox and posts a :class:`~wlmtui.ui.messages.SnapshotReady` (a
backlog of those collapses into one). The app feeds every snapshot into its
history and event log and draws the newest. Operator edits travel to the
loop as commands (``loop.send``) and take effect at the next tick.

For tests, ``WlmApp(loop, autostart=False)`` starts no worker; drive it with
:meth:`WlmApp.advance` (steps the loop on its ``ManualClock``) or call
``loop.step()`` and :meth:`WlmApp.apply_snapshot` yourself.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from importlib import resources
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import SystemModalScreen
from textual.events import Resize
from textual.widgets import DataTable, Footer, Tab, Tabs

from wlmtui import commands as cmd
from wlmtui.classify.commands import MoveProcess
from wlmtui.loop import ControlLoop, ManualClock
from wlmtui.policy import Policy, PolicyError, ServiceClass, parse_policy
from wlmtui.snapshot import Event, Snapshot
from wlmtui.ui import heap
from wlmtui.ui.commands import WlmCommands
from wlmtui.ui.history import DEFAULT_SIZE, History
from wlmtui.ui.keymap import load_keymap
from wlmtui.ui.messages import LoopNote, LoopStopped, SnapshotReady
from wlmtui.ui.modals.confirm import ConfirmScreen
from wlmtui.ui.modals.diff import DiffScreen
from wlmtui.ui.modals.edit import EditScreen
from wlmtui.ui.modals.help import HelpScreen
from wlmtui.ui.modals.move import RELEASE, MoveScreen, process_label
from wlmtui.ui.modals.pin import PinScreen
from wlmtui.ui.modals.saveas import SaveAsScreen
from wlmtui.ui.panels.classes import COMPACT_WIDTH, ClassTable
from wlmtui.ui.panels.detail import DetailPanel
from wlmtui.ui.panels.events import EventLog
from wlmtui.ui.panels.header import HeaderPanel
from wlmtui.ui.panels.pressure import PressurePanel
from wlmtui.ui.panels.tokens import TokenPanel, pick
from wlmtui.ui.processes import ProcessScreen
from wlmtui.ui.policy_save import (
    FileStamp,
    LocalPolicyFiles,
    SaveError,
    backup_path,
    changed_fields,
    diff,
    policy_to_yaml,
    render_updated_yaml,
)
from wlmtui.ui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes

#: actions that change anything; hidden and refused in a read-only console
EDIT_ACTIONS = frozenset({"edit", "pin", "pause", "emergency_stop", "reload", "save", "move_process"})
#: below this width or height the panels below the class table become tabs
NARROW_WIDTH, NARROW_HEIGHT = 110, 34
#: narrower than this the footer leaves out its "^p palette" hint to fit every key
PALETTE_HINT_WIDTH = 90
#: actions on the selected class: off in the processes view
CLASS_ACTIONS = frozenset({"edit", "pin", "emergency_stop", "next_view", "processes"})
VIEWS = ("detail", "tokens", "events")


class UnknownTheme(Exception):
    pass


class WlmApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "wlmtui"
    COMMANDS = App.COMMANDS | {WlmCommands}
    NOTIFICATION_TIMEOUT = 4

    BINDINGS = [
        Binding("e", "edit", "Edit", id="wlmtui.edit", tooltip="Edit the selected class"),
        Binding("m", "pin", "Pin", id="wlmtui.pin", tooltip="Pin / release the selected class's weight"),
        Binding("space", "pause", "Pause", id="wlmtui.pause", tooltip="Pause or resume control"),
        Binding("exclamation_mark", "emergency_stop", "Stop", id="wlmtui.emergency-stop",
                tooltip="Emergency stop (black) / release of the selected token class"),
        Binding("r", "reload", "Reload", id="wlmtui.reload", tooltip="Reload the policy file from disk"),
        Binding("ctrl+s", "save", "Save", id="wlmtui.save", tooltip="Save edits to the policy file"),
        Binding("p", "processes", "Procs", id="wlmtui.processes",
                tooltip="Processes: each one's class and rule; move one to another class"),
        Binding("v", "next_view", "View", id="wlmtui.view", show=False, tooltip="Next panel (narrow terminals)"),
        Binding("t", "change_theme", "Theme", id="wlmtui.theme", show=False),
        Binding("question_mark", "help", "Help", id="wlmtui.help"),
        Binding("q", "quit", "Quit", id="wlmtui.quit"),
    ]

    #: what each action is called in the help screen and the palette
    ACTION_TITLES = {
        "edit": ("Edit selected class", "Kp, Ki, importance, weights, goal, budget"),
        "pin": ("Pin / release weight", "hold the selected class's weight by hand"),
        "pause": ("Pause / resume control", "observe only, or act again"),
        "emergency_stop": ("Emergency stop / release token class", "signal black until released"),
        "reload": ("Reload policy from disk", "a bad file keeps the policy in force"),
        "save": ("Save policy", "diff first, then an atomic write with a backup"),
        "processes": ("Processes", "each process, its class and the rule that put it there (p again: back)"),
        "move_process": ("Move process to another class", "processes view: the selected process, by hand"),
        "next_view": ("Next panel", "detail / tokens / events when the terminal is small"),
        "change_theme": ("Change theme", "pick a colour theme"),
        "help": ("Help", "keys, colours, configuration"),
        "quit": ("Quit", "asks when edits are unsaved"),
    }

    def __init__(self, loop: ControlLoop, *, readonly: bool = False, theme: str | None = None,
                 autostart: bool = True, keymap_file: Path | None = None, theme_dir: Path | None = None,
                 history_size: int = DEFAULT_SIZE):
        super().__init__()
        self.loop = loop
        self.readonly = readonly
        self.autostart = autostart
        self.history = History(history_size)
        self.snapshot: Snapshot | None = None
        self.selected: str | None = None
        self.narrow = False
        self.view = "detail"
        self.loop_error: str | None = None
        self._mailbox: list[Snapshot] = []
        self._mail_lock = threading.Lock()
        self._stop = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self._loop_done = threading.Event()
        self._primed = False
        self._pending: dict[str, tuple[ServiceClass, int]] = {}  # edits sent, not yet in a snapshot
        self._expected: tuple[Policy, int] | None = None  # a policy sent with ReplacePolicy
        self._edited: dict[str, set[str]] = {}  # fields edited since load/save, per class
        self._want_paused: bool | None = None
        self._saved_at: int | None = None
        self._last_errors: tuple[str, ...] = ()
        self._grid_rows: str | None = None
        self._heap_frozen = False
        self._notes: list[tuple[str, str]] = []  # (kind, text) for the event log once mounted
        #: reads and writes the policy file: this host's, or the daemon's when attached (RemoteLoop)
        self.files = getattr(loop, "policy_files", None) or LocalPolicyFiles()
        source = loop.policy.source
        self._stamp = self.files.stamp(source) if source else None
        self._template = self._template_text(loop.policy)
        themes, problems = load_themes(theme_dir)
        for t in themes:
            self.register_theme(t)
        self._notes += [("error", p) for p in problems]
        wanted = theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            raise UnknownTheme(f"unknown theme {wanted!r} (available: {', '.join(sorted(self.available_themes))})")
        self.theme = wanted
        ids = [b.id for b in [*self.BINDINGS, *ProcessScreen.BINDINGS] if isinstance(b, Binding) and b.id]
        self.keymap, problems = load_keymap(ids, keymap_file)
        self._notes += [("error", p) for p in problems]

    # -- building ----------------------------------------------------------------
    @staticmethod
    def _template_text(policy: Policy) -> str:
        """Text to write a policy without a file into (the demo's packaged YAML)."""
        try:
            text = resources.files("wlmtui.data").joinpath("demo.yaml").read_text(encoding="utf-8")
            if parse_policy(text).names() == policy.names():
                return text
        except (OSError, PolicyError):
            pass
        return policy_to_yaml(policy)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        p = self.loop.policy
        yield HeaderPanel(id="header", host=self.loop.host, kernel=self.loop.kernel,
                          backend=getattr(self.loop.backend, "kind", ""), policy_file=p.source,
                          interval=self.loop.interval)
        with Container(id="body"):
            yield PressurePanel(self.history, id="pressure")
            yield ClassTable(id="classes")
            yield Tabs(Tab("Detail", id="tab-detail"), Tab("Tokens", id="tab-tokens"),
                       Tab("Events", id="tab-events"), id="view-tabs")
            yield DetailPanel(self.history, id="detail")
            yield TokenPanel(id="tokens")
            yield EventLog(id="events")
        yield Footer()

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self._layout(self.size.width, self.size.height)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        events = self.query_one(EventLog)
        wall = self.loop.wall()
        mode = " (read-only)" if self.readonly else ""
        events.note(wall, "info", f"console started{mode}: {self.loop.policy.summary()}")
        for kind, text in self._notes:
            events.note(wall, kind, text)
        table = self.query_one(ClassTable)
        table.focus()
        self._draw_header()
        if getattr(self.loop, "remote", False):  # attached to a daemon: its notes and link state
            self.loop.on_note = lambda kind, text: self.post_message(LoopNote(kind, text))
            self.loop.on_link = lambda: self.post_message(LoopNote("", ""))
            for kind, text in self.loop.notes:
                events.note(wall, kind, text)
        if self.autostart:
            self.run_worker(self._run_loop, thread=True, name="control-loop", group="loop", exit_on_error=False)

    # -- the loop thread ---------------------------------------------------------
    def _run_loop(self) -> None:
        self._loop_thread = threading.current_thread()
        self._loop_done.clear()
        try:
            self.loop.run(self._stop, self._publish)
        except Exception as exc:  # noqa: BLE001 - the console stays up and says why
            self.post_message(LoopStopped(f"{type(exc).__name__}: {exc}"))
        finally:
            self._loop_done.set()

    def _publish(self, snap: Snapshot) -> None:
        """Called in the loop thread: leave the snapshot, wake the app."""
        with self._mail_lock:
            self._mailbox.append(snap)
            if len(self._mailbox) > self.history.size:
                del self._mailbox[0]
        self.post_message(SnapshotReady(snap))

    @property
    def loop_running(self) -> bool:
        return self._loop_thread is not None and not self._loop_done.is_set()

    def stop_loop(self, timeout: float = 5.0) -> bool:
        """Ask the loop to stop after its current tick; wait for it. True once it stopped."""
        self._stop.set()
        if self._loop_thread is None or self._loop_thread is threading.current_thread():
            return True
        return self._loop_done.wait(timeout)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if not self.is_running:  # shutting down: the panels may be gone (a fast daemon's last snapshots)
            return
        with self._mail_lock:
            batch, self._mailbox = self._mailbox, []
        if not batch:
            return
        for snap in batch[:-1]:
            self._absorb(snap)
        self.apply_snapshot(batch[-1], absorbed=False)

    def on_loop_note(self, message: LoopNote) -> None:
        """A note from an attached console's link (refusals, lost and found daemon)."""
        if not self.is_running:
            return
        if message.text:
            self._note(message.kind, message.text)
            if message.kind == "error":
                self.notify(message.text, severity="error", timeout=8)
        self._draw_header()

    def on_loop_stopped(self, message: LoopStopped) -> None:
        self.loop_error = message.error
        self._note("error", f"control loop stopped: {message.error}")
        self.notify(f"The control loop stopped: {message.error}", severity="error", timeout=10)
        self._draw_header()

    # -- tests and the benchmark drive the loop by hand ----------------------------
    def advance(self, n: int = 1, dt: float | None = None) -> Snapshot:
        """Step the loop ``n`` ticks on its manual clock and draw the result."""
        if self.loop.last is None and not self._primed:
            self.loop.prime()
        self._primed = True
        snap = self.snapshot
        for i in range(n):
            if isinstance(self.loop.clock, ManualClock):
                self.loop.clock.advance(dt or self.loop.interval)
            snap = self.loop.step()
            if i < n - 1:
                self._absorb(snap)
        assert snap is not None
        self.apply_snapshot(snap, absorbed=False)
        return snap

    # -- drawing -------------------------------------------------------------------
    def _absorb(self, snap: Snapshot) -> None:
        """History, events and bookkeeping for one snapshot (drawn or not)."""
        self.history.add(snap)
        self.query_one(EventLog).add_events(snap.events)
        if snap.errors != self._last_errors:
            new = [e for e in snap.errors if e not in self._last_errors]
            if new:
                self.query_one(EventLog).add_events(Event(snap.wall, "error", e) for e in new)
            self._last_errors = snap.errors
        for e in snap.events:
            if e.kind == "reload":
                self._edited.clear()
                self._pending.clear()
                source = snap.policy.source
                self._stamp = self.files.stamp(source) if source else None
            elif e.kind == "edit" and e.text.startswith(("policy saved", "policy replaced")):
                self._expected = None
        for name, (cls, tick) in list(self._pending.items()):
            if snap.policy.get(name) == cls or snap.tick >= tick + 3:
                del self._pending[name]
        if self._expected is not None and snap.tick >= self._expected[1] + 3:
            self._expected = None
        if self._want_paused is not None and snap.paused == self._want_paused:
            self._want_paused = None

    def apply_snapshot(self, snap: Snapshot, absorbed: bool = False) -> None:
        """Draw a snapshot on every panel (feeds history and events unless ``absorbed``)."""
        if not absorbed:
            self._absorb(snap)
        first = self.snapshot is None
        self.snapshot = snap
        procs = self.process_screen
        if procs is not None and not first:
            procs.update_snapshot(snap)  # the main screen is hidden: drawn again when the view closes
            return
        self._draw_header()
        self.query_one(PressurePanel).update_snapshot(snap)
        table = self.query_one(ClassTable)
        table.update_snapshot(snap)
        self._fit(snap)
        if self.selected is None or snap.policy.get(self.selected) is None:
            self.selected = table.selected_name
        self._draw_detail()
        tokens = self.query_one(TokenPanel)
        if tokens.display or first:
            expected = [c.name for c in snap.policy.classes if c.is_token]
            tokens.update_tokens(snap.tokens, snap.wall, expected)
        if procs is not None:
            procs.update_snapshot(snap)
        if first:
            self.refresh_bindings()
            if not self._heap_frozen:
                self._heap_frozen = True
                self.call_after_refresh(heap.freeze)  # the DOM is built and drawn: long-lived from here

    @property
    def process_screen(self) -> ProcessScreen | None:
        """The processes view when it is open (shown, or under a modal)."""
        for screen in self.screen_stack:
            if isinstance(screen, ProcessScreen):
                return screen
        return None

    def _fit(self, snap: Snapshot | None) -> None:
        """Size the class table to its rows; hide the token panel when there are no token classes."""
        table = self.query_one(ClassTable)
        body = self.query_one("#body")
        width = self.size.width
        table.fit(width - 2, snap is not None and snap.classify is not None, width < COMPACT_WIDTH)
        rows = table.row_count or len(self.loop.policy.classes)
        # header + rows + horizontal scrollbar (+ border when not narrow), at most about half the screen
        height = min(rows + 1 + table.scrolls_x + (0 if self.narrow else 2), max(6, int(self.size.height * 0.45)))
        if self.narrow:
            if table.styles.height is None or table.styles.height.value != height:
                table.styles.height = height
        else:
            if table.styles.height is None or str(table.styles.height) != "1fr":
                table.styles.height = "1fr"
            rows_spec = f"auto {height} 1fr 1fr"
            if self._grid_rows != rows_spec:
                self._grid_rows = rows_spec
                body.styles.grid_rows = rows_spec
        policy = snap.policy if snap is not None else self.loop.policy
        no_tokens = not any(c.is_token for c in policy.classes)
        if body.has_class("-no-tokens") != no_tokens:
            body.set_class(no_tokens, "-no-tokens")

    def mode_flags(self) -> list[str]:
        """Flags that lead the header (the replay console names its time cursor here)."""
        return []

    def _draw_header(self) -> None:
        snap = self.snapshot
        flags = self.mode_flags()
        if self.loop_error:
            flags.append("LOOP STOPPED")
        link = getattr(self.loop, "link_flag", None)  # attached: RECONNECTING while the daemon is away
        if link:
            flags.append(link)
        if self.paused:
            flags.append("PAUSED")
        if snap is not None and snap.dry_run or snap is None and self.loop.dry_run:
            flags.append("DRY RUN")
        if self.readonly:
            flags.append("READ-ONLY")
        if snap is not None and snap.errors:
            flags.append(f"{len(snap.errors)} error{'s' if len(snap.errors) > 1 else ''}")
        self.query_one(HeaderPanel).update_snapshot(snap, dirty=self.dirty, flags=flags)

    def _draw_detail(self) -> None:
        detail = self.query_one(DetailPanel)
        if not detail.display:
            return
        policy = self.effective_policy()
        cls = policy.get(self.selected) if self.selected else None
        line = ""
        if cls is not None and cls.is_token and self.snapshot is not None:
            status = self.snapshot.tokens.get(cls.name)
            if status is not None:
                line = f"  signal {pick(status, 'signal') or '?'}"
        detail.show(self.snapshot, self.selected, cls, line)

    def _on_theme_changed(self, theme) -> None:
        self.query_one(ClassTable).restyle()
        self.query_one(TokenPanel).restyle()
        if self.process_screen is not None:
            self.process_screen.restyle()
        if self.snapshot is not None:
            self.apply_snapshot(self.snapshot, absorbed=True)

    # -- state the actions need ------------------------------------------------------
    @property
    def paused(self) -> bool:
        if self._want_paused is not None:
            return self._want_paused
        return bool(self.snapshot and self.snapshot.paused)

    @property
    def dirty(self) -> bool:
        if self._pending:
            return True
        if self.snapshot is None:
            return self.loop.dirty
        if self._saved_at is not None and self.snapshot.tick < self._saved_at + 3 and not self._edited:
            return False
        return self.snapshot.dirty

    def effective_policy(self) -> Policy:
        """The policy as the operator last left it (snapshot plus edits not yet applied)."""
        if self._expected is not None:
            policy = self._expected[0]
        else:
            policy = self.snapshot.policy if self.snapshot is not None else self.loop.policy
        for cls, _ in self._pending.values():
            if policy.get(cls.name) is not None:
                policy = policy.with_class(cls)
        return policy

    def class_names(self) -> list[str]:
        return self.effective_policy().names()

    def selected_class(self) -> ServiceClass | None:
        return self.effective_policy().get(self.selected) if self.selected else None

    def _tick(self) -> int:
        return self.snapshot.tick if self.snapshot is not None else 0

    def _note(self, kind: str, text: str) -> None:
        wall = self.snapshot.wall if self.snapshot is not None else self.loop.wall()
        self.query_one(EventLog).note(wall, kind, text)

    # -- layout --------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        body = self.query_one("#body")
        changed = narrow != self.narrow
        self.narrow = narrow
        body.set_class(narrow, "-narrow")
        for v in VIEWS:
            body.set_class(v == self.view, f"-view-{v}")
        self._fit(self.snapshot)
        footer = self.query_one(Footer)
        footer.compact = narrow
        footer.show_command_palette = width >= PALETTE_HINT_WIDTH  # ^p is in the help screen
        if changed:
            self._grid_rows = None
            self.refresh_bindings()
            if self.snapshot is not None:
                self.call_after_refresh(self._redraw_all)

    def _redraw_all(self) -> None:
        if self.snapshot is not None:
            self.apply_snapshot(self.snapshot, absorbed=True)

    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            return
        self.view = view
        body = self.query_one("#body")
        for v in VIEWS:
            body.set_class(v == view, f"-view-{v}")
        tabs = self.query_one("#view-tabs", Tabs)
        if tabs.active != f"tab-{view}":
            tabs.active = f"tab-{view}"
        self.call_after_refresh(self._redraw_all)

    @on(Tabs.TabActivated, "#view-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is not None and event.tab.id:
            view = event.tab.id.removeprefix("tab-")
            if view != self.view:
                self.set_view(view)

    def action_next_view(self) -> None:
        self.set_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])

    # -- selection -------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#classes")
    def _class_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name and name != self.selected:
            self.selected = name
            self._draw_detail()

    @on(DataTable.RowHighlighted, "#tokens-table")
    def _token_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.has_focus and event.row_key is not None and event.row_key.value:
            self.select_class(event.row_key.value)

    def select_class(self, name: str) -> None:
        self.selected = name
        self.query_one(ClassTable).select(name)
        self._draw_detail()

    # -- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in EDIT_ACTIONS and self.readonly:
            return False
        if action == "move_process":
            return isinstance(self.top_screen, ProcessScreen)
        if action in CLASS_ACTIONS and self.process_screen is not None:
            return False  # they act on the selected class, which the processes view does not show
        if action == "next_view":
            return self.narrow
        if action == "emergency_stop":
            return any(c.is_token for c in self.effective_policy().classes)
        return True

    @property
    def top_screen(self):
        """The screen the operator is looking at (the palette does not count)."""
        return next((s for s in reversed(self.screen_stack) if not isinstance(s, SystemModalScreen)), self.screen)

    def _allowed(self, action: str) -> bool:
        if self.readonly and action in EDIT_ACTIONS:
            self.notify(getattr(self.loop, "readonly_reason", "") or "This console is read-only (--readonly).",
                        severity="warning")
            return False
        return True

    def palette_actions(self) -> list[tuple[str, str, str]]:
        out = []
        for action, (title, help_text) in self.ACTION_TITLES.items():
            if self.check_action(action, ()) is False:
                continue
            if action == "pause":
                title = "Resume control" if self.paused else "Pause control"
            out.append((action, title, help_text))
        return out

    def run_palette_action(self, action: str) -> None:
        self.call_later(self.run_action, action)

    def set_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name

    def help_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for b in self.BINDINGS:
            if not isinstance(b, Binding) or self.readonly and b.action in EDIT_ACTIONS:
                continue
            keys = self.keymap.get(b.id or "", b.key)
            shown = ", ".join(self.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(","))
            title = self.ACTION_TITLES.get(b.action, (b.description, ""))
            rows.append((shown, f"{title[0]} — {title[1]}" if title[1] else title[0], b.id or ""))
        for b in ProcessScreen.BINDINGS:
            if not isinstance(b, Binding) or not b.id or b.action not in ProcessScreen.ACTION_TITLES:
                continue
            if self.readonly and b.action == "move":
                continue
            keys = self.keymap.get(b.id, b.key)
            shown = ", ".join(self.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(","))
            if b.action == "move":
                shown += ", enter"
            title, help_text = ProcessScreen.ACTION_TITLES[b.action]
            rows.append((shown, f"{title} — {help_text}", b.id))
        rows.append(("^p", "Command palette: every action, jump to a class, switch theme", ""))
        rows.append(("tab", "Move focus between panels", ""))
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows(), readonly=self.readonly))

    def action_processes(self) -> None:
        if isinstance(self.screen, ProcessScreen):
            self.screen.dismiss(None)
            return
        if self.process_screen is None:
            self.push_screen(ProcessScreen(readonly=self.readonly), lambda _: self._redraw_all())

    def action_move_process(self) -> None:
        """Move the process selected in the processes view to another class (a modal asks which)."""
        if not self._allowed("move_process"):
            return
        screen = self.top_screen
        if not isinstance(screen, ProcessScreen):
            self.notify("Open the processes view (p) and select a process first.", severity="warning")
            return
        p = screen.selected_process
        if p is None:
            self.notify("No process selected.", severity="warning")
            return
        classes = [c.name for c in self.effective_policy().classes if c.has_cgroup and not c.is_token]

        def done(choice: str | None) -> None:
            if choice is None:
                return
            label = process_label(p)
            if choice == RELEASE:
                self.loop.send(MoveProcess(p.pid, None, p.start))
                self.notify(f"{label}: released to the rules at the next tick.")
            else:
                self.loop.send(MoveProcess(p.pid, choice, p.start))
                self.notify(f"{label}: moving to {choice} at the next tick (by hand: the rules leave it there).")

        self.push_screen(MoveScreen(p, classes), done)

    def action_edit(self) -> None:
        if not self._allowed("edit"):
            return
        cls = self.selected_class()
        if cls is None:
            self.notify("Select a class first.", severity="warning")
            return

        def done(new: ServiceClass | None) -> None:
            if new is None or new == cls:
                return
            self.send_update(cls, new)

        self.push_screen(EditScreen(cls), done)

    def send_update(self, old: ServiceClass, new: ServiceClass) -> None:
        """Send an edited class to the loop; remember what changed for saving."""
        self.loop.send(cmd.UpdateClass(new))
        self._pending[new.name] = (new, self._tick())
        self._edited.setdefault(new.name, set()).update(changed_fields(old, new))
        self._saved_at = None
        self.notify(f"{new.name}: new settings apply at the next tick. ctrl+s saves them to the policy file.")
        self._draw_header()
        self._draw_detail()

    def action_pin(self) -> None:
        if not self._allowed("pin"):
            return
        cls = self.selected_class()
        snap = self.snapshot
        cd = snap.decision.get(cls.name) if cls is not None and snap is not None else None
        if cls is None or cd is None:
            self.notify("Select a class first (and wait for the first tick).", severity="warning")
            return
        if not cls.has_cgroup or cd.weight is None:
            self.notify(f"{cls.name} has no cgroup weight to pin.", severity="warning")
            return
        if cd.pinned:
            self.loop.send(cmd.Pin(cls.name, None))
            self.notify(f"{cls.name}: released to the controller at the next tick.")
            return

        def done(weight: int | None) -> None:
            if weight is not None:
                self.loop.send(cmd.Pin(cls.name, weight))
                self.notify(f"{cls.name}: pinned at {weight} from the next tick; m again releases it.")

        self.push_screen(PinScreen(cls, cd.weight), done)

    def action_pause(self) -> None:
        if not self._allowed("pause"):
            return
        want = not self.paused
        self.loop.send(cmd.Pause(want))
        self._want_paused = want
        self.notify("Control paused: observing only." if want else "Control resumed.")
        self._draw_header()

    def action_emergency_stop(self) -> None:
        if not self._allowed("emergency_stop"):
            return
        cls = self.selected_class()
        if cls is None or not cls.is_token:
            self.notify("Emergency stop works on token classes: select one first.", severity="warning")
            return
        status = self.snapshot.tokens.get(cls.name) if self.snapshot is not None else None
        black = str(pick(status, "signal") or "").lower() == "black" if status is not None else False
        if getattr(self.loop, "tokens", None) is None:
            self.notify("The token subsystem is not running in this console.", severity="warning")
        self.loop.send(cmd.EmergencyStop(cls.name, not black))
        self.notify(f"{cls.name}: emergency stop released." if black else f"{cls.name}: emergency stop (black).",
                    severity="information" if black else "warning")

    def action_reload(self) -> None:
        if not self._allowed("reload"):
            return
        if self.effective_policy().source is None:
            self.notify("This policy has no file to reload from (save it first with ctrl+s).", severity="warning")
            return

        def go(answer: str | None = "reload") -> None:
            if answer == "reload":
                self.loop.send(cmd.Reload())
                self.notify("Reloading the policy at the next tick.")

        if self.dirty:
            self.push_screen(ConfirmScreen("Reload policy?", "Reloading discards the console's unsaved edits.",
                                           [("reload", "Reload", "warning"), ("cancel", "Cancel", "default")]), go)
        else:
            go()

    def action_quit(self) -> None:
        if not self.dirty or self.readonly or getattr(self.loop, "remote", False):  # attached: edits stay in the daemon
            self._stop.set()
            self.exit(0)
            return

        def answer(choice: str | None) -> None:
            if choice == "quit":
                self._stop.set()
                self.exit(0)
            elif choice == "save":
                self.action_save(then_quit=True)

        self.push_screen(ConfirmScreen("Unsaved changes", "The policy has edits that are not saved to its file.",
                                       [("save", "Save…", "primary"), ("quit", "Quit without saving", "error"),
                                        ("cancel", "Stay", "default")], focus="cancel"), answer)

    def on_unmount(self) -> None:
        self._stop.set()
        if self._heap_frozen:
            heap.thaw()

    # -- saving ----------------------------------------------------------------------------
    def action_save(self, then_quit: bool = False) -> None:
        if not self._allowed("save"):
            return
        policy = self.effective_policy()
        if policy.source is None:
            def chosen(path: str | None) -> None:
                if path:
                    self._save_as(path, policy, then_quit)

            self.push_screen(SaveAsScreen(os.path.join(os.getcwd(), "policy.yaml")), chosen)
            return
        self._save_to(policy.source, policy, then_quit)

    def _save_to(self, path: str, policy: Policy, then_quit: bool, confirmed: bool = False) -> None:
        try:
            disk = self.files.read(path)
        except FileNotFoundError:
            disk = None
        except (OSError, UnicodeDecodeError) as exc:
            self._save_failed(f"cannot read {path}: {exc}")
            return
        if not confirmed and (disk is None or self.files.changed(path, self._stamp)):
            what = "was deleted" if disk is None else "changed on disk"

            def answer(choice: str | None) -> None:
                if choice == "overwrite":
                    self._save_to(path, policy, then_quit, confirmed=True)
                else:
                    self.notify("Not saved.")

            self.push_screen(ConfirmScreen(
                f"{os.path.basename(path)} {what}",
                f"{path} {what} since the console loaded it. Overwrite it with the console's edits? "
                f"(The next screen shows the difference; the old file is kept as {backup_path(path).name}.) "
                f"Or cancel and press r to reload it.",
                [("overwrite", "Overwrite", "warning"), ("cancel", "Cancel", "default")], focus="cancel"), answer)
            return
        base = disk if disk is not None else self._template
        only = self._edited if disk is not None else None
        self._render_and_confirm(path, base, disk or "", policy, only, then_quit)

    def _save_as(self, path: str, policy: Policy, then_quit: bool) -> None:
        existing = None
        if self.files.exists(path):
            try:
                existing = self.files.read(path)
            except (OSError, UnicodeDecodeError) as exc:
                self._save_failed(f"cannot read {path}: {exc}")
                return
        if existing is not None:
            note, shown_from, label = f"{path} exists and will be replaced (backup kept).", existing, None
        else:
            note = f"New file {path}: the packaged demo policy with the console's changes (shown below)."
            shown_from, label = self._template, "demo policy (packaged)"
        self._render_and_confirm(path, self._template, existing or "", replace(policy, source=path), None, then_quit,
                                 note=note, shown_from=shown_from, from_label=label)

    def _render_and_confirm(self, path: str, base: str, on_disk: str, policy: Policy, only, then_quit: bool,
                            note: str = "", shown_from: str | None = None, from_label: str | None = None) -> None:
        try:
            text = render_updated_yaml(base, policy, only=only)
            parse_policy(text, path)
        except SaveError as exc:
            self._save_failed(str(exc))
            return
        except PolicyError as exc:
            self._save_failed(f"the result would not be a valid policy: {exc.problems[0]}")
            return
        if text == on_disk:
            self.notify(f"{os.path.basename(path)} already says this; nothing to write.")
            self._after_save(path, None, then_quit)
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._write(path, text, then_quit)
            else:
                self.notify("Not saved.")

        changes = diff(on_disk if shown_from is None else shown_from, text, os.path.basename(path))
        if from_label:
            changes = changes.replace(f"--- {os.path.basename(path)} (on disk)", f"--- {from_label}", 1)
        self.push_screen(DiffScreen(path, changes, note), confirmed)

    def _write(self, path: str, text: str, then_quit: bool) -> None:
        had_file = self.files.exists(path)
        try:
            stamp = self.files.write(path, text)
        except SaveError as exc:
            self._save_failed(str(exc))
            return
        self._after_save(path, stamp, then_quit)
        backup = f" (previous version in {backup_path(path).name})" if had_file else ""
        self.notify(f"Saved {path}{backup}.")
        self._note("edit", f"saved {path}{backup}")

    def _after_save(self, path: str, stamp: FileStamp | None, then_quit: bool) -> None:
        try:
            saved = self.files.load(path)
        except PolicyError as exc:
            self._save_failed(f"{path} was written but does not load: {exc.problems[0]}")
            return
        self._stamp = stamp or self.files.stamp(path)
        self._edited.clear()
        self._pending.clear()
        self._expected = (saved, self._tick())
        self._saved_at = self._tick()
        self.loop.send(cmd.ReplacePolicy(saved, saved=True))
        self._draw_header()
        if then_quit:
            self._stop.set()
            self.exit(0)

    def _save_failed(self, message: str) -> None:
        self.notify(f"Not saved: {message}", severity="error", timeout=10)
        self._note("error", f"save failed: {message}")


def run_console(loop: ControlLoop, readonly: bool = False, theme: str | None = None) -> int:
    """Run the console until the operator quits; returns the exit code."""
    try:
        app = WlmApp(loop, readonly=readonly, theme=theme)
    except UnknownTheme as exc:
        print(f"wlmtui: {exc}", file=sys.stderr)
        return 2
    try:
        result = app.run()
    finally:
        app.stop_loop()
    return result if isinstance(result, int) else 0

