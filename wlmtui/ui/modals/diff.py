"""Show what saving would change in the policy file, then confirm or cancel."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from wlmtui.ui.style import var


def coloured_diff(diff_text: str, add: str, remove: str, hunk: str) -> Text:
    out = Text(no_wrap=True, overflow="crop")
    for line in diff_text.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = add
        elif line.startswith("-"):
            style = remove
        elif line.startswith("@@"):
            style = hunk
        else:
            style = "dim"
        out.append(line + "\n", style=style)
    return out


class DiffScreen(ModalScreen[bool]):
    """Returns True to write the file."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel"),
        Binding("y", "write", "Write", id="wlmtui.modal.confirm"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, path: str, diff_text: str, note: str = ""):
        super().__init__(classes="wlm-modal")
        self.path = path
        self.diff_text = diff_text
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="diff-dialog") as box:
            box.border_title = f"Save {self.path}?"
            if self.note:
                yield Static(self.note, classes="message", markup=False)
            with VerticalScroll(id="diff-scroll"):
                yield Static(coloured_diff(self.diff_text, var(self.app, "wlm-meeting"),
                                           var(self.app, "wlm-missing"), var(self.app, "wlm-beating")),
                             id="diff-text")
            with Horizontal(classes="buttons"):
                yield Button("Write file (y)", id="write", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#write", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "write")

    def action_write(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
