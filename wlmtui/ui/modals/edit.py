"""Edit the selected class: gains, importance, weights, goal, budget.

Every keystroke re-validates the whole form with the policy's own rules
(:mod:`wlmtui.ui.editing`); the problem is shown under its field and Apply
stays disabled until the form is valid. Applying returns the edited
:class:`~wlmtui.policy.ServiceClass`; the console sends it as
``UpdateClass`` and the loop adopts it at the next tick.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from wlmtui.policy import ServiceClass
from wlmtui.ui.editing import Validation, form_fields, initial_values, validate
from wlmtui.ui.modals import show_error


class EditScreen(ModalScreen[ServiceClass | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="wlmtui.modal.cancel"),
        Binding("up", "app.focus_previous", "Previous field", show=False),
        Binding("down", "app.focus_next", "Next field", show=False),
    ]

    def __init__(self, cls: ServiceClass):
        super().__init__(classes="wlm-modal")
        self.cls = cls
        self.fields = form_fields(cls)
        self.initial = initial_values(cls)
        self.result: Validation = validate(cls, self.initial)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="edit-dialog") as box:
            box.border_title = f"Edit {self.cls.name}"
            box.border_subtitle = self.cls.goal.describe()
            with VerticalScroll(id="edit-fields"):
                for f in self.fields:
                    with Horizontal(classes="field-row"):
                        yield Label(f.label, classes="field-label")
                        yield Input(self.initial[f.key], id=f"field-{f.key}", compact=True, select_on_focus=True)
                        yield Label(f.hint, classes="field-hint")
                    yield Static("", id=f"error-{f.key}", classes="field-error", markup=False)
            yield Static("", id="edit-general", classes="field-error", markup=False)
            yield Static("Enter applies at the next tick (bumpless); ctrl+s in the console saves the file.",
                         classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show(self.result)
        if self.fields:
            self.query_one(f"#field-{self.fields[0].key}", Input).focus()

    def values(self) -> dict[str, str]:
        return {f.key: self.query_one(f"#field-{f.key}", Input).value for f in self.fields}

    def _show(self, result: Validation) -> None:
        for f in self.fields:
            message = result.errors.get(f.key, "")
            show_error(self.query_one(f"#error-{f.key}", Static), message)
            self.query_one(f"#field-{f.key}", Input).set_class(bool(message), "-invalid")
        general = self.query_one("#edit-general", Static)
        general.update("\n".join(result.general))
        general.display = bool(result.general)
        self.query_one("#apply", Button).disabled = not result.ok

    def on_input_changed(self, event: Input.Changed) -> None:
        self.result = validate(self.cls, self.values())
        self._show(self.result)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        self.result = validate(self.cls, self.values())
        self._show(self.result)
        if not self.result.ok:
            self.app.bell()
            return
        self.dismiss(self.result.cls)

    def action_cancel(self) -> None:
        self.dismiss(None)
