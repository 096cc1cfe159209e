"""Colours the panels draw with, read from the current theme's variables."""

from __future__ import annotations

from textual.app import App

from wlmtui.ui.themes import VARIABLE_DEFAULTS

STATUS_VAR = {"missing": "wlm-missing", "meeting": "wlm-meeting", "beating": "wlm-beating",
              "idle": "wlm-idle", "absent": "wlm-missing", "token": "wlm-idle"}
SIGNAL_VAR = {"green": "wlm-green", "yellow": "wlm-yellow", "red": "wlm-red", "black": "wlm-black"}
EVENT_VAR = {"decision": "wlm-beating", "edit": "accent", "reload": "primary", "error": "wlm-missing",
             "token": "wlm-yellow", "info": "wlm-idle",
             "classify": "accent"}


_cache: dict[tuple[int, str, str], str] = {}


def var(app: App, name: str) -> str:
    """A theme colour by variable name: the console's own (``wlm-*``) or a
    Textual base colour (``primary``, ``accent`` …), for the theme in force now."""
    key = (id(app), app.theme, name)
    value = _cache.get(key)
    if value is None:
        theme = app.current_theme
        value = theme.variables.get(name) or VARIABLE_DEFAULTS.get(name)
        if value is None:
            attr = getattr(theme, name, None) if name.replace("-", "_").isidentifier() else None
            value = attr if isinstance(attr, str) else (app.theme_variables or {}).get(name, "default")
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = value
    return value


def status_colour(app: App, status: str) -> str:
    return var(app, STATUS_VAR.get(status, "wlm-idle"))


def signal_style(app: App, signal: str) -> str:
    """Rich style for a signal lamp; black is drawn on a chip so it shows."""
    if signal == "black":
        return f"bold {var(app, 'wlm-black')} on {var(app, 'wlm-black-chip')}"
    return f"bold {var(app, SIGNAL_VAR.get(signal, 'wlm-idle'))}"
