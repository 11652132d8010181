"""Limits on uploaded recipient files, and the Refusal the file parser raises when one is broken.

This module is imported by the parser's child process, so it stays free of heavy imports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govsms.settings import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What an uploaded file may be and hold. The defaults are the defaults of ``Settings``."""

    max_bytes: int = 20 * MB
    max_unpacked_bytes: int = 200 * MB  # what an .xlsx's parts may declare, unpacked
    max_cells: int = 4_000_000  # rows x columns of a sheet from A1, declared or held; CSV fields
    parse_memory_bytes: int = 400 * MB  # address space of the child process that parses
    parse_seconds: float = 60  # wall clock for the child; its CPU time limit is a little less
    max_rows: int = 200_000  # rows with a number or a name
    # A list of recipients has a number, a name and perhaps some columns more; an export of a
    # register rarely has more than a few dozen. Memory is bounded by max_cells either way.
    max_columns: int = 256

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_bytes=settings.upload_max_mb * MB,
            max_unpacked_bytes=settings.upload_max_unpacked_mb * MB,
            max_cells=settings.upload_max_cells,
            parse_memory_bytes=settings.upload_parse_memory_mb * MB,
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Refusal(Exception):  # noqa: N818 - a refusal of the file, reported to the user, not a fault
    """A file the parser will not read: ``message`` is an English source string marked with
    ``N_()``, translated by the web process; ``params`` fill its placeholders (ints are counts,
    formatted for the reader's language; strings go in as they are)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params
