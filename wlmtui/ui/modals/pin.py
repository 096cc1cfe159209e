"""Pin a class's weight by hand (the controller tracks without acting)."""

from __future__ import annotations

from wlmtui.policy import ServiceClass
from wlmtui.ui.modals.field import OneFieldScreen


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


class PinScreen(OneFieldScreen):
    DIALOG_ID, FIELD, LABEL, APPLY = "pin-dialog", "weight", "Weight", "Pin"

    def __init__(self, cls: ServiceClass, current: int | None):
        super().__init__()
        self.cls = cls
        self.current = current

    def dialog_title(self) -> str:
        return f"Pin {self.cls.name}"

    def dialog_text(self) -> str:
        return (f"Hold the weight where you put it; the controller watches without acting "
                f"until you press m again. Allowed: {self.cls.min_weight}‥{self.cls.max_weight}.")

    def initial(self) -> str:
        return str(self.current or self.cls.base_weight)

    def check(self, text: str) -> tuple[int | None, str]:
        return check_weight(text, self.cls)
