"""Every UI string has a Swedish translation, and placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from govsms.i18n import LOCALE_DIR, translations

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("govsms/**.py", "python"), ("govsms/templates/**.html", "jinja2")]
OPTIONS = {"govsms/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def source_strings() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), METHODS, options_map=OPTIONS, keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        found.update(message if isinstance(message, tuple) else (message,))
    return {message for message in found if message}


def test_every_string_is_translated_to_swedish() -> None:
    with (LOCALE_DIR / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale="sv")
    strings = source_strings()
    assert len(strings) > 50
    translated = set()
    for entry in catalog:
        if isinstance(entry.id, tuple):  # ngettext: both forms count once every plural is filled in
            if all(entry.string):
                translated.update(entry.id)
        elif entry.id and entry.string:
            translated.add(entry.id)
    missing = sorted(strings - translated)
    assert not missing, f"add Swedish for these to {LOCALE_DIR}/sv/LC_MESSAGES/messages.po (make messages): {missing}"


def test_placeholders_are_kept() -> None:
    catalog = translations("sv")
    for message in source_strings():
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(catalog.gettext(message))), message
