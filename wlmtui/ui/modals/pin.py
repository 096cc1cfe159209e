"""Pin a class's weight by hand (the controller tracks without acting)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from wlmtui.policy import ServiceClass
from wlmtui.ui.modals import show_error


def check_weight(text: str, cls: ServiceClass) -> tuple[int | None, str]:
    text = text.strip()
    if not text:
        return None, "is required"
    try:
        value = float(text)
    except ValueError:
        return None, f"({text!r}) is not a number"
    if value != int(value):
        return None, f"({text}) must be a whole number"
    if not cls.min_weight <= value <= cls.max_weight:
        return None, f"({value:g}) is outside min_weight..max_weight ({cls.min_weight}..{cls.max_weight})"
    return int(value), ""


class PinScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel")]

    def __init__(self, cls: ServiceClass, current: int | None):
        super().__init__(classes="wlm-modal")
        self.cls = cls
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="pin-dialog") as box:
            box.border_title = f"Pin {self.cls.name}"
            yield Static(f"Hold the weight where you put it; the controller watches without acting "
                         f"until you press m again. Allowed: {self.cls.min_weight}‥{self.cls.max_weight}.",
                         classes="message")
            with Horizontal(classes="field-row"):
                yield Label("Weight", classes="field-label")
                yield Input(str(self.current or self.cls.base_weight), id="field-weight", compact=True)
            yield Static("", id="error-weight", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Pin", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._check()
        self.query_one("#field-weight", Input).focus()

    def _check(self) -> int | None:
        value, message = check_weight(self.query_one("#field-weight", Input).value, self.cls)
        show_error(self.query_one("#error-weight", Static), message)
        self.query_one("#apply", Button).disabled = value is None
        return value

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self._check()
        if value is not None:
            self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            value = self._check()
            if value is not None:
                self.dismiss(value)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
