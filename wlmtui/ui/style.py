"""Colours the panels draw with, read from the current theme's variables."""

from __future__ import annotations

from textual.app import App

from wlmtui.ui.themes import VARIABLE_DEFAULTS

STATUS_VAR = {"missing": "wlm-missing", "meeting": "wlm-meeting", "beating": "wlm-beating",
              "idle": "wlm-idle", "absent": "wlm-missing", "token": "wlm-idle"}
SIGNAL_VAR = {"green": "wlm-green", "yellow": "wlm-yellow", "red": "wlm-red", "black": "wlm-black"}
EVENT_VAR = {"decision": "wlm-beating", "edit": "accent", "reload": "primary", "error": "wlm-missing",
             "token": "wlm-yellow", "info": "wlm-idle"}


def var(app: App, name: str) -> str:
    value = app.theme_variables.get(name) if app.theme_variables else None
    return value or VARIABLE_DEFAULTS.get(name) or "default"


def status_colour(app: App, status: str) -> str:
    return var(app, STATUS_VAR.get(status, "wlm-idle"))


def signal_style(app: App, signal: str) -> str:
    """Rich style for a signal lamp; black is drawn on a chip so it shows."""
    if signal == "black":
        return f"bold {var(app, 'wlm-black')} on {var(app, 'wlm-black-chip')}"
    return f"bold {var(app, SIGNAL_VAR.get(signal, 'wlm-idle'))}"
