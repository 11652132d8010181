"""In Chromium (issue 15, Done-when #1): every page of every role (sender, admin, DPO, auditor,
operator) and the public pages, at 1280 and 390 px wide: no page is wider than the viewport, and
axe-core (npm, pinned in tests/a11y) reports no serious or critical violation.

The pages are found as a user finds them: each role's navigation (the app's NAV, so a page added
to it is visited), then the links on those pages, two steps deep, one page per route (``/contacts/7``
and ``/contacts/9`` are one page). The data is seeded through the services so lists are not empty;
pages that no link leads to are listed in ``EXTRA_PAGES`` and ``PUBLIC_PAGES``, those that a
form leads to (the send summary, the import preview, a person's data) in ``FORM_PAGES``.

A table of the violations (all impacts) per page and width is written to ``every_page.txt`` in the
test's directory and printed (``pytest -s``); ``every_page.json`` has each page's rule ids. Failing
pages are screenshot there too (every page with GOVSMS_EVERY_PAGE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Error as PlaywrightError, Page
from sqlmodel import select

from govsms.auth import ROLE_PERMISSIONS, Actor, Role
from govsms.contacts.groups import add_members, create_group
from govsms.contacts.service import create_contact
from govsms.accounts.apikey import create_api_key
from govsms.db import session_scope
from govsms.demo import DEMO_ACCOUNT, seed_demo
from govsms.dpa.registry import add_subprocessor
from govsms.receiving.service import simulate_inbound
from govsms.retention.holds import place_hold
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.statistics import roll_up
from govsms.sending.transports.loopback import LoopbackTransport
from govsms.keys.ring import load_key_ring
from govsms.registry import all_holdings
from govsms.subjects.erasure import Sealer, erase_subject
from govsms.subjects.requests import register_request
from govsms.accounts.models import Account
from tests import sensitive
from tests.conftest import REQUIRE_ALL_TESTS
from tests.factories import now, system
from tests.served import Served, backend, serve  # noqa: F401

AXE = Path(__file__).parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
IMPACTS = ("critical", "serious", "moderate", "minor")
FAILING = {"critical", "serious"}
SCREENSHOT_ALL = bool(os.environ.get("GOVSMS_EVERY_PAGE_SCREENSHOTS"))
"""Set: a screenshot of every page at each width (else only of the pages that fail)."""
DEPTH = 2
LINK_SOURCES = 3
"""Links followed from the navigation's pages: a list, then its item's page, then what that links to."""

ROLES = (Role.SENDER, Role.ADMIN, Role.DPO, Role.AUDITOR, Role.OPERATOR)
SKIPPED = re.compile(
    r"^/(static|api|logout|login)(/|$)"  # not pages of the app's own (the API docs are a public page below)
    r"|\.(xlsx|pdf|json|csv|jsonl)$|/pdf$"  # downloads
    r"|^/(contacts|audit)/export$|^/subjects/exports/"  # downloads without an extension
)
LONG_NAME = "Maximiliana Vilhelmina Östergren-Lindqvistsdotter"
LONG_WORD = "Informationssäkerhetssamordningsansvarigheten"

EXTRA_PAGES = {role: ["/no-such-page"] for role in Role}
"""Pages that no link leads to: the 404 page with the navigation; the receipt of an erasure (a
link from the erasure's answer only)."""
EXTRA_PAGES[Role.DPO].append("/subjects/erasures/{erasure_id}")

@dataclass(frozen=True)
class FormPage:
    """A page only a form leads to: ``path``'s form filled (selector: value; a file input's value
    is the file's name and content) and sent; the page it answers with is checked as ``label``."""

    role: Role
    path: str
    label: str
    fields: dict[str, str | tuple[str, bytes]]
    submit: str


FORM_PAGES = (
    FormPage(Role.SENDER, "/send", "/send → summary", {
        "#sender": "Skolan", "#to": f"070-123 45 67\n070-234 56 78\n08-123 456 78\n{LONG_WORD}",
        "#text": f"Hej! Skolan stänger 12.00 idag. {LONG_WORD}. Avregistrera: _BLOCKSMSLINK_",
    }, "#send-form button[type=submit]"),
    FormPage(Role.SENDER, "/contacts/import", "/contacts/import → preview", {
        "#file": ("kontakter.csv", f"Nummer;Namn\n0701234567;{LONG_NAME}\n0701234567;Dubblett\n12;Fel\n{LONG_WORD};Fel\n".encode()),
    }, "form[action='/contacts/import'] button[type=submit]"),
    FormPage(Role.DPO, "/subjects", "/subjects → result", {"#number": "070-123 45 67"}, "form[action='/subjects/search'] button[type=submit]"),
)

PUBLIC_PAGES = ("/login", "/u/{optout_token}", "/u/AAAAAAAAAAAA", "/api/schema")
"""Pages without a login: the login page, the recipient's opt-out page (and its 404), the API docs."""

WIDE_ELEMENTS = """() => {
  const edge = window.innerWidth + 1;
  const describe = element => element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
    + (element.classList.length ? "." + [...element.classList].join(".") : "");
  const trail = element => [element.parentElement.parentElement, element.parentElement, element].map(describe).join(" > ");
  const scrolls = element => getComputedStyle(element).overflowX !== "visible";
  const within = element => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) if (scrolls(up)) return true;
    return false;
  };
  const past = element => {  // its box reaches past the edge, or what is in it does
    const box = element.getBoundingClientRect();
    return box.right > edge || (box.left + element.scrollWidth > edge && !scrolls(element));
  };
  const wide = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (!within(element) && past(element) && ![...element.children].some(past)) {  // innermost, not inside an element that scrolls it
      wide.push(trail(element) + " (" + Math.round(Math.max(element.getBoundingClientRect().width, element.scrollWidth)) + " px)");
    }
  }
  return wide.slice(0, 3);
}"""
"""The innermost elements that reach past the right edge, or whose text does (outside any element that scrolls), with two of their ancestors."""



@dataclass
class Seeded:
    logins: dict[Role, tuple[str, str]]
    optout_token: str
    erasure_id: int | None


@dataclass
class Visit:
    who: str
    path: str
    width: int
    overflow: int = 0
    """How many px the page is wider than the viewport (0: none)."""
    wide: list[str] = field(default_factory=list)
    """The outermost elements that reach past the viewport's right edge (when the page is wider)."""
    counts: dict[str, int] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)
    """The serious and critical violations: rule id, impact and the first elements."""
    rules: dict[str, str] = field(default_factory=dict)
    """Every violation's rule id and impact."""


