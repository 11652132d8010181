"""The child process that reads an uploaded recipient file: ``python -m
govsms.contacts.tablereader FORMAT EXTENSION LIMITS`` with the file on stdin.

It limits its own address space, CPU time and core dumps before it reads a byte, then decodes
and splits a CSV, or checks and parses the first sheet of an .xlsx, and writes one JSON object
to stdout: ``{"columns": ...}`` or ``{"refused": message, "params": {...}}``. Whatever else
happens to it (out of memory, a parser that aborts, a signal, the time limit) the web process
sees as an exit that is not 0, and refuses the file; the server itself never runs the parsers.
"""

from __future__ import annotations

import csv
import io
import json
import re
import resource
import sys
import zipfile
from collections.abc import Iterator, Sequence

from govsms.contacts import workbook
from govsms.contacts.columns import find_columns
from govsms.contacts.limits import Refusal, UploadLimits
from govsms.i18n import N_

OLD_EXCEL = N_("This is an old Excel file (.xls). Open it in Excel, save it as .xlsx or CSV "
               "and upload it again.")
UNREADABLE = workbook.UNREADABLE
LONG_FIELD = N_("Row %(row)s has a field longer than %(count)s characters, which no phone number "
                "or name is. Remove the long text, or check that this is the list of recipients, "
                "and upload it again.")
UNCLOSED_QUOTE = N_("Row %(row)s opens a quotation mark (\") that is never closed, so the rest of "
                    "the file would be read as one field. Add the missing quotation mark, or remove "
                    "the stray one, and upload it again.")
LONG_LINE = N_("Row %(row)s is longer than %(count)s characters. Check that this is the list of "
               "recipients, split long rows, and upload it again.")
WIDE_ROW = N_("Row %(row)s has more than %(count)s columns. Delete the columns you do not need "
              "and upload it again.")
TOO_MUCH_DATA = workbook.TOO_MUCH_DATA

# csv's own default, set here so a change of it elsewhere does not change what is accepted.
FIELD_LIMIT = 131_072
LINE_LIMIT = 1_000_000
_DELIMITERS = ("\t", ";", ",")  # on a tie the one least likely inside a value wins
_MARKUP = re.compile(r"\s*<")


def read_table(content: bytes, file_format: str, extension: str, limits: UploadLimits) -> Iterator[tuple[int, Sequence[object]]]:
    """The rows of the file, numbered as in Excel or an editor (the heading row counts)."""
    if file_format == "xlsx":
        return _xlsx_rows(content, limits)
    return _csv_rows(content, extension, limits)


def _xlsx_rows(content: bytes, limits: UploadLimits) -> Iterator[tuple[int, Sequence[object]]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise Refusal(UNREADABLE) from error
    with archive:
        workbook.check_workbook(archive, limits)
    import python_calamine  # here: a CSV's child has no use for it

    try:
        sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
        # skip_empty_area=False keeps the table anchored at A1, so row numbers match Excel's.
        table = sheet.to_python(skip_empty_area=False)
    except MemoryError:
        raise
    except Exception as error:  # calamine's errors vary with what is broken in the file
        raise Refusal(UNREADABLE) from error
    return enumerate(table, 1)


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
        raise Refusal(UNREADABLE) from error
    if "\x00" in text:
        raise Refusal(UNREADABLE)  # a binary file under another name
    return text


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


class _Lines:
    """The physical lines of the text for csv.reader. csv asks for a line inside a record only
    while a quoted field is open, so a record that comes back after they ran out ended with
    the text, not with its closing quotation mark."""

    def __init__(self, text: str) -> None:
        self._lines = io.StringIO(text, newline="")
        self.ran_out = False
        self.record = 1  # the record being read, for messages

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._lines.readline()
        if not line:
            self.ran_out = True
            raise StopIteration
        if len(line) > LINE_LIMIT:
            raise Refusal(LONG_LINE, row=str(self.record), count=LINE_LIMIT)
        return line


def _csv_rows(content: bytes, extension: str, limits: UploadLimits) -> Iterator[tuple[int, Sequence[object]]]:
    text = _decode(content)
    if _MARKUP.match(text):
        # HTML or XML 2003 "Excel" files, as some systems export under the name .xls.
        raise Refusal(OLD_EXCEL if extension == ".xls" else UNREADABLE)
    csv.field_size_limit(FIELD_LIMIT)
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=_sniff_delimiter(text))
    cells = 0
    first_line = 1  # the physical line the record being read starts on
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # Over the field limit: within one line a long field, over several most likely a
            # quotation mark that is never closed and has swallowed the lines after it.
            spread = reader.line_num > first_line
            raise (Refusal(UNCLOSED_QUOTE, row=str(lines.record)) if spread else
                   Refusal(LONG_FIELD, row=str(lines.record), count=FIELD_LIMIT)) from error
        if lines.ran_out:  # csv (not strict) hands back the open field as it stood at the end
            raise Refusal(UNCLOSED_QUOTE, row=str(lines.record))
        if len(fields) > limits.max_columns:
            raise Refusal(WIDE_ROW, row=str(lines.record), count=limits.max_columns)
        cells += len(fields)
        if cells > limits.max_cells:
            raise Refusal(TOO_MUCH_DATA)
        yield lines.record, fields
        lines.record += 1
        first_line = reader.line_num + 1


def main() -> None:
    file_format, extension, limits_json = sys.argv[1:4]
    limits = UploadLimits(**json.loads(limits_json))
    memory = limits.parse_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    seconds = max(1, int(limits.parse_seconds) - 5)
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a dump would hold the recipients
    content = sys.stdin.buffer.read()
    try:
        columns = find_columns(read_table(content, file_format, extension, limits), limits)
        result: dict[str, object] = {"columns": {
            "rows": columns.rows, "number_column": columns.number_column,
            "name_columns": columns.name_columns, "had_header": columns.had_header,
        }}
    except Refusal as refusal:
        result = {"refused": refusal.message, "params": refusal.params}
    del content
    sys.stdout.buffer.write(json.dumps(result, ensure_ascii=False).encode())


if __name__ == "__main__":
    main()
