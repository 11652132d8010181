"""Recipient files: CSV and .xlsx uploads read into rows, refusals, and the export writers."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from govsms.contacts import filereader
from govsms.contacts.filereader import FileRow, read_contact_file, write_csv, write_xlsx
from govsms.contacts.limits import UploadLimits
from govsms.errors import InvalidInput


def excel(*rows: tuple[object, ...]) -> bytes:
    """An .xlsx made by openpyxl, so numbers can be typed cells (floats) as Excel stores them."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pairs(parsed: filereader.ParsedFile) -> list[tuple[int, str, str]]:
    return [(row.row_number, row.number, row.name) for row in parsed.rows]


def refusal(filename: str, content: bytes, limits: UploadLimits | None = None) -> str:
    with pytest.raises(InvalidInput) as raised:
        read_contact_file(filename, content, limits)
    return raised.value.message


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_written_by_the_exporter_reads_back_with_plus_signs_and_swedish_letters() -> None:
    content = write_xlsx([("+46701234567", "Åsa Öberg"), ("0701234568", "Jöns Ärlig")])
    parsed = read_contact_file("export.xlsx", content)
    assert parsed.format == "xlsx"
    assert parsed.had_header
    assert (parsed.number_column, parsed.name_column) == ("Nummer", "Namn")
    assert pairs(parsed) == [(2, "+46701234567", "Åsa Öberg"), (3, "0701234568", "Jöns Ärlig")]
    assert parsed.rows[0] == FileRow(row_number=2, number="+46701234567", name="Åsa Öberg")


def test_xlsx_number_cells_typed_by_excel_come_back_as_digits_without_decimals() -> None:
    content = excel(("Mobil", "Namn"), (46701234567, "Anna"), (701234567.0, " Bo "), ("  +46 70 1 ", ""))
    parsed = read_contact_file("lista.xlsx", content)
    assert pairs(parsed) == [(2, "46701234567", "Anna"), (3, "701234567", "Bo"), (4, "+46 70 1", "")]


def test_xlsx_empty_rows_are_skipped_but_row_numbers_stay_as_in_the_sheet() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["B3"], sheet["C3"] = "Telefon", "Namn"  # the table starts below and right of A1
    sheet["B4"], sheet["C4"] = "0701234567", "Anna"
    sheet["B7"], sheet["C7"] = 46701234568, "Bo"
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = read_contact_file("lista.xlsx", buffer.getvalue())
    assert pairs(parsed) == [(4, "0701234567", "Anna"), (7, "46701234568", "Bo")]


def test_xlsx_without_headings_finds_the_number_and_name_columns() -> None:
    content = excel(("Anna", 46701234567, "x"), ("Bo", 46701234568, "y"), ("Cia", "070-123 45 69", ""))
    parsed = read_contact_file("lista.xlsx", content)
    assert not parsed.had_header
    assert (parsed.number_column, parsed.name_column) == ("column B", "column A")
    assert pairs(parsed)[0] == (1, "46701234567", "Anna")
    assert pairs(parsed)[2] == (3, "070-123 45 69", "Cia")


def test_format_is_taken_from_the_content_whatever_the_name_says() -> None:
    parsed = read_contact_file("lista.csv", write_xlsx([("0701234567", "Anna")]))
    assert parsed.format == "xlsx"
    parsed = read_contact_file("lista", b"Nummer\n0701234567\n")
    assert parsed.format == "csv"


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_csv_in_each_encoding_and_delimiter_keeps_swedish_letters(encoding: str, delimiter: str) -> None:
    text = "\r\n".join(delimiter.join(cells) for cells in [
        ("Telefonnummer", "Namn"), ("0701234567", "Åsa Öberg"), ("+46701234568", "Ärla Ångström")])
    parsed = read_contact_file("lista.csv", text.encode(encoding))
    assert parsed.format == "csv"
    assert (parsed.number_column, parsed.name_column) == ("Telefonnummer", "Namn")
    assert pairs(parsed) == [(2, "0701234567", "Åsa Öberg"), (3, "+46701234568", "Ärla Ångström")]


def test_csv_written_by_the_exporter_has_bom_and_semicolons_and_reads_back() -> None:
    content = write_csv([("+46701234567", "Öberg; Åsa"), ("0701234568", "Bo")], ("Nummer", "Namn"))
    assert content.startswith("\ufeffNummer;Namn\r\n".encode())
    parsed = read_contact_file("export.csv", content)
    assert pairs(parsed) == [(2, "+46701234567", "Öberg; Åsa"), (3, "0701234568", "Bo")]


