"""Which columns of an uploaded table hold the numbers and the names, and the rows they give.

Runs in the parser's child process (see ``tablereader``); refusals are ``Refusal``s whose
messages the web process translates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from govsms.contacts.limits import Refusal, UploadLimits
from govsms.i18n import N_

SAMPLE_ROWS = 20  # rows looked at to guess the columns of a file without headings
# What a row keeps of a cell: no phone number is this long, and the name still holds a whole
# contact name (200 characters) after its runs of spaces are collapsed.
NUMBER_KEEP = 64
NAME_KEEP = 400

EMPTY = N_("The file is empty.")
NO_NUMBER_COLUMN = N_("No column of phone numbers was found. Put a heading such as "
                      "\"Number\" or \"Mobile\" above the phone numbers.")
TOO_MANY_ROWS = N_("The file has more than %(count)s rows. Split it into smaller files.")
HEADINGS_ONLY = N_("The file has headings but no recipients.")

# Headings are compared after _heading(): lower case, "_" and "-" as spaces, no trailing ":" or ".".
NUMBER_HEADINGS = frozenset({
    "number", "nummer", "mobil", "mobile", "mobilnummer", "mobilnr", "mobil nr", "telefon",
    "telefonnummer", "telefonnr", "tel", "tfn", "phone", "phone number", "mobile number",
    "mobile phone", "mobiltelefon", "msisdn", "to", "mottagare",
})
FULL_NAME_HEADINGS = frozenset({"name", "namn", "full name", "fullständigt namn"})
FIRST_NAME_HEADINGS = frozenset({"förnamn", "first name", "firstname"})
LAST_NAME_HEADINGS = frozenset({"efternamn", "last name", "lastname", "surname"})

Label = str | int  # a column's heading, or its index when the file has no heading for it


@dataclass(frozen=True)
class Columns:
    rows: list[tuple[int, str, str]]  # row number as in the file, number, name
    number_column: Label
    name_columns: list[Label]
    had_header: bool


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        # Excel stores a number typed into a cell as a float: 46701234567.0 is "46701234567".
        return str(int(value)) if value.is_integer() else str(value)
    return "" if value is None else str(value).strip()


def _heading(value: str) -> str:
    return " ".join(value.replace("_", " ").replace("-", " ").split()).lower().rstrip(":.").strip()


def _looks_like_number(value: str) -> bool:
    digits = sum(character.isdigit() for character in value)
    allowed = sum(character.isdigit() or character in "+ -()./" for character in value)
    return digits >= 5 and allowed >= 0.8 * len(value)


def _cell(row: Sequence[object], index: int | None) -> str:
    return _text(row[index]) if index is not None and index < len(row) else ""


def _name_columns(headings: list[str]) -> list[int]:
    """Where the name is: a full-name column, else first and last name joined, else either one."""
    keys = [_heading(value) for value in headings]
    full = next((i for i, key in enumerate(keys) if key in FULL_NAME_HEADINGS), None)
    if full is not None:
        return [full]
    first = next((i for i, key in enumerate(keys) if key in FIRST_NAME_HEADINGS), None)
    last = next((i for i, key in enumerate(keys) if key in LAST_NAME_HEADINGS), None)
    return [i for i in (first, last) if i is not None]


def _guess_number_column(sample: list[list[str]]) -> int | None:
    width = max(len(row) for row in sample)
    for index in range(width):
        hits = sum(_looks_like_number(row[index]) for row in sample if index < len(row))
        if hits and hits * 2 >= len(sample):
            return index
    return None


def _guess_name_column(sample: list[list[str]], number_column: int) -> int | None:
    width = max((len(row) for row in sample), default=0)
    for index in range(width):
        if index == number_column:
            continue
        values = [row[index] for row in sample if index < len(row) and row[index]]
        texts = sum(any(c.isalpha() for c in v) and not _looks_like_number(v) for v in values)
        if values and texts * 2 > len(values):
            return index
    return None


def find_columns(table: Iterable[tuple[int, Sequence[object]]], limits: UploadLimits) -> Columns:
    """The recipients of a table given as (row number, cells); rows without text are skipped."""
    filled: Iterator[tuple[int, Sequence[object]]] = (
        (number, row) for number, row in table if any(_text(value) for value in row))
    first = next(filled, None)
    if first is None:
        raise Refusal(EMPTY)
    top = [_text(value) for value in first[1]]
    number_column = next((i for i, v in enumerate(top) if _heading(v) in NUMBER_HEADINGS), None)
    had_header = number_column is not None
    looked_at = [first]
    if number_column is not None:
        name_columns = _name_columns(top)
    else:
        looked_at += [row for _skip, row in zip(range(SAMPLE_ROWS - 1), filled, strict=False)]
        sample = [[_text(value) for value in row] for _number, row in looked_at]
        number_column = _guess_number_column(sample)
        if number_column is None:
            raise Refusal(NO_NUMBER_COLUMN)
        heading = top[number_column] if number_column < len(top) else ""
        # Unknown headings ("Tel. hem") over a column of numbers are still headings, not a
        # recipient: the number cell of the first row holds words, not digits.
        had_header = bool(heading) and not _looks_like_number(heading) and any(
            character.isalpha() for character in heading)
        if had_header:
            sample = sample[1:]
            name_columns = _name_columns(top)
        else:
            name_columns = []
        if not name_columns and sample:
            guessed = _guess_name_column(sample, number_column)
            name_columns = [] if guessed is None else [guessed]

    rows: list[tuple[int, str, str]] = []
    append = rows.append
    name_column = name_columns[0] if name_columns else None
    more_name_columns = name_columns[1:]
    for row_number, row in chain(looked_at[1:] if had_header else looked_at, filled):
        number = _cell(row, number_column)
        name = _cell(row, name_column)
        for index in more_name_columns:  # a last name after the first name
            name = f"{name} {_cell(row, index)}".strip()
        if not number and not name:
            continue  # cells of other columns only
        append((row_number, number[:NUMBER_KEEP], name[:NAME_KEEP]))
        if len(rows) > limits.max_rows:
            raise Refusal(TOO_MANY_ROWS, count=limits.max_rows)
    if had_header and not rows:
        raise Refusal(HEADINGS_ONLY)

    def label(index: int) -> Label:
        return top[index] if had_header and index < len(top) and top[index] else index

    return Columns(
        rows=rows,
        number_column=label(number_column),
        name_columns=[label(index) for index in name_columns],
        had_header=had_header,
    )
