"""One page of a long list, and the arithmetic the templates and the API need around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def clamp_page(page: int | None, per_page: int | None) -> tuple[int, int]:
    """A page number from 1 and a page size within bounds, whatever the query string said."""
    size = min(max(per_page or DEFAULT_PER_PAGE, 1), MAX_PER_PAGE)
    return max(page or 1, 1), size
