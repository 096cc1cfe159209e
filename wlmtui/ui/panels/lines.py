"""Text panels drawn with the line API.

A widget whose ``render()`` returns a Rich ``Text`` is, by default, turned
into Textual ``Content`` and laid out again on every refresh, at a cost of a
tenth of a millisecond or more per line. :class:`TextLines` instead renders
each line of the ``Text`` straight to a strip, once per change (``redraw()``),
width or theme, and hands out the same strips until then.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


def text_strips(text: Text, width: int, style: Style, console) -> list[Strip]:
    """One strip ``width`` cells wide per line of ``text`` (no wrapping: each
    line is cut, with an ellipsis when its overflow asks for one), on ``style``."""
    strips = []
    for line in text.split("\n", allow_blank=True):
        line.truncate(width, overflow=line.overflow or text.overflow or "crop")
        strips.append(Strip(list(line.render(console))).adjust_cell_length(width).apply_style(style))
    return strips


class PassStyle:
    """For line-API widgets: the widget's style, worked out once per repaint
    pass (``rich_style`` walks every ancestor) and read per line as
    :attr:`pass_style`."""

    _style: Style | None = None  # set while a pass draws

    def render_lines(self, crop):
        self._style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._style = None

    @property
    def pass_style(self) -> Style:
        return self._style if self._style is not None else self.rich_style


class TextLines(PassStyle, Widget):
    """Shows the ``Text`` that ``render()`` returns; call :meth:`redraw` when it changes."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._version = 0
        self._drawn_for: tuple | None = None
        self._strips: list[Strip] = []

    def redraw(self) -> None:
        """What ``render()`` returns has changed: draw it again."""
        self._version += 1
        self.refresh()

    def render(self) -> Text:  # pragma: no cover - subclasses say what they show
        return Text()

    def render_line(self, y: int) -> Strip:
        style = self.pass_style
        width = self.content_size.width
        key = (self._version, width, style, self.app.theme)
        if key != self._drawn_for:
            self._strips = text_strips(self.render(), width, style, self.app.console)
            self._drawn_for = key
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, style)