def test_semicolon_file_with_commas_in_names_splits_on_semicolons() -> None:
    content = "Mobil;Namn\n0701234567;Svensson, Anna\n0701234568;Berg, Bo\n".encode("cp1252")
    assert pairs(read_contact_file("a.csv", content)) == [
        (2, "0701234567", "Svensson, Anna"), (3, "0701234568", "Berg, Bo")]


@pytest.mark.parametrize("heading", [
    "number", "Nummer", " MOBIL ", "Mobile", "mobilnummer", "Mobilnr", "telefon", "Tel",
    "Phone", "Phone number", "phone_number", "MSISDN", "To", "Mottagare", "Telefonnummer:",
])
def test_number_headings_in_swedish_and_english(heading: str) -> None:
    parsed = read_contact_file("a.csv", f"Id;{heading}\n7;0701234567\n".encode())
    assert parsed.had_header
    assert parsed.number_column == heading.strip()
    assert pairs(parsed) == [(2, "0701234567", "")]


@pytest.mark.parametrize("heading", ["name", "Namn", "Full name", "Fullständigt namn", "förnamn"])
def test_name_headings(heading: str) -> None:
    parsed = read_contact_file("a.csv", f"{heading};Number\nÅsa;0701234567\n".encode())
    assert parsed.name_column == heading
    assert pairs(parsed) == [(2, "0701234567", "Åsa")]


def test_first_and_last_name_columns_are_joined() -> None:
    content = "Förnamn;Efternamn;Mobil\nÅsa;Öberg;0701234567\n;Ek;0701234568\nBo;;0701234569\n"
    parsed = read_contact_file("a.csv", content.encode("cp1252"))
    assert parsed.name_column == "Förnamn + Efternamn"
    assert pairs(parsed) == [
        (2, "0701234567", "Åsa Öberg"), (3, "0701234568", "Ek"), (4, "0701234569", "Bo")]


def test_english_first_and_last_name_and_a_full_name_column_wins() -> None:
    parsed = read_contact_file("a.csv", b"First name,Last name,Phone\nAnna,Berg,0701234567\n")
    assert pairs(parsed) == [(2, "0701234567", "Anna Berg")]
    parsed = read_contact_file("a.csv", b"First name,Name,Phone\nAnna,Anna Berg,0701234567\n")
    assert (parsed.name_column, pairs(parsed)) == ("Name", [(2, "0701234567", "Anna Berg")])


def test_single_column_of_numbers_without_heading_or_delimiter() -> None:
    parsed = read_contact_file("nummer.txt", b"0701234567\r\n+46 70 123 45 68\r\n\r\n070-1234569\r\n")
    assert not parsed.had_header
    assert (parsed.number_column, parsed.name_column) == ("column A", None)
    assert pairs(parsed) == [(1, "0701234567", ""), (2, "+46 70 123 45 68", ""), (4, "070-1234569", "")]


def test_headerless_csv_with_name_first_and_empty_rows_keeping_row_numbers() -> None:
    content = "Åsa Öberg;0701234567\n;\n\nBo Ek;0701234568\n".encode("cp1252")
    parsed = read_contact_file("a.csv", content)
    assert not parsed.had_header
    assert (parsed.number_column, parsed.name_column) == ("column B", "column A")
    assert pairs(parsed) == [(1, "0701234567", "Åsa Öberg"), (4, "0701234568", "Bo Ek")]


def test_unknown_heading_over_a_number_column_is_not_taken_for_a_recipient() -> None:
    parsed = read_contact_file("a.csv", "Kund;Tel. hem\nÅsa;0701234567\nBo;0701234568\n".encode())
    assert parsed.had_header
    assert (parsed.number_column, parsed.name_column) == ("Tel. hem", "Kund")
    assert pairs(parsed) == [(2, "0701234567", "Åsa"), (3, "0701234568", "Bo")]


def test_a_row_with_a_name_but_no_number_is_kept_for_the_validator_to_report() -> None:
    parsed = read_contact_file("a.csv", "Nummer;Namn\n;Åsa\n0701234567;Bo\n".encode())
    assert pairs(parsed) == [(2, "", "Åsa"), (3, "0701234567", "Bo")]


def test_quoted_fields_and_utf16_text_export() -> None:
    content = b'Nummer,Namn\n"0701234567","Berg, ""Bo"""\n'
    assert pairs(read_contact_file("a.csv", content)) == [(2, "0701234567", 'Berg, "Bo"')]
    content = "Nummer\tNamn\r\n0701234567\tÅsa\r\n".encode("utf-16")
    assert pairs(read_contact_file("a.txt", content)) == [(2, "0701234567", "Åsa")]