def _roles_of(item: Any) -> set[Role]:
    """The roles whose navigation shows ``item`` (one user of each role: the role's permissions)."""
    return {role for role in ROLES if item.permission is None or item.permission in ROLE_PERMISSIONS[role]}


def _seed(served: Served) -> Seeded:
    """The demo's account and users (one per role, and the operator), with data in every list."""
    at = now()
    with session_scope(served.factory) as session:
        logins = {login.role: (login.email, sensitive.register(login.password)) for login in seed_demo(session, now=at)}
        demo = session.exec(select(Account).where(Account.name == DEMO_ACCOUNT)).one()
        actor = system(demo)
        contacts = [
            create_contact(session, actor, number=sensitive.register(number), name=sensitive.register(name), now=at)
            for number, name in (("+46701234567", LONG_NAME), ("+46702345678", "Åsa Öberg"), ("+46703456789", "Per Nilsson"))
        ]
        group = create_group(
            session, actor, name=f"Föräldrar till elever i årskurs 9 på {LONG_WORD}skolan",
            description="Alla vårdnadshavare som vill få sms om skolans stängning, utflykter och föräldramöten.", now=at,
        )
        add_members(session, actor, group.id, [contact.id for contact in contacts if contact.id is not None], now=at)
        create_dispatch(
            session, actor,
            DispatchRequest(sender="72323", text=f"Skolan stänger 12.00 idag på grund av {LONG_WORD}. Svara JA om ni hämtar. _BLOCKSMSLINK_",
                            numbers=[contact.number for contact in contacts]),
            public_url=served.settings.public_url, now=at,
        )
        create_dispatch(session, actor, DispatchRequest(sender="Skolan", text="Föräldramöte tisdag 18.00.", group_ids=[group.id]),
                        public_url=served.settings.public_url, now=at)
        create_api_key(session, actor, name=f"Skolans elevregister ({LONG_WORD})", roles={Role.SENDER}, now=at)
        register_request(session, actor, kind="access", notes="Begäran kom per brev.", now=at)
        # A sub-processor within its notice: the admins' pages carry the banner.
        add_subprocessor(session, Actor.platform(), name=f"Molnet {LONG_WORD} AB", org_number="556777-8888", country="SE", city="Umeå",
                         purpose="Säkerhetskopior", now=at)
    outbox = Outbox(served.factory, LoopbackTransport(report_delay=0), public_url=served.settings.public_url)
    while outbox.run_once(now=now()):
        pass
    simulate_inbound(served.factory, to="72323", from_="+46701234567", text=f"JA, vi hämtar. {LONG_WORD}!", now=now())
    simulate_inbound(served.factory, to="+46700000000", from_="+46709876543", text="Vem är detta?", now=now())  # unrouted
    sealer = Sealer(keys=load_key_ring(served.settings), witness_path=served.settings.audit_witness_file)
    erased = erase_subject(served.factory, actor, all_holdings(), "+46703456789", sealer=sealer, now=now())
    with session_scope(served.factory) as session:
        place_hold(session, actor, number=None, reason=f"Tillsyn av {LONG_WORD}", until=(at + timedelta(days=90)).date(), now=at)
        roll_up(session, now=now())
        token = session.exec(select(OutboundMessage.optout_token).where(OutboundMessage.optout_token.is_not(None))).first()  # type: ignore[union-attr]
    assert token
    return Seeded(logins=logins, optout_token=token, erasure_id=erased.erasure.id)


