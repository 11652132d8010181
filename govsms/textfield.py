"""Text people type into names, titles, addresses and notes: control characters refused, whitespace tidied.

Every service that stores such text passes it through here first. PostgreSQL cannot store NUL in
a text column and no encoding can store a lone surrogate; the other C0/C1 controls are invisible
in a page and only ever arrive by accident or on purpose. Tab, line feed, vertical tab, form feed
and carriage return are whitespace: a one-line field turns them into spaces, a note keeps them.
"""

from __future__ import annotations

import re

from govsms.errors import InvalidInput
from govsms.i18n import _

CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def refuse_control(value: str, field: str) -> str:
    """``value`` as it is, or InvalidInput naming ``field`` when it holds a control character."""
    if CONTROL.search(value):
        raise InvalidInput(
            _("The text has an invisible control character that cannot be saved."),
            fields={field: _("Remove the control character: type the text again or paste it as plain text.")},
        )
    return value


def single_line(value: str | None, field: str) -> str:
    """A name or other one-line field: line breaks and tabs become spaces, runs of spaces one
    space, the ends are trimmed; any other control character is refused."""
    return " ".join(refuse_control(value or "", field).split())


def multi_line(value: str | None, field: str) -> str:
    """A note: line breaks and tabs stay, the ends are trimmed; other control characters are refused."""
    return refuse_control(value or "", field).strip()


def printable(value: str) -> str:
    """Text from a file (a name in an imported sheet), where nobody can retype it: control
    characters are dropped instead of refused, and whitespace tidied as in ``single_line``."""
    return " ".join(CONTROL.sub("", value).split())
