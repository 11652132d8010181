"""Recipient files: CSV and Excel (.xlsx) uploads read into rows, and exports written back."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

import python_calamine
import xlsxwriter
from babel.numbers import format_decimal

from govsms.errors import InvalidInput
from govsms.i18n import _, current_language

MAX_ROWS = 200_000
MAX_BYTES = 20 * 1024 * 1024
# A 20 MB .xlsx can unpack to gigabytes (a zip bomb); the sizes the zip declares are checked
# before the sheet is parsed. 200,000 rows of a wide sheet stay well below this.
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
SAMPLE_ROWS = 20  # rows looked at to guess the columns of a file without headings

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old .xls, and also password-protected .xlsx
_EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xltx")
_DELIMITERS = ("\t", ";", ",")  # on a tie the one least likely inside a value wins

# Headings are compared after _heading(): lower case, "_" and "-" as spaces, no trailing ":" or ".".
NUMBER_HEADINGS = frozenset({
    "number", "nummer", "mobil", "mobile", "mobilnummer", "mobilnr", "mobil nr", "telefon",
    "telefonnummer", "telefonnr", "tel", "tfn", "phone", "phone number", "mobile number",
    "mobile phone", "mobiltelefon", "msisdn", "to", "mottagare",
})
FULL_NAME_HEADINGS = frozenset({"name", "namn", "full name", "fullständigt namn"})
FIRST_NAME_HEADINGS = frozenset({"förnamn", "first name", "firstname"})
LAST_NAME_HEADINGS = frozenset({"efternamn", "last name", "lastname", "surname"})


@dataclass(frozen=True, slots=True)
class FileRow:
    row_number: int  # as the user sees it in Excel or an editor; the heading row counts
    number: str
    name: str


@dataclass(frozen=True)
class ParsedFile:
    rows: list[FileRow]
    number_column: str  # the heading, or "column A" when the file has none
    name_column: str | None
    had_header: bool
    format: str  # "csv" or "xlsx"


def read_contact_file(filename: str, content: bytes) -> ParsedFile:
    """The rows of an uploaded recipient file; numbers are returned as written, not validated."""
    if len(content) > MAX_BYTES:
        raise InvalidInput(_("The file is larger than %(size)d MB. Split it into smaller files.")
                           % {"size": MAX_BYTES // (1024 * 1024)})
    if not content.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InvalidInput(_("The file is empty."))
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if content.startswith(_OLE_MAGIC):
        # Excel stores an encrypted .xlsx in the same container format as an old .xls.
        if extension in _EXCEL_EXTENSIONS:
            raise InvalidInput(_("The Excel file is protected by a password. "
                                 "Remove the password and upload it again."))
        raise InvalidInput(_old_excel_message())
    if content.startswith(_ZIP_MAGIC):
        return _parse(_xlsx_table(content), "xlsx")
    if extension in _EXCEL_EXTENSIONS:
        raise InvalidInput(_unreadable_message())  # named like Excel, but not a workbook
    text = _decode(content)
    if text.lstrip().startswith("<"):
        # HTML or XML 2003 "Excel" files, as some systems export under the name .xls.
        raise InvalidInput(_old_excel_message() if extension == ".xls" else _unreadable_message())
    return _parse(_csv_table(text), "csv")


def _old_excel_message() -> str:
    return _("This is an old Excel file (.xls). Open it in Excel, save it as .xlsx or CSV "
             "and upload it again.")


def _unreadable_message() -> str:
    return _("The file could not be read. Upload a CSV file or an Excel file (.xlsx).")


def _xlsx_table(content: bytes) -> list[list[object]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as error:
        raise InvalidInput(_unreadable_message()) from error
    if not any(entry.filename == "xl/workbook.xml" for entry in entries):
        raise InvalidInput(_unreadable_message())  # another kind of zip: .ods, .docx, ...
    if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
        raise InvalidInput(_("The file holds too much data. Split it into smaller files."))
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
        # skip_empty_area=False keeps the table anchored at A1, so row numbers match Excel's.
        return workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as error:  # calamine's errors vary with what is broken in the file
        raise InvalidInput(_unreadable_message()) from error


def _decode(content: bytes) -> str:
    try:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = content.decode("utf-16")  # Excel's "Unicode text" export
        else:
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = content.decode("cp1252")  # Swedish Excel saves "CSV" in Windows-1252
    except UnicodeDecodeError as error:
        raise InvalidInput(_unreadable_message()) from error
    if "\x00" in text:
        raise InvalidInput(_unreadable_message())  # a binary file under another name
    return text


def _csv_table(text: str) -> list[list[str]]:
    delimiter = _sniff_delimiter(text)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields most often.

    csv.Sniffer guesses among every character and is easily fooled by a comma in a name.
    """
    sample = [line for line in text[:64_000].splitlines()[:50] if line.strip()]
    best, best_score = ",", 0.0
    for delimiter in _DELIMITERS:
        counts = [len(fields) for fields in csv.reader(sample, delimiter=delimiter)]
        common = max(set(counts), key=counts.count) if counts else 0
        if common < 2:
            continue
        score = counts.count(common) / len(counts)
        if score > best_score:
            best, best_score = delimiter, score
    return best


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