# --- Refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n \r\n", b";;\n;;\n"])
def test_empty_file(content: bytes) -> None:
    assert refusal("a.csv", content) == "The file is empty."


def test_empty_xlsx() -> None:
    assert refusal("a.xlsx", excel()) == "The file is empty."


def test_headings_without_rows() -> None:
    assert refusal("a.csv", b"Nummer;Namn\n") == "The file has headings but no recipients."


@pytest.mark.parametrize("filename", ["lista.xls", "lista.csv", "lista"])
def test_old_excel_file(filename: str) -> None:
    content = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    assert refusal(filename, content) == (
        "This is an old Excel file (.xls). Open it in Excel, save it as .xlsx or CSV "
        "and upload it again.")


def test_html_saved_under_the_name_xls_is_an_old_excel_file() -> None:
    assert "save it as .xlsx or CSV" in refusal("export.xls", b"<html><table><tr><td>1")


def test_password_protected_xlsx() -> None:
    content = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    assert refusal("lista.xlsx", content) == (
        "The Excel file is protected by a password. Remove the password and upload it again.")


UNREADABLE = "The file could not be read. Upload a CSV file or an Excel file (.xlsx)."


def other_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("content.xml", "<office:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(("filename", "content"), [
    ("a.xlsx", b"PK\x03\x04 this is not a zip at all"),
    ("a.xlsx", b"0701234567\n"),  # named like Excel but text
    ("a.ods", other_zip()),
    ("a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("a.csv", b"\x81\x8d\x8f\x90\x9d"),  # neither UTF-8 nor Windows-1252
    ("a.csv", b"<?xml version='1.0'?><Workbook/>"),
])
def test_unreadable_file(filename: str, content: bytes) -> None:
    assert refusal(filename, content) == UNREADABLE


def test_broken_workbook_inside_a_good_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "not xml <<<")
    assert refusal("a.xlsx", buffer.getvalue()) == UNREADABLE


@pytest.mark.parametrize("content", [
    "Namn;Adress\nÅsa;Storgatan 1\n".encode(),
    "Åsa;Storgatan 1\nBo;Lillgatan 2\n".encode(),
    write_xlsx([("inte ett nummer", "Åsa")], ("Kund", "Namn")),
])
def test_no_number_column(content: bytes) -> None:
    assert refusal("a.csv", content) == (
        'No column of phone numbers was found. Put a heading such as "Number" or "Mobile" '
        "above the phone numbers.")


def test_too_many_rows() -> None:
    limits = UploadLimits(max_rows=3)
    content = write_csv([(f"070123456{i}", "") for i in range(3)])
    assert len(read_contact_file("a.csv", content, limits).rows) == 3
    content = write_csv([(f"070123456{i}", "") for i in range(4)])
    assert refusal("a.csv", content, limits) == "The file has more than 3 rows. Split it into smaller files."
    content = write_xlsx([(f"070123456{i}", "") for i in range(4)])
    assert refusal("a.xlsx", content, limits) == "The file has more than 3 rows. Split it into smaller files."


def test_too_large() -> None:
    assert refusal("a.csv", b"0" * (20 * 1024 * 1024 + 1)) == (
        "The file is larger than 20 MB. Split it into smaller files.")


def test_too_much_data_when_unpacked() -> None:
    content = write_xlsx([(f"0701234{i:03}", "Åsa") for i in range(200)])
    assert refusal("a.xlsx", content, UploadLimits(max_unpacked_bytes=1000)) == (
        "The file holds too much data. Split it into smaller files.")


# --- Writers ------------------------------------------------------------------------------------


def test_xlsx_export_cells_are_text() -> None:
    content = write_xlsx(iter([("+46701234567", "Åsa"), ("0701234568", "")]), ("Number", "Name"))
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["Number", "Name"], ["+46701234567", "Åsa"], ["0701234568", None]]
    assert sheet["A2"].data_type == "s"


def test_csv_export_does_not_hand_excel_a_formula() -> None:
    from govsms.contacts.filereader import write_csv

    content = write_csv([("+46701234567", "=HYPERLINK(\"http://x\")"), ("+46701234568", "@SUM(1)"), ("+46701234569", "Åsa")]).decode("utf-8-sig")
    assert ';"\'=HYPERLINK' in content and ";'@SUM" in content and ";Åsa" in content
    assert "+46701234567;" in content  # numbers stay as they are
