"""What an uploaded .xlsx declares and holds, checked before any parser reads it: its zip
entries, the first sheet's dimension and cells, and the shared strings.

A workbook of 2 KB can make a parser build a grid of 17 billion cells (cells A1 and XFD1048576)
or unpack to gigabytes. Everything here reads the zip's directory or streams a part through
expat in chunks, never more than a part declares, and mirrors how calamine finds the sheet and
places its cells (``calamine/src/xlsx``), so what is refused here is what would hurt there. The
parser still runs under a memory limit in its own process: these checks give the user a reason,
that limit keeps the server safe from what they miss.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from xml.parsers import expat

from govsms.contacts.limits import Refusal, UploadLimits
from govsms.i18n import N_

UNREADABLE = N_("The file could not be read. Upload a CSV file or an Excel file (.xlsx).")
TOO_MUCH_DATA = N_("The file holds too much data. Split it into smaller files.")
PACKED_TIGHTLY = N_("The Excel file unpacks to far more data than it holds, which a list of "
                    "recipients never does. Open it in Excel, save it again and upload it.")
TOO_MANY_PARTS = N_("The Excel file has more than %(count)s parts (sheets, images and the like). "
                    "Copy the list of recipients into a new workbook and upload that.")
TOO_MANY_COLUMNS = N_("The sheet reaches column %(column)s; a list of recipients has at most "
                      "%(count)s columns. Delete the columns you do not need, or the content far "
                      "to the right, and upload it again.")
TOO_MANY_CELLS = N_("The sheet's content spans A1 to %(cell)s, more than %(count)s cells. Delete "
                    "the content far below or to the right of the list (or split the list into "
                    "smaller files) and upload it again.")
TOO_MANY_STRINGS = N_("The Excel file has more than %(count)s different texts. Split it into "
                      "smaller files.")
LONG_TEXT = N_("The Excel file holds a text longer than %(count)s characters, more than Excel "
               "allows in a cell. Save the list as CSV, or save it again from Excel, and upload it.")

MAX_ENTRIES = 2000  # Excel writes a dozen parts, and a few more per sheet, image or chart
MAX_RATIO = 100  # unpacked/packed; Excel's sheets pack 5-20 times, a run of zeros 1000 times
RATIO_FLOOR = 1024 * 1024  # small parts may pack as tightly as they like
MAX_TEXT = 32_767  # the longest text Excel keeps in a cell
CHUNK = 64 * 1024
SHEET_FOLDERS = ("xl/worksheets", "xl/chartsheets", "xl/dialogsheets")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class _Stop(Exception):  # noqa: N818 - ends a scan early; not an error
    pass


def check_workbook(archive: zipfile.ZipFile, limits: UploadLimits) -> None:
    """Refuses the workbook (``Refusal``) if reading its first sheet could exhaust the parser."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise Refusal(TOO_MANY_PARTS, count=MAX_ENTRIES)
    by_name: dict[str, zipfile.ZipInfo] = {}
    for entry in entries:
        key = entry.filename.lower()
        if key in by_name:
            # calamine opens the first of two parts of one name (any case), zipfile the last:
            # they would not read the same sheet.
            raise Refusal(UNREADABLE)
        by_name[key] = entry
    if "xl/workbook.xml" not in by_name:
        raise Refusal(UNREADABLE)  # another kind of zip: .ods, .docx, ...
    if sum(entry.file_size for entry in entries) > limits.max_unpacked_bytes:
        raise Refusal(TOO_MUCH_DATA)
    for entry in entries:
        if entry.file_size > RATIO_FLOOR and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise Refusal(PACKED_TIGHTLY)
    strings = by_name.get("xl/sharedstrings.xml")
    if strings is not None:
        _check_shared_strings(archive, strings, limits)
    sheet = _first_sheet(archive, by_name)
    sheets = [sheet] if sheet is not None else [
        entry for key, entry in by_name.items() if key.startswith(SHEET_FOLDERS)]
    for entry in sheets:
        _check_sheet(archive, entry, limits)