def _column_label(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return _("column %(letter)s") % {"letter": letters}


def _cell(row: list, index: int | None) -> str:
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


def _parse(table: list[list], file_format: str) -> ParsedFile:
    filled = (i for i, row in enumerate(table) if any(_text(value) for value in row))
    first = next(filled, None)
    if first is None:
        raise InvalidInput(_("The file is empty."))
    top = [_text(value) for value in table[first]]
    number_column = next((i for i, v in enumerate(top) if _heading(v) in NUMBER_HEADINGS), None)
    had_header = number_column is not None
    if had_header:
        name_columns = _name_columns(top)
    else:
        indexes = [first, *(next(filled, None) for _skip in range(SAMPLE_ROWS - 1))]
        sample = [[_text(value) for value in table[i]] for i in indexes if i is not None]
        number_column = _guess_number_column(sample)
        if number_column is None:
            raise InvalidInput(_("No column of phone numbers was found. Put a heading such as "
                                 "\"Number\" or \"Mobile\" above the phone numbers."))
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

    rows: list[FileRow] = []
    append = rows.append
    start = first + 1 if had_header else first
    name_column, *more_name_columns = name_columns or [None]
    for offset, row in enumerate(table[start:], start + 1):
        number = _cell(row, number_column)
        name = _cell(row, name_column)
        for index in more_name_columns:  # a last name after the first name
            name = f"{name} {_cell(row, index)}".strip()
        if not number and not name:
            continue  # an empty row; the row numbers of the rows after it stay as in the file
        append(FileRow(offset, number, name))
        if len(rows) > MAX_ROWS:
            count = format_decimal(MAX_ROWS, locale=current_language.get())
            raise InvalidInput(_("The file has more than %(count)s rows. Split it into smaller "
                                 "files.") % {"count": count})
    if had_header and not rows:
        raise InvalidInput(_("The file has headings but no recipients."))

    def label(index: int) -> str:
        if had_header and index < len(top) and top[index]:
            return top[index]
        return _column_label(index)

    return ParsedFile(
        rows=rows,
        number_column=label(number_column),
        name_column=" + ".join(label(i) for i in name_columns) or None,
        had_header=had_header,
        format=file_format,
    )


def write_xlsx(
    rows: Iterable[tuple[str, str]], header: tuple[str, str] = ("Nummer", "Namn")
) -> bytes:
    """An .xlsx of number and name; every cell is text, so "+46…" keeps its plus sign."""
    buffer = io.BytesIO()
    # constant_memory writes each row out as it goes, so a long export holds one row in memory
    # (its temporary file is on disk; the finished zip goes to the buffer).
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True})
    sheet = workbook.add_worksheet()
    text = workbook.add_format({"num_format": "@"})  # a number typed over one stays text too
    sheet.set_column(0, 0, 18, text)
    sheet.set_column(1, 1, 30)
    bold = workbook.add_format({"bold": True})
    sheet.write_string(0, 0, header[0], bold)
    sheet.write_string(0, 1, header[1], bold)
    for row_index, (number, name) in enumerate(rows, 1):
        sheet.write_string(row_index, 0, number, text)
        if name:  # no empty text cell where there is no name
            sheet.write_string(row_index, 1, name)
    workbook.close()
    return buffer.getvalue()


def write_csv(
    rows: Iterable[tuple[str, str]], header: tuple[str, str] = ("Nummer", "Namn")
) -> bytes:
    """A CSV of number and name with ";" and a UTF-8 BOM, as Swedish Excel expects."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows((number, _inert(name)) for number, name in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _inert(text: str) -> str:
    """A name that Excel would run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
