"""Files built to take the service down (issue: a 1.9 KB .xlsx with cells A1 and XFD1048576
aborted the process; a CSV field over 131,072 characters or an open quote gave a 500).

Each is refused with a reason by the service and by the API (422, also for a body over the
request limit, which is refused while it arrives), and the test process, which plays the server, neither dies nor passes 500 MB.
The files are made here, by hand, so what makes each one hostile is in plain sight."""

from __future__ import annotations

import io
import re
import resource
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Role
from govsms.app import create_app
from govsms.contacts.filereader import read_contact_file
from govsms.contacts.limits import UploadLimits
from govsms.errors import InvalidInput
from govsms.i18n import language
from tests.conftest import make_settings
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import csrf_token, login

MB = 1024 * 1024
CLEAR_REFS, STATUS = Path("/proc/self/clear_refs"), Path("/proc/self/status")


@pytest.fixture(autouse=True, scope="module")
def _peak_memory_from_here() -> None:
    """The process's peak memory (VmHWM) counts from this module's first test, so the check at
    its end measures what the hostile files did, not what earlier tests of the suite left."""
    global START_RSS_MB
    START_RSS_MB = status_mb("VmRSS:")
    try:
        CLEAR_REFS.write_text("5")  # Linux: reset the peak resident set size
    except OSError:
        pass


START_RSS_MB = 0.0
SERVED_BASELINE_MB = 150
"""What a served govsms process holds before any request (146 MB measured after /health)."""


def status_mb(field: str) -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def peak_memory_mb() -> float:
    """What the hostile files cost a served process at most: the test process's peak since this
    module began, less what the test process held then (the app runs inside it under TestClient,
    beside the rest of the suite's leftovers), plus a served process's own baseline."""
    return status_mb("VmHWM:") - START_RSS_MB + SERVED_BASELINE_MB


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
BROKEN = "The file could not be read: it is too large or damaged."


# --- files, made by hand ------------------------------------------------------------------------


def sheet(rows: str, dimension: str | None = None) -> str:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{declared}<sheetData>{rows}</sheetData></worksheet>'


