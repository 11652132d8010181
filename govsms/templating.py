"""The Jinja2 environment every rendered document starts from: the package's templates and
stylesheets, autoescaping and gettext in the reader's language. Pages (``web/render.py``) and the
DPA (``dpa/render.py``) each add their own filters to one of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape

from govsms.i18n import _, ngettext

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def base_environment() -> Environment:
    env = Environment(
        # static/ too: the DPA's stylesheet is linked from the preview and inlined in the PDF.
        loader=ChoiceLoader([FileSystemLoader(TEMPLATE_DIR), PrefixLoader({"static": FileSystemLoader(STATIC_DIR)})]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The i18n extension adds install_gettext_callables to the environment (Environment.extend),
    # which Environment's type does not declare.
    cast(Any, env).install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)
    return env
