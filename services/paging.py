"""The one paging rule of every listing (`/invoices due`, `/invoices sent`): 1-based pages, a
page past the end clamped to the last one (a stale *Next* button still shows rows)."""

from __future__ import annotations

from dataclasses import dataclass


def page_count_of(total_count: int, page_size: int) -> int:
    return max(1, -(-total_count // page_size))


def clamped_page(page: int, *, total_count: int, page_size: int) -> int:
    """`page` within 1 … the last page of `total_count` rows."""
    return min(max(1, page), page_count_of(total_count, page_size))


@dataclass(frozen=True, kw_only=True)
class Paging:
    """Where a page sits in its listing; the buttons (◀ Previous, Next ▶) follow from it."""

    total_count: int
    page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return page_count_of(self.total_count, self.page_size)

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size
