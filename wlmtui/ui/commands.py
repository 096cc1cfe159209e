"""The command palette (ctrl+p): every console action, each class, each theme."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from wlmtui.ui.app import WlmApp


def palette_commands(app: "WlmApp") -> list[tuple[str, str, Callable[[], object]]]:
    """(title, help, callback) for everything the palette offers right now."""
    out: list[tuple[str, str, Callable[[], object]]] = []
    for action, title, help_text in app.palette_actions():
        out.append((title, help_text, partial(app.run_palette_action, action)))
    for name in app.class_names():
        out.append((f"Select class: {name}", "show this class in the detail panel", partial(app.select_class, name)))
    for theme in sorted(app.available_themes):
        out.append((f"Theme: {theme}", "switch the console's colours", partial(app.set_theme, theme)))
    return out


class WlmCommands(Provider):
    async def discover(self) -> Hits:
        app = self.app
        for title, help_text, callback in palette_commands(app):  # type: ignore[arg-type]
            if not title.startswith(("Select class", "Theme:")):
                yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in palette_commands(self.app):  # type: ignore[arg-type]
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
