"""A question with a few answers (overwrite / cancel, save / quit / stay …)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[str | None]):
    """Returns the id of the chosen answer, or ``None`` for escape."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", id="wlmtui.modal.cancel"),
        Binding("left,up", "app.focus_previous", "Previous", show=False),
        Binding("right,down", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str, str]], *, focus: str | None = None):
        super().__init__(classes="wlm-modal")
        self.title_text = title
        self.message = message
        self.choices = choices
        self.focus_id = focus or (choices[-1][0] if choices else None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog") as box:
            box.border_title = self.title_text
            yield Static(self.message, classes="message", markup=False)
            with Horizontal(classes="buttons"):
                for cid, label, variant in self.choices:
                    yield Button(label, id=f"choice-{cid}", variant=variant)

    def on_mount(self) -> None:
        if self.focus_id:
            self.query_one(f"#choice-{self.focus_id}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
