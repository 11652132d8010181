"""The DPA as HTML (the preview) and PDF (WeasyPrint), from ``templates/dpa/``.

The content hash printed in the footer is the SHA-256 of the agreement's body as rendered (cover,
clauses, annexes): a file cannot carry its own hash, so the PDF file's SHA-256 is kept beside it
and carried by the audit events instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from jinja2 import Environment

from govsms.dpa.registry import EEA, country_name
from govsms.clock import LOCAL_TIME, localtime
from govsms.i18n import _, language
from govsms.templating import base_environment
from govsms.retention.categories import BY_KEY, describe_days


LOCAL = LOCAL_TIME


@dataclass(frozen=True)
class Rendered:
    html: str
    content_sha256: str


def _css_string(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


@cache
def environment() -> Environment:
    """The agreement's own environment: its templates, its stylesheet (inlined), gettext, and the
    two filters it uses; nothing of the pages'."""
    env = base_environment()
    env.filters["localtime"] = localtime
    env.filters["css_string"] = _css_string
    return env


def _context(annexes: dict[str, Any], details: dict[str, str], lang: str) -> dict[str, Any]:
    categories = []
    subjects: list[str] = []
    for entry in annexes["categories"]:
        category = BY_KEY.get(entry["key"])
        if category is None:  # a category an older version had and the code no longer knows
            continue
        categories.append({
            "category": category, "days": entry["days"], "duration": describe_days(entry["days"]),
            "held": [_(text) for text in entry.get("held", [])],
        })
        if category.lists_subjects and _(category.subjects) not in subjects:
            subjects.append(_(category.subjects))
    measures = {entry["key"]: entry for entry in annexes["measures"]}
    return {
        "lang": lang,
        "annexes": annexes,
        "details": details,
        "categories": categories,
        "data_subjects": subjects,
        "measures": measures,
        "purged_labels": [_(BY_KEY[key].label) for key in measures["retention"].get("categories", []) if key in BY_KEY],
        "hosting_country_name": country_name(measures["storage"]["hosting_country"], lang),
        "subprocessors": [
            {**entry, "country_name": country_name(entry["country"], lang), "in_eea": entry["country"] in EEA}
            for entry in annexes["subprocessors"]
        ],
    }


def render_html(
    annexes: dict[str, Any], details: dict[str, str], *, lang: str, version_number: int | str, generated_at: datetime, pdf: bool
) -> Rendered:
    """The whole document as HTML; ``pdf`` selects the print layout, else the preview's."""
    env = environment()
    with language(lang):
        context = _context(annexes, details, lang)
        body = env.get_template("dpa/_body.html").render(
            version_number=version_number, generated_on=generated_at.astimezone(LOCAL).strftime("%Y-%m-%d"), **context
        )
        content_sha256 = hashlib.sha256(body.encode()).hexdigest()
        footer = _("%(title)s · version %(version)s · content SHA-256 %(hash)s") % {
            "title": _("Data processing agreement"), "version": version_number, "hash": content_sha256,
        }
        html = env.get_template("dpa/document.html").render(
            body=body, pdf=pdf, footer_left=footer, page_word=_("Page"), of_word=_("of"), **context
        )
    return Rendered(html=html, content_sha256=content_sha256)


def render_pdf(html: str) -> bytes:
    """WeasyPrint; fonts come from the system (DejaVu on Debian), nothing is fetched."""
    from weasyprint import HTML

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError("the DPA loads no external resources")

    # PDF/UA-1: tagged, with title and language, so screen readers can read the agreement.
    return cast(bytes, HTML(string=html, url_fetcher=no_fetch).write_pdf(pdf_variant="pdf/ua-1"))  # WeasyPrint has no types


def warm_up() -> bool:
    """Load WeasyPrint, the fonts and the DPA templates once (a served process calls this in a
    background thread at start); a failure here only means the first render pays instead.
    Says in the log that PDFs can be made (one line), or in one line why not: WeasyPrint prints
    its own complaint about missing system libraries to standard output, which is kept out of
    the log and replaced by a line that says what to install."""
    log = logging.getLogger(__name__)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except OSError as missing:
        log.warning("PDFs (the DPA, access reports) cannot be made: a library WeasyPrint needs is missing (%s). "
                    "Install Pango, HarfBuzz and fonts, e.g. apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core",
                    type(missing).__name__)
        return False
    try:
        env = environment()
        for name in ("dpa/document.html", "dpa/_body.html", "dpa/_annexes.html", "dpa/_clauses_sv.html", "dpa/_clauses_en.html"):
            env.get_template(name)
        render_pdf('<html lang="sv"><p style="font-family: \'DejaVu Serif\'">Å</p><p style="font-family: \'DejaVu Sans\'"><b>Ö</b></p></html>')
    except Exception:  # noqa: BLE001 - an optimisation, never a reason to fail
        log.warning("DPA warm-up failed; the first render will be slower", exc_info=True)
        return False
    log.info("PDF rendering ready (WeasyPrint %s)", weasyprint.__version__)
    return True