def _stream(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, start: Callable[..., None], *,
            text: Callable[[str], None] | None = None) -> None:
    """Feeds one part through expat in chunks. zipfile stops at the size the entry declares,
    which the checks above have bounded. A DOCTYPE is refused: Excel never writes one, and its
    entities are how XML grows without limit."""
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    if text is not None:
        parser.CharacterDataHandler = text

    def doctype(*_args: object) -> None:
        raise Refusal(UNREADABLE)

    parser.StartDoctypeDeclHandler = doctype
    try:
        with archive.open(entry) as part:
            while chunk := part.read(CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Stop:
        pass
    except (expat.ExpatError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError,
            OSError, ValueError) as error:  # broken XML or zip data; RuntimeError: encrypted
        raise Refusal(UNREADABLE) from error


def _local(name: str) -> str:
    return name.rpartition(":")[2]  # as calamine (quick-xml's local_name) sees an element


def _check_shared_strings(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: UploadLimits) -> None:
    count = 0
    length = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal count, length
        local = _local(name)
        if local == "si":
            count += 1
            length = 0
            if count > limits.max_cells:
                raise Refusal(TOO_MANY_STRINGS, count=limits.max_cells)
        elif local == "sst":
            for attribute in ("count", "uniqueCount"):
                declared = attributes.get(attribute, "0").strip()
                if not declared.isdigit() or int(declared) > limits.max_cells:
                    raise Refusal(TOO_MANY_STRINGS, count=limits.max_cells)

    def text(data: str) -> None:
        nonlocal length
        length += len(data)
        if length > MAX_TEXT:
            raise Refusal(LONG_TEXT, count=MAX_TEXT)

    _stream(archive, entry, start, text=text)


def _first_sheet(archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    """The part calamine reads as the first sheet, found as calamine finds it: the first
    ``sheet`` of workbook.xml, its ``r:id`` in workbook.xml.rels, the target under ``xl/``,
    the name compared without case. None when any step fails (then every sheet is checked)."""
    relations = by_name.get("xl/_rels/workbook.xml.rels")
    if relations is None:
        return None
    targets: dict[str, str] = {}

    def relation(name: str, attributes: dict[str, str]) -> None:
        if _local(name) == "Relationship":
            targets[attributes.get("Id", "")] = attributes.get("Target", "")

    _stream(archive, relations, relation)
    first: list[str] = []

    def sheet(name: str, attributes: dict[str, str]) -> None:
        if _local(name) == "sheet":
            first.append(attributes.get("r:id") or attributes.get("relationships:id") or "")
            raise _Stop

    _stream(archive, by_name["xl/workbook.xml"], sheet)
    target = targets.get(first[0]) if first else None
    if not target:
        return None
    path = target[1:] if target.startswith("/xl/") else target if target.startswith("xl/") else f"xl/{target}"
    return by_name.get(path.lower())


def column_letters(index: int) -> str:
    """Excel's name of a 0-based column: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _column_index(letters: str) -> int:
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    return column - 1


def _position(reference: str, columns: dict[str, int]) -> tuple[int, int]:
    """(row, column) from 0 of a reference such as "XFD1048576"; ``columns`` caches the
    letters, which repeat from row to row."""
    digits = reference.lstrip(_LETTERS)
    letters = reference[: len(reference) - len(digits)]
    column = columns.get(letters)
    if column is None:
        if not 1 <= len(letters) <= 3:
            raise Refusal(UNREADABLE)
        column = columns[letters] = _column_index(letters)
    if not (digits.isdigit() and digits.isascii() and len(digits) <= 7) or digits == "0" * len(digits):
        raise Refusal(UNREADABLE)
    return int(digits) - 1, column


def _check_reach(row: int, column: int, limits: UploadLimits) -> None:
    """The parser builds the grid from A1 to the last row and column that have content."""
    if column + 1 > limits.max_columns:
        raise Refusal(TOO_MANY_COLUMNS, column=column_letters(column), count=limits.max_columns)
    if (row + 1) * (column + 1) > limits.max_cells:
        raise Refusal(TOO_MANY_CELLS, cell=f"{column_letters(column)}{row + 1}", count=limits.max_cells)


def _check_sheet(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: UploadLimits) -> None:
    """The declared dimension, then the grid the cells with content make: each placed as
    calamine places it, at its ``r`` or after the cell before it in the row, in its row's ``r``
    or the row after the one before. Empty cells (a style only) do not count: calamine leaves
    them out.

    Only element starts are looked at (this runs over every cell of the sheet, and each
    callback counts): a cell has content when a <v>, <is> or <f> starts before the next cell
    or row does."""
    row_index = -1
    column_index = 0
    open_cell: tuple[int, int] | None = None  # a cell whose content is not seen yet
    last_row = last_column = 0  # of the grid so far
    cells = 0
    columns: dict[str, int] = {}

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal row_index, column_index, open_cell, last_row, last_column, cells
        if ":" in name:
            name = name.rpartition(":")[2]  # as calamine (quick-xml's local_name) sees it
        if name == "c":
            reference = attributes.get("r")
            if reference is not None:
                row, column = _position(reference, columns)
                column_index = column
            else:
                row, column = max(row_index, 0), column_index
            open_cell = (row, column)
            column_index += 1
        elif open_cell is not None and (name == "v" or name == "is" or name == "f"):
            row, column = open_cell
            open_cell = None
            cells += 1
            if row > last_row or column > last_column:
                last_row, last_column = max(row, last_row), max(column, last_column)
                _check_reach(last_row, last_column, limits)
            if cells > limits.max_cells:  # one position may be written many times over
                raise Refusal(TOO_MANY_CELLS, cell=f"{column_letters(last_column)}{last_row + 1}",
                              count=limits.max_cells)
        elif name == "row":
            open_cell = None
            column_index = 0
            reference = attributes.get("r")
            if reference is None:
                row_index += 1
            elif reference.strip().isdigit() and int(reference) > 0:
                row_index = int(reference) - 1
            else:
                raise Refusal(UNREADABLE)
        elif name == "dimension":
            declared = attributes.get("ref", "A1").split(":")
            if len(declared) > 2:
                raise Refusal(UNREADABLE)
            _check_reach(*_position(declared[-1].strip(), columns), limits)

    _stream(archive, entry, start)
