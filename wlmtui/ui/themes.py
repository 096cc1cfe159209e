"""Console themes: YAML files turned into Textual :class:`~textual.theme.Theme`s.

The packaged themes live in ``wlmtui/data/themes/*.yaml`` (``themes/`` at the
top of the repository); an operator may add more in
``$XDG_CONFIG_HOME/wlmtui/themes/*.yaml``. A theme file holds the fields of
a Textual ``Theme`` (``name``, ``primary``, ``background`` …) plus
``variables``: the console's own colours, used in ``app.tcss`` as
``$wlm-missing`` etc. Every variable a theme leaves out falls back to
:data:`VARIABLE_DEFAULTS`, so Textual's built-in themes work too.
"""

from __future__ import annotations

import os
from dataclasses import fields
from importlib import resources
from pathlib import Path

from ruamel.yaml import YAML
from textual.theme import Theme

DEFAULT_THEME = "wlm-dark"

#: the console's colour variables and their fallbacks
VARIABLE_DEFAULTS: dict[str, str] = {
    "wlm-meeting": "#4ebf71",
    "wlm-missing": "#ff5f5f",
    "wlm-beating": "#5fafff",
    "wlm-idle": "#808080",
    "wlm-green": "#3fd07a",
    "wlm-yellow": "#f2c94c",
    "wlm-red": "#ff4d4d",
    "wlm-black": "#000000",
    "wlm-black-chip": "#c8c8c8",
    "wlm-spark": "#5fafff",
}

_THEME_FIELDS = {f.name for f in fields(Theme)}


class ThemeFileError(ValueError):
    pass


def theme_from_mapping(data: object, origin: str) -> Theme:
    """Build a Theme from a parsed YAML mapping; raise :class:`ThemeFileError`."""
    if not isinstance(data, dict):
        raise ThemeFileError(f"{origin}: a theme file must be a mapping")
    unknown = sorted(str(k) for k in data if k not in _THEME_FIELDS)
    if unknown:
        raise ThemeFileError(f"{origin}: unknown theme key(s): {', '.join(unknown)}")
    if not data.get("name") or not data.get("primary"):
        raise ThemeFileError(f"{origin}: a theme needs at least 'name' and 'primary'")
    values = {k: v for k, v in data.items()}
    variables = values.pop("variables", None) or {}
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{origin}: 'variables' must be a mapping")
    values = {k: (v if isinstance(v, (bool, int, float)) else str(v)) for k, v in values.items()}
    try:
        return Theme(**values, variables={str(k): str(v) for k, v in variables.items()})
    except (TypeError, ValueError) as exc:
        raise ThemeFileError(f"{origin}: {exc}") from None


def _load_text(text: str, origin: str) -> Theme:
    try:
        data = YAML(typ="safe").load(text)
    except Exception as exc:  # ruamel's error zoo
        raise ThemeFileError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from None
    return theme_from_mapping(data, origin)


def user_theme_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "wlmtui" / "themes"


def load_themes(extra_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Packaged themes, then the user's; returns ``(themes, problems)``."""
    themes: list[Theme] = []
    problems: list[str] = []
    packaged = resources.files("wlmtui.data").joinpath("themes")
    for entry in sorted(packaged.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            try:
                themes.append(_load_text(entry.read_text(encoding="utf-8"), f"themes/{entry.name}"))
            except ThemeFileError as exc:
                problems.append(str(exc))
    folder = extra_dir if extra_dir is not None else user_theme_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.y*ml")):
            try:
                themes.append(_load_text(path.read_text(encoding="utf-8"), str(path)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot be read ({exc})")
            except ThemeFileError as exc:
                problems.append(str(exc))
    return themes, problems
