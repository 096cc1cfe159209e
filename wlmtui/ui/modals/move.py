"""Move a process to another service class by hand (the processes view's ``c``).

Lists the classes that own a cgroup; the class the process is in now and the
one its rules give are marked. A process placed by hand (sticky) can also be
released, so the rules decide again. Returns the chosen class name,
:data:`RELEASE`, or ``None`` for escape.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

#: what the screen returns for "let the rules decide again"
RELEASE = ""


def process_label(p, most: int = 60) -> str:
    """``pid 1234 nginx -g daemon off;`` for titles and notices."""
    command = p.cmdline or p.exe or "?"
    if len(command) > most:
        command = command[:most - 1] + "…"
    return f"pid {p.pid} {command}"


class MoveScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel")]

    def __init__(self, process, classes: list[str]):
        """``process``: a classifier ProcessInfo; ``classes``: the classes with a cgroup, policy order."""
        super().__init__(classes="wlm-modal")
        self.process = process
        self.class_names = classes

    def compose(self) -> ComposeResult:
        p = self.process
        with Vertical(classes="dialog", id="move-dialog") as box:
            box.border_title = "Move process"
            box.border_subtitle = "enter moves · esc cancels"
            yield Static(Text(process_label(p), no_wrap=True, overflow="ellipsis"), id="move-process",
                         classes="message")
            options = []
            pad = max((len(n) for n in self.class_names), default=0) + 3
            for name in self.class_names:
                label = Text(name.ljust(pad), style="bold" if name == p.cls else "", no_wrap=True,
                             overflow="ellipsis")
                notes = []
                if name == p.cls:
                    notes.append("here now, by hand" if p.sticky else "here now (pick it to keep it here by hand)")
                if name == p.want and name != p.cls:
                    notes.append("where its rules put it")
                if notes:
                    label.append(", ".join(notes), style="dim")
                options.append(Option(label, id=f"class-{name}", disabled=name == p.cls and p.sticky))
            if p.sticky:
                options.append(Option(Text("Release: let the rules decide again", style="italic"), id="release"))
            yield OptionList(*options, id="move-classes")
            yield Static("The move is sticky: the classifier leaves the process (and its children) where you put "
                         "it until you release it here.", classes="note")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        first = next((i for i in range(options.option_count) if not options.get_option_at_index(i).disabled), None)
        options.highlighted = first
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        oid = event.option.id or ""
        self.dismiss(RELEASE if oid == "release" else oid.removeprefix("class-"))

    def action_cancel(self) -> None:
        self.dismiss(None)