def _log_in(context: BrowserContext, url: str, email: str, password: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(lambda address: urlsplit(address).path != "/login")
    return page


def _pattern(path: str) -> str:
    """One page per route: ids and tokens in a path are the same page."""
    return re.sub(r"^/u/[^/]+", "/u/{token}", re.sub(r"/\d+(?=/|$)", "/{id}", path))


def _links(page: Page, origin: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" == origin and not SKIPPED.search(parts.path):
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _check(page: Page, who: str, path: str, shots: Path) -> list[Visit]:
    """The page at each width: how much wider than the viewport it is, and axe's violations."""
    visits = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit = Visit(who=who, path=path, width=width)
        visit.overflow = page.evaluate("Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")
        if visit.overflow:
            visit.wide = page.evaluate(WIDE_ELEMENTS)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        violations: list[dict[str, Any]] = page.evaluate("async () => (await axe.run(document)).violations")
        for violation in violations:
            impact = violation.get("impact") or "minor"
            visit.counts[impact] = visit.counts.get(impact, 0) + 1
            visit.rules[violation["id"]] = impact
            if impact in FAILING:
                targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
                visit.failing.append(f"{violation['id']} ({impact}, {len(violation['nodes'])}×): {targets}")
        if visit.overflow or visit.failing or SCREENSHOT_ALL:
            page.screenshot(path=str(shots / f"{who}{path.replace('/', '_')}-{width}.png"), full_page=True)
        visits.append(visit)
    return visits


NOT_FOUND_PAGES = {"/no-such-page", "/u/AAAAAAAAAAAA"}
"""The pages that are meant to answer 404; every other page must answer 200 (an error page is
no page of the role's, however well it fits)."""


def _visit(page: Page, url: str, path: str) -> bool:
    """Open the page; False for a download or anything but HTML."""
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    try:
        response = page.goto(url + path)
    except PlaywrightError:  # a download ("net::ERR_ABORTED")
        return False
    if response is None or "text/html" not in response.headers.get("content-type", ""):
        return False
    expected = 404 if path in NOT_FOUND_PAGES else 200
    assert response.status == expected, f"{path} answered {response.status}, not {expected}"
    return True


def _role_pages(page: Page, url: str, who: str, start: list[str], shots: Path) -> Iterator[list[Visit]]:
    """The role's pages: ``start``, then the links on them, DEPTH steps deep, one page per route
    (checked once; up to LINK_SOURCES pages of a route with an id are read for their links: the
    first user's page may have no "remove" link, the second's has)."""
    opened: dict[str, int] = {}
    visited: set[str] = set()
    frontier = list(start)
    for _depth in range(DEPTH + 1):
        following: list[str] = []
        for path in frontier:
            pattern = _pattern(urlsplit(path).path)
            if path in visited or opened.get(pattern, 0) >= (LINK_SOURCES if "{id}" in pattern else 1):
                continue
            visited.add(path)
            opened[pattern] = opened.get(pattern, 0) + 1
            if not _visit(page, url, path):
                opened[pattern] = LINK_SOURCES
                continue
            following.extend(_links(page, url))
            if opened[pattern] == 1:
                yield _check(page, who, pattern, shots)
        frontier = following


def _fill(page: Page, url: str, form: FormPage) -> Page:
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    page.goto(url + form.path)
    for selector, value in form.fields.items():
        if isinstance(value, tuple):
            page.set_input_files(selector, {"name": value[0], "mimeType": "text/csv", "buffer": value[1]})
        else:
            page.fill(selector, value)
    with page.expect_navigation() as navigation:
        page.click(form.submit)
    answer = navigation.value
    assert answer is not None and answer.status == 200, f"{form.label} answered {answer.status if answer else None}, not 200"
    return page


def _table(visits: list[Visit]) -> str:
    lines = [f"{'who':<10} {'page':<44} {'px':>4} {'wider':>5} " + " ".join(f"{impact:>8}" for impact in IMPACTS)]
    for visit in visits:
        lines.append(
            f"{visit.who:<10} {visit.path:<44} {visit.width:>4} {visit.overflow or '':>5} "
            + " ".join(f"{visit.counts.get(impact, 0) or '':>8}" for impact in IMPACTS)
        )
    return "\n".join(lines)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_page_fits_a_phone_and_has_no_serious_accessibility_violation(serve, browser: Browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not AXE.exists():
        missing = pytest.fail if REQUIRE_ALL_TESTS else pytest.skip
        missing(f"axe-core is not installed: npm ci --prefix tests/a11y ({AXE} is missing)")
    served: Served = serve()
    seeded = _seed(served)
    nav: list[Any] = served.app.state.nav
    visits: list[Visit] = []
    for role in ROLES:
        email, password = seeded.logins[role]
        context = browser.new_context(locale="sv-SE", bypass_csp=True)  # axe is injected as an inline script
        try:
            page = _log_in(context, served.url, email, password)
            extra = [path.format(erasure_id=seeded.erasure_id) for path in EXTRA_PAGES[role]]
            start = ["/", *(item.path for item in nav if role in _roles_of(item)), *extra]
            for checked in _role_pages(page, served.url, role.value, start, tmp_path):
                visits.extend(checked)
            for form in (form for form in FORM_PAGES if form.role == role):
                visits.extend(_check(_fill(page, served.url, form), role.value, form.label, tmp_path))
        finally:
            context.close()
    context = browser.new_context(locale="sv-SE", bypass_csp=True)
    try:
        page = context.new_page()
        for path in PUBLIC_PAGES:
            if _visit(page, served.url, path.format(optout_token=seeded.optout_token)):
                visits.extend(_check(page, "public", path.replace("{optout_token}", "{token}"), tmp_path))
    finally:
        context.close()

    table = _table(visits)
    (tmp_path / "every_page.txt").write_text(table + "\n")
    (tmp_path / "every_page.json").write_text(json.dumps([asdict(visit) for visit in visits], ensure_ascii=False, indent=1))
    print("\n" + table)
    visited = {(visit.who, visit.path) for visit in visits}
    # The crawl reached the pages behind the lists (a broken link or an empty list would hide them).
    for expected in [("sender", "/contacts/{id}"), ("sender", "/groups/{id}"), ("sender", "/messages/{id}"), ("sender", "/inbox/{id}"),
                     ("admin", "/settings/users/{id}"), ("dpo", "/subjects/requests/{id}"), ("dpo", "/subjects/erasures/{id}"),
                     ("operator", "/operator/accounts"),
                     ("public", "/u/{token}")]:
        assert expected in visited, f"{expected} was not visited:\n{table}"
    problems = [
        f"{visit.who} {visit.path} at {visit.width} px: "
        + "; ".join(([f"{visit.overflow} px wider than the screen ({', '.join(visit.wide)})"] if visit.overflow else []) + visit.failing)
        for visit in visits if visit.overflow or visit.failing
    ]
    assert not problems, "\n".join(problems) + f"\n\n(the table, and screenshots of these pages: {tmp_path})"
