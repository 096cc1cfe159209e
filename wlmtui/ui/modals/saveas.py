"""Ask where to save a policy that has no file yet (the demo)."""

from __future__ import annotations

import os

from wlmtui.ui.modals.field import OneFieldScreen


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


class SaveAsScreen(OneFieldScreen):
    DIALOG_ID, FIELD, LABEL, APPLY = "saveas-dialog", "path", "File", "Continue"

    def __init__(self, suggestion: str = "policy.yaml"):
        super().__init__()
        self.suggestion = suggestion

    def dialog_title(self) -> str:
        return "Save policy as"

    def dialog_text(self) -> str:
        return "This policy has no file yet. Where should it be written?"

    def initial(self) -> str:
        return self.suggestion

    def check(self, text: str) -> tuple[str | None, str]:
        return check_path(text)
