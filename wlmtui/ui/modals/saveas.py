"""Ask where to save a policy that has no file yet (the demo)."""

from __future__ import annotations

import os
from wlmtui.ui.modals import show_error

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


def check_path(text: str) -> tuple[str | None, str]:
    path = os.path.expanduser(text.strip())
    if not path:
        return None, "is required"
    if os.path.isdir(path):
        return None, "is a directory; give a file name"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return None, f"folder {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return None, f"folder {parent} is not writable"
    return path, ""


class SaveAsScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel")]

    def __init__(self, suggestion: str = "policy.yaml"):
        super().__init__(classes="wlm-modal")
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="saveas-dialog") as box:
            box.border_title = "Save policy as"
            yield Static("This policy has no file yet. Where should it be written?", classes="message")
            with Horizontal(classes="field-row"):
                yield Label("File", classes="field-label")
                yield Input(self.suggestion, id="field-path", compact=True)
            yield Static("", id="error-path", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._check()
        self.query_one("#field-path", Input).focus()

    def _check(self) -> str | None:
        path, message = check_path(self.query_one("#field-path", Input).value)
        show_error(self.query_one("#error-path", Static), message)
        self.query_one("#apply", Button).disabled = path is None
        return path

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = self._check()
        if path is not None:
            self.dismiss(path)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        path = self._check() if event.button.id == "apply" else None
        if event.button.id != "apply" or path is not None:
            self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