def workbook(sheet_xml: str | None, *, strings: str | None = None, parts: dict[str, str] | None = None) -> bytes:
    """A minimal .xlsx as Excel lays it out; ``parts`` adds or replaces parts."""
    files = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="{RELATIONS}"><Relationship Id="rId1" '
        f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
        '<sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="{RELATIONS}">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    }
    if sheet_xml is not None:
        files["xl/worksheets/sheet1.xml"] = sheet_xml
    if strings is not None:
        files["xl/sharedStrings.xml"] = strings
    files.update(parts or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


HEADING = '<row r="1"><c r="A1" t="inlineStr"><is><t>Nummer</t></is></c></row>'


def corner_cells() -> bytes:
    """Cells A1 and XFD1048576: a parser that builds the grid between them needs 17 billion cells."""
    return workbook(sheet(HEADING + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "A1:XFD1048576"))


def far_cell(dimension: str | None) -> bytes:
    """A cell at IV20000 (5 million cells from A1), whatever the dimension says."""
    return workbook(sheet(HEADING + '<row r="20000"><c r="IV20000"><v>1</v></c></row>', dimension))


def far_down_and_far_right() -> bytes:
    """A1048576 and IV1 are each harmless; the grid they span together is 268 million cells."""
    return workbook(sheet(HEADING.replace("</row>", '<c r="IV1"><v>1</v></c></row>')
                          + '<row r="1048576"><c r="A1048576"><v>1</v></c></row>', "A1:A1"))


def far_cells_without_references() -> bytes:
    """Cells with no ``r``: they take the row's number and follow each other, so four of them in
    the last row make a grid of 4 x 1,048,576 cells."""
    return workbook(sheet(HEADING + '<row r="1048576">' + "<c><v>1</v></c>" * 4 + "</row>"))


def shared_strings(body: str, count: int) -> str:
    return f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="{count}" uniqueCount="{count}">{body}</sst>'


def strings_counted_in_billions() -> bytes:
    return workbook(sheet('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
                    strings=shared_strings("<si><t>Nummer</t></si>", 4_000_000_000))


def string_longer_than_excel_allows() -> bytes:
    return workbook(sheet('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
                    strings=shared_strings(f"<si><t>{'x' * 40_000}</t></si>", 1))


def one_long_string_in_every_cell() -> bytes:
    """Passes every check (a 30,000-character text, 20,000 cells, nothing packed tightly), but
    each cell becomes its own copy of the text: 600 MB. Only the parser's memory limit stops it."""
    rows = "".join(f'<row r="{row}"><c r="A{row}" t="s"><v>{row % 2}</v></c></row>' for row in range(1, 20_001))
    text = "".join(chr(0x41 + (index * 7919) % 26) for index in range(30_000))  # packs like prose
    return workbook(sheet(rows), strings=shared_strings(f"<si><t>{text}</t></si><si><t>{text[::-1]}</t></si>", 2))


def zeros(size: int) -> bytes:
    """A workbook whose sheet is ``size`` bytes of zeros, packed about a thousand times."""
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(workbook(None)))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            block = bytes(MB)
            for _ in range(size // MB):
                part.write(block)
    return buffer.getvalue()


def csv_of(size: int) -> bytes:
    """A CSV of ``size`` bytes, made in one piece (the size is refused before any heading is read)."""
    line = b"0701234567;Namn Namnsson\n"
    return line * (size // len(line) + 1)


def csv_with_a_long_field() -> bytes:
    return b"Nummer;Namn\n0701234567;" + b"x" * 200_000 + b"\n0701234568;Bo\n"


def csv_with_an_open_quote() -> bytes:
    return b'Nummer;Namn\n0701234567;Anna\n0701234568;"Bo\n0701234569;Cia\n'


def csv_with_an_open_quote_that_swallows_the_file() -> bytes:
    return b'Nummer;Namn\n0701234567;"Anna\n' + b"0701234568;Bo Ek\n" * 20_000


CASES = {
    "corner cells A1 and XFD1048576": (
        "x.xlsx", corner_cells, "The sheet reaches column XFD; a list of recipients has at most 256 columns."),
    "far cell, dimension lies": (
        "x.xlsx", lambda: far_cell("A1:B2"), "The sheet's content spans A1 to IV20000, more than 4,000,000 cells."),
    "far cell, no dimension": (
        "x.xlsx", lambda: far_cell(None), "The sheet's content spans A1 to IV20000, more than 4,000,000 cells."),
    "cells far down and far right": (
        "x.xlsx", far_down_and_far_right, "The sheet's content spans A1 to IV1048576, more than 4,000,000 cells."),
    "far cells without references": (
        "x.xlsx", far_cells_without_references, "The sheet's content spans A1 to D1048576, more than 4,000,000 cells."),
    "shared strings counted in billions": (
        "x.xlsx", strings_counted_in_billions, "The Excel file has more than 4,000,000 different texts."),
    "shared string longer than Excel allows": (
        "x.xlsx", string_longer_than_excel_allows, "The Excel file holds a text longer than 32,767 characters"),
    "one long shared string in every cell": ("x.xlsx", one_long_string_in_every_cell, BROKEN),
    "zip of zeros, packed a thousand times": (
        "x.xlsx", lambda: zeros(150 * MB), "The Excel file unpacks to far more data than it holds"),
    "zip of zeros, over the unpacked limit": (
        "x.xlsx", lambda: zeros(250 * MB), "The file holds too much data. Split it into smaller files."),
    "CSV of 50 MB": ("x.csv", lambda: csv_of(50 * MB), "The file is larger than 20 MB. Split it into smaller files."),
    "CSV field of 200,000 characters": (
        "x.csv", csv_with_a_long_field, "Row 2 has a field longer than 131,072 characters"),
    "CSV quote never closed": (
        "x.csv", csv_with_an_open_quote, 'Row 3 opens a quotation mark (") that is never closed'),
    "CSV quote never closed, swallowing the file": (
        "x.csv", csv_with_an_open_quote_that_swallows_the_file, 'Row 2 opens a quotation mark (") that is never closed'),
}


@pytest.fixture(scope="module")
def files() -> Iterator[Callable[[str], bytes]]:
    """Each case's file, made once for the service test and the API test."""
    made: dict[str, bytes] = {}

    def make(case: str) -> bytes:
        if case not in made:
            made[case] = CASES[case][1]()
        return made[case]

    yield make
    made.clear()


# --- the service --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_the_service_refuses_with_a_reason(case: str, files: Callable[[str], bytes]) -> None:
    filename, _make, reason = CASES[case]
    with pytest.raises(InvalidInput) as refused:
        read_contact_file(filename, files(case))
    assert refused.value.message.startswith(reason), refused.value.message


def test_shared_strings_are_counted_as_they_are_not_as_declared() -> None:
    body = "".join(f"<si><t>{index}</t></si>" for index in range(1001))
    content = workbook(sheet('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'), strings=shared_strings(body, 1))
    with pytest.raises(InvalidInput, match="more than 1,000 different texts"):
        read_contact_file("x.xlsx", content, UploadLimits(max_cells=1000))


def test_a_parse_that_runs_out_of_time_is_refused() -> None:
    """600,000 rows take the reader about two seconds; it gets a third of one."""
    content = b"Nummer;Namn\n" + b"0701234567;Namn Namnsson\n" * 600_000
    limits = UploadLimits(parse_seconds=0.3, max_rows=10_000_000, max_cells=10_000_000)
    with pytest.raises(InvalidInput, match=re.escape(BROKEN)):
        read_contact_file("x.csv", content, limits)


def test_a_doctype_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    content = workbook(bomb + f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>')
    with pytest.raises(InvalidInput, match="could not be read"):
        read_contact_file("x.xlsx", content)


def test_two_parts_of_one_name_are_refused() -> None:
    content = workbook(sheet(HEADING), parts={"XL/worksheets/sheet1.xml": sheet(HEADING)})
    with pytest.raises(InvalidInput, match="could not be read"):
        read_contact_file("x.xlsx", content)


def test_a_refusal_is_in_the_users_language() -> None:
    with language("sv"), pytest.raises(InvalidInput) as refused:
        read_contact_file("x.xlsx", far_cell(None))
    assert refused.value.message.startswith("Bladets innehåll sträcker sig från A1 till IV20000, fler än 4\xa0000\xa0000 celler.")


def test_a_narrow_list_with_a_second_wide_sheet_is_read() -> None:
    """Only the first sheet is read, so only the first sheet is checked."""
    rows = HEADING + '<row r="2"><c r="A2" t="inlineStr"><is><t>0701234567</t></is></c></row>'
    content = workbook(sheet(rows, "A1:A2"), parts={
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
        '<sheet name="Lista" sheetId="1" r:id="rId1"/><sheet name="Data" sheetId="2" r:id="rId3"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="{RELATIONS}">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId3" Type="{OFFICE}/worksheet" Target="/xl/worksheets/sheet2.xml"/></Relationships>',
        "xl/worksheets/sheet2.xml": sheet('<row r="1"><c r="XFD1"><v>1</v></c></row>', "A1:XFD1"),
    })
    parsed = read_contact_file("x.xlsx", content)
    assert [(row.row_number, row.number) for row in parsed.rows] == [(2, "0701234567")]


# --- the API ------------------------------------------------------------------------------------


def english(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept-Language": "en"}


@pytest.fixture
def api_key(session: Session) -> str:
    _api_key, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    return key


@pytest.mark.parametrize("case", [case for case in CASES if case != "CSV of 50 MB"])
def test_the_api_answers_422_with_the_reason(
    case: str, files: Callable[[str], bytes], client: TestClient, api_key: str
) -> None:
    filename, _make, reason = CASES[case]
    response = client.post(
        "/api/v1/contacts/import", data={"dry_run": "true"}, headers=english(api_key),
        files={"file": (filename, files(case), "application/octet-stream")},
    )
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"] == "invalid_input"
    assert response.json()["message"].startswith(reason), response.json()["message"]


def test_the_api_refuses_a_file_over_the_size_limit(
    files: Callable[[str], bytes], client: TestClient, api_key: str
) -> None:
    """Just over the file limit the service says why; a 50 MB body is stopped before a handler
    reads it, with the same answer."""
    headers = english(api_key)
    response = client.post("/api/v1/contacts/import", data={"dry_run": "true"}, headers=headers,
                           files={"file": ("x.csv", csv_of(21 * MB), "text/csv")})
    assert response.status_code == 422
    assert response.json()["message"] == "The file is larger than 20 MB. Split it into smaller files."
    response = client.post("/api/v1/contacts/import", data={"dry_run": "true"}, headers=headers,
                           files={"file": ("x.csv", files("CSV of 50 MB"), "text/csv")})
    assert response.status_code == 422
    assert response.json()["message"] == "The file is larger than 20 MB. Split it into smaller files."


def test_the_limits_come_from_the_settings(tmp_path: Path, connection: Connection, session: Session) -> None:
    _api_key, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    settings = make_settings(tmp_path, upload_max_mb=1, upload_max_cells=1000)
    with TestClient(create_app(settings, bind=connection)) as client:
        for content, reason in [
            (csv_of(2 * MB), "The file is larger than 1 MB."),
            (workbook(sheet(HEADING + '<row r="100"><c r="K100"><v>1</v></c></row>')),
             "The sheet's content spans A1 to K100, more than 1,000 cells."),
        ]:
            response = client.post("/api/v1/contacts/import", data={"dry_run": "true"}, headers=english(key),
                                   files={"file": ("lista", content, "application/octet-stream")})
            assert response.status_code == 422 and response.json()["message"].startswith(reason), response.text[:300]


def test_the_pages_that_take_files_answer_422_with_the_reason(client: TestClient, session: Session) -> None:
    """The import page and the send page's file of recipients read files the same way (and
    speak the user's language, Swedish by default)."""
    user, password = make_user(session, make_account(session), roles={Role.SENDER})
    login(client, user.email, password)
    token = csrf_token(client, "/contacts/import")
    imported = client.post("/contacts/import", data={"_csrf_token": token},
                           files={"file": ("lista.xlsx", corner_cells(), "application/octet-stream")})
    assert imported.status_code == 422 and "Bladet når kolumn XFD" in imported.text
    summary = client.post("/send", data={"_csrf_token": token, "sender": "72323", "text": "Hej"},
                          files={"file": ("lista.csv", csv_with_an_open_quote(), "text/csv")})
    assert summary.status_code == 422 and "rad 3 börjar ett citattecken (&#34;) som aldrig avslutas" in summary.text


def test_the_server_stayed_up_and_small(client: TestClient, api_key: str) -> None:
    """Run after the others (file order): the process that parsed nothing itself is still here,
    answers, and its peak memory stayed below 500 MB."""
    response = client.post(
        "/api/v1/contacts/import", data={"dry_run": "true"}, headers=english(api_key),
        files={"file": ("x.csv", b"Nummer;Namn\n0701234567;Anna\n", "text/csv")},
    )
    assert response.status_code == 201 and response.json()["valid"] == 1
    peak_mb = peak_memory_mb()
    assert peak_mb < 500, f"a served process would have reached {peak_mb:.0f} MB"
