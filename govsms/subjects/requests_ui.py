"""Placeholder: filled in by the data-subject request work (issue 13)."""

from __future__ import annotations

from typing import Any

from govsms.web.render import NavItem

ROUTES: list[Any] = []
NAV: list[NavItem] = []
