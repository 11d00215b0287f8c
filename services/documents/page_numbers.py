"""A reportlab canvas that numbers pages "Page X of Y", which needs the page count first.

Pages are held back until the document is saved, then each gets its footer: the classic
reportlab recipe, in one place so the PDF layout code stays about layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reportlab.lib.colors import Color
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas


class NumberedCanvas(Canvas):
    """`footer_left` on the left of every page, `page_label` ("Page {page} of {pages}") on the right."""

    # reportlab's own state that the recipe uses and types-reportlab leaves out
    _pagesize: tuple[float, float]
    _startPage: Callable[[], None]

    def __init__(
        self,
        *args: Any,
        footer_left: str,
        page_label: str,
        font: str,
        color: Color,
        rule_color: Color,
        margin: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._footer_left = footer_left
        self._page_label = page_label
        self._footer_font = font
        self._footer_color = color
        self._rule_color = rule_color
        self._margin = margin
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._draw_footer(number, total)
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        width = self._pagesize[0]
        self.saveState()
        self.setStrokeColor(self._rule_color)
        self.setLineWidth(0.5)
        self.line(self._margin, 14 * mm, width - self._margin, 14 * mm)
        self.setFont(self._footer_font, 7.5)
        self.setFillColor(self._footer_color)
        self.drawString(self._margin, 10 * mm, self._footer_left)
        self.drawRightString(width - self._margin, 10 * mm, self._page_label.format(page=number, pages=total))
        self.restoreState()
