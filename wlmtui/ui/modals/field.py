"""A modal that asks for one value, checked as you type (pin, save as, go to time)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from wlmtui.ui.modals import show_error


class OneFieldScreen(ModalScreen):
    """Subclasses name the dialog and the field and say how to check it;
    the screen dismisses with :meth:`result` of a valid value, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel")]
    DIALOG_ID = ""  # CSS id of the dialog box
    FIELD = ""  # the field's key: ids field-<key> and error-<key>
    LABEL = ""
    APPLY = "OK"  # the apply button's text

    def __init__(self) -> None:
        super().__init__(classes="wlm-modal")

    # -- what a subclass says ------------------------------------------------
    def dialog_title(self) -> str:
        raise NotImplementedError

    def dialog_text(self) -> str:
        raise NotImplementedError

    def initial(self) -> str:
        return ""

    def check(self, text: str) -> tuple[Any, str]:
        """(the value, "") or (None, what is wrong with ``text``)."""
        raise NotImplementedError

    def result(self, value: Any, text: str) -> Any:
        return value

    # -- the screen ---------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id=self.DIALOG_ID) as box:
            box.border_title = self.dialog_title()
            yield Static(self.dialog_text(), classes="message")
            with Horizontal(classes="field-row"):
                yield Label(self.LABEL, classes="field-label")
                yield Input(self.initial(), id=f"field-{self.FIELD}", compact=True)
            yield Static("", id=f"error-{self.FIELD}", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.APPLY, id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._check()
        self.query_one(f"#field-{self.FIELD}", Input).focus()

    def _text(self) -> str:
        return self.query_one(f"#field-{self.FIELD}", Input).value

    def _check(self) -> Any:
        value, message = self.check(self._text())
        show_error(self.query_one(f"#error-{self.FIELD}", Static), message)
        self.query_one("#apply", Button).disabled = value is None
        return value

    def _apply(self) -> None:
        value = self._check()
        if value is not None:
            self.dismiss(self.result(value, self._text()))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self._apply()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
