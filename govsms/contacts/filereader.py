"""Recipient files: CSV and Excel (.xlsx) uploads read into rows, and exports written back.

An upload is read in a short-lived child process (``tablereader``) with its own memory and CPU
limits, so a file built to exhaust a parser costs that process, never the server: what it
reports, or its death, becomes a refusal with a reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import xlsxwriter
from babel.numbers import format_decimal

from govsms.contacts import workbook
from govsms.contacts.limits import UploadLimits
from govsms.errors import InvalidInput
from govsms.i18n import _, current_language

log = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old .xls, and also password-protected .xlsx
_EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xltx")
# Each reading process may take the memory its limit allows; past this many at once an upload
# waits for one to finish rather than add to what the machine must hold.
PARSERS_AT_ONCE = 4
_parsers = threading.BoundedSemaphore(PARSERS_AT_ONCE)
# The child gets no secrets: only where to find the code.
_CHILD_ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


class ReaderBusy(InvalidInput):
    """The file was not read this time (the readers are all busy, or reading took too long); it may
    read at another moment."""


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


def read_contact_file(filename: str, content: bytes, limits: UploadLimits | None = None) -> ParsedFile:
    """The rows of an uploaded recipient file; numbers are returned as written, not validated."""
    limits = limits or UploadLimits()
    if len(content) > limits.max_bytes:
        raise InvalidInput(_("The file is larger than %(size)d MB. Split it into smaller files.")
                           % {"size": limits.max_bytes // (1024 * 1024)})
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
        file_format = "xlsx"
    elif extension in _EXCEL_EXTENSIONS:
        raise InvalidInput(_unreadable_message())  # named like Excel, but not a workbook
    else:
        file_format = "csv"
    columns = _read_in_child(content, file_format, extension, limits)

    def label(column: str | int) -> str:
        return column if isinstance(column, str) else _column_label(column)

    return ParsedFile(
        rows=[FileRow(row_number, number, name) for row_number, number, name in columns["rows"]],
        number_column=label(columns["number_column"]),
        name_column=" + ".join(label(column) for column in columns["name_columns"]) or None,
        had_header=columns["had_header"],
        format=file_format,
    )


def _old_excel_message() -> str:
    return _("This is an old Excel file (.xls). Open it in Excel, save it as .xlsx or CSV "
             "and upload it again.")


def _unreadable_message() -> str:
    return _("The file could not be read. Upload a CSV file or an Excel file (.xlsx).")


def _broken_message() -> str:
    return _("The file could not be read: it is too large or damaged. Save it again from Excel "
             "(as .xlsx or CSV), or split it into smaller files, and upload it again.")


def _read_in_child(content: bytes, file_format: str, extension: str, limits: UploadLimits) -> dict[str, Any]:
    """What ``tablereader`` makes of the file; its refusals and failures become InvalidInput."""
    command = [sys.executable, "-s", "-m", "govsms.contacts.tablereader", file_format, extension,
               json.dumps(limits.as_dict())]
    if not _parsers.acquire(timeout=limits.parse_seconds):
        raise ReaderBusy(_("Many files are being read right now. Try again in a minute."))
    try:
        done = subprocess.run(command, input=content, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=_CHILD_ENV, timeout=limits.parse_seconds, check=False)
    except subprocess.TimeoutExpired:
        log.warning("reading an uploaded %s file took over %s s; refused", file_format, limits.parse_seconds,
                    extra={"event": "upload.parse_failed"})
        raise ReaderBusy(_broken_message()) from None
    finally:
        _parsers.release()
    if done.returncode != 0:
        ending = (f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0 and
                  -done.returncode in signal.valid_signals() else f"exit code {done.returncode}")
        log.warning("reading an uploaded %s file ended with %s; refused", file_format, ending,
                    extra={"event": "upload.parse_failed"})
        raise InvalidInput(_broken_message())
    try:
        result = json.loads(done.stdout)
    except ValueError:
        log.warning("reading an uploaded %s file gave no result; refused", file_format,
                    extra={"event": "upload.parse_failed"})
        raise InvalidInput(_broken_message()) from None
    if "refused" in result:
        language = current_language.get()
        params = {key: format_decimal(value, locale=language) if isinstance(value, int) else value
                  for key, value in result["params"].items()}
        message = _(result["refused"])
        raise InvalidInput(message % params if params else message)
    return cast(dict[str, Any], result["columns"])


def _column_label(index: int) -> str:
    return _("column %(letter)s") % {"letter": workbook.column_letters(index)}


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
