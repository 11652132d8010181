"""``create_app(settings)``: routes, templates, CSRF, error mapping and the worker lifespan."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.utils.sync import AsyncCallable
from sqlalchemy.engine import Engine
from sqlmodel import Session

from govsms import __version__
from govsms.accounts import api as accounts_api
from govsms.accounts import operator as accounts_operator
from govsms.accounts import ui as accounts_ui
from govsms.audit import api as audit_api
from govsms.audit import ui as audit_ui
from govsms.contacts import api as contacts_api
from govsms.dpa import api as dpa_api
from govsms.dpa import render as dpa_render
from govsms.dpa import ui as dpa_ui
from govsms.contacts import ui as contacts_ui
from govsms.receiving import forwarding_ui as receiving_forwarding_ui
from govsms.receiving import api as receiving_api
from govsms.receiving import hooks_api as receiving_hooks_api
from govsms.receiving import operator as receiving_operator
from govsms.receiving import stop_ui as receiving_stop_ui
from govsms.receiving import ui as receiving_ui
from govsms.receiving.inbox import unread_count as inbox_unread_count
from govsms.retention import api as retention_api
from govsms.retention import ui as retention_ui
from govsms.sending import api as sending_api
from govsms.sending.history import status_label
from govsms.sending import operator as sending_operator
from govsms.sending import sender_ui as sending_sender_ui
from govsms.sending import statistics_api as sending_statistics_api
from govsms.sending import statistics_ui as sending_statistics_ui
from govsms.sending import history_ui as sending_history_ui
from govsms.sending import ui as sending_ui
from govsms.subjects import api as subjects_api
from govsms.subjects import requests_api as subjects_requests_api
from govsms.subjects import requests_ui as subjects_requests_ui
from govsms.subjects import ui as subjects_ui
from govsms.subjects.requests import due_soon as subject_requests_due, request_subject
from govsms.accounts.identity import resolve_actor
from govsms.accounts.service import staff_names
from govsms.accounts.login import LoginLimiter, LoginPolicy, UnknownLockouts
from govsms.keys.ring import load_key_ring
from govsms.lifecycle import lifecycle_holdings
from govsms.keys.store import make_vault
from govsms.sending.combine import SendCombiner
from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.db import engines_for, make_session_factory, protect_data_dir
from govsms.settings import Settings
from govsms.web import jobs as web_jobs
from govsms.web import pages
from govsms.web.apidocs import ApiDocsPlugin
from govsms.web.transactions import in_transaction
from govsms.web.context import ActorCache, activity, ActorMiddleware, PageContext, RequestContext
from govsms.web.guards import api_bodies, same_origin
from govsms.web.headers import SecurityHeaders
from govsms.web.ratelimit import AddressLimiter
from govsms.web.render import NavItem, make_environment

STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_ENVELOPE_BYTES = 5 * 1024 * 1024  # the multipart envelope and the form's other fields

NAV: list[NavItem] = [
    *sending_ui.NAV[:2], *receiving_ui.NAV, *sending_ui.NAV[2:], *sending_statistics_ui.NAV,
    *contacts_ui.NAV, *subjects_ui.NAV, *subjects_requests_ui.NAV, *audit_ui.NAV, *dpa_ui.NAV[:1], *accounts_ui.NAV, *retention_ui.NAV, *sending_sender_ui.NAV,
    *receiving_forwarding_ui.NAV, *receiving_stop_ui.NAV,
    *accounts_operator.NAV, *sending_operator.NAV, *receiving_operator.NAV, *web_jobs.NAV,
    *dpa_ui.NAV[1:],
]

def provide_db(state: State, request: Request[Any, Any, Any]) -> Session:
    """The request's session. It opens no connection until the handler's first query, so its
    transaction starts in the handler's thread, and ``in_transaction`` ends it there. The page the
    handler renders reads the navigation's counts in it too (``web.render.nav_counts``)."""
    session: Session = state.session_factory()
    request.state.db = session
    return session

def provide_now(state: State) -> datetime:
    """The request's time, from the app's clock (a test sets ``app.state.clock`` to a fixed one)."""
    now: datetime = state.clock.now()
    return now

def _transactional_handlers(app: Litestar) -> None:
    """Every threaded handler that takes ``db`` runs inside ``in_transaction``."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            fn = getattr(handler, "_fn", None)
            if isinstance(fn, AsyncCallable) and "db" in handler.parsed_fn_signature.parameters and not getattr(fn.func, "transactional", False):
                handler._fn = AsyncCallable(in_transaction(fn.func, read_first=handler.http_methods <= {"GET", "HEAD"}))

def _warm_up_when_quiet() -> None:
    activity.wait_for_lull()
    dpa_render.warm_up()


def app_from_environment() -> Litestar:
    """One web process of ``govsms serve`` with several processes: settings from the environment,
    no worker (the serving parent runs it once)."""
    from govsms.log import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)

def create_app(settings: Settings, *, bind: Engine | Any | None = None, worker: bool = False, clock: Clock = SYSTEM_CLOCK) -> Litestar:
    """The web application. ``bind`` (an engine or a connection) replaces the configured
    database, for tests; ``worker`` also runs the scheduler inside this process; ``clock`` is the
    time handlers (the ``now`` dependency) and the worker read."""
    settings.check_production()
    if bind is None:
        protect_data_dir(settings.data_dir)  # a started service tightens what an older version left open
    keys = load_key_ring(settings)
    engine, reader = (bind, bind) if bind is not None else engines_for(settings)
    vault = make_vault(settings, keys)
    session_factory = make_session_factory(engine, vault=vault)
    state = State(
        {
            "settings": settings,
            "clock": clock,
            "key_ring": keys,
            "vault": vault,
            "session_factory": session_factory,
            # SQLite: a reading engine beside the writing one; elsewhere the same sessions read.
            "read_factory": session_factory if reader is engine else make_session_factory(reader, vault=vault),
            "login_policy": LoginPolicy(
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
                session_lifetime=timedelta(hours=settings.session_hours),
            ),
            "nav": NAV,
            "holdings": lifecycle_holdings(),  # the personal-data registry with every purge (Annex II, the purge preview)
            "actor_cache": ActorCache(),
            "login_limiter": LoginLimiter(settings.login_attempts_per_minute),
            "optout_limiter": AddressLimiter(settings.optout_lookups_per_minute),
            "unknown_logins": UnknownLockouts(),
            "resolve_actor": resolve_actor,
            "staff_names": staff_names,  # how the access log's pages name actors (the accounts domain knows)
            "subject_requests_due": subject_requests_due,  # the dashboard's warning of requests due (the subjects domain knows)
            "request_subject": request_subject,  # the access log's filter by reference finds the request's person (the subjects domain knows)
            "nav_counts": {"inbox": inbox_unread_count},  # the navigation's "Inkorg (3)" (the receiving domain counts)
            "banners": [dpa_ui.subprocessor_banners],  # a new sub-processor within its notice, for customers' admins (web.banners)
        }
    )
    def handler_threads() -> None:
        # Handlers run on this many threads (the loop's executor, which Litestar uses); the
        # engines' pools hold as many connections and more.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="handler"))

    on_startup, on_shutdown = [handler_threads], []
    if worker and settings.scheduler_enabled:
        from govsms.worker import Worker

        background = Worker(settings, session_factory, keys, clock=clock)
        state["worker"] = background
        on_startup.append(background.start)
        on_shutdown.append(background.stop)
    if settings.combine_sends and (bind is None or isinstance(bind, Engine)):
        # Not on a test's shared connection: the combiner writes from a thread of its own.
        combiner = SendCombiner(session_factory, public_url=settings.public_url)
        state["send_combiner"] = combiner
        on_startup.append(combiner.start)
        on_shutdown.append(combiner.stop)
    if bind is None:
        on_shutdown.append(lambda: engine.dispose())
        on_shutdown.append(lambda: reader.dispose())
        # A served process gets WeasyPrint and the DPA templates ready in the background, so the
        # first agreement a customer generates does not also pay for loading them (~1 s).
        # It waits for a lull: a process that starts under load (1 s of CPU) serves first.
        on_startup.append(lambda: threading.Thread(target=_warm_up_when_quiet, name="dpa-warm-up", daemon=True).start())

    app = Litestar(
        # One Router: registering handlers one by one re-registers the earlier handlers of a
        # shared path, which wraps a sync_to_thread handler twice (Litestar 2.25).
        route_handlers=[
            Router(
                path="/",
                route_handlers=[
                    *pages.ROUTES,
                    *accounts_ui.ROUTES,
                    *accounts_operator.ROUTES,
                    *accounts_api.ROUTES,
                    *contacts_ui.ROUTES,
                    *contacts_api.ROUTES,
                    *audit_ui.ROUTES,
                    *audit_api.ROUTES,
                    *sending_ui.ROUTES,
                    *sending_history_ui.ROUTES,
                    *sending_sender_ui.ROUTES,
                    *sending_statistics_ui.ROUTES,
                    *sending_statistics_api.ROUTES,
                    *sending_api.ROUTES,
                    *receiving_forwarding_ui.ROUTES,
                    *receiving_hooks_api.ROUTES,
                    *receiving_ui.ROUTES,
                    *receiving_api.ROUTES,
                    *sending_operator.ROUTES,
                    *receiving_operator.ROUTES,
                    *receiving_stop_ui.ROUTES,
                    *web_jobs.ROUTES,
                    *dpa_ui.ROUTES,
                    *dpa_api.ROUTES,
                    *retention_ui.ROUTES,
                    *retention_api.ROUTES,
                    *subjects_ui.ROUTES,
                    *subjects_api.ROUTES,
                    *subjects_requests_ui.ROUTES,
                    *subjects_requests_api.ROUTES,
                ],
            ),
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        dependencies={"db": Provide(provide_db, sync_to_thread=False), "now": Provide(provide_now, sync_to_thread=False)},
        middleware=[ActorMiddleware()],
        guards=[api_bodies, same_origin],
        csrf_config=CSRFConfig(
            secret=keys.secret_key,
            cookie_name="govsms_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            exclude=["^/api/", "^/hooks/", "^/health"],
        ),
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(make_environment({"status_label": status_label}))),
        openapi_config=OpenAPIConfig(
            title="govsms API",
            version=__version__,
            path="/api/schema",
            # A page rendered here and the schema files: no renderer that loads scripts from a CDN.
            render_plugins=[ApiDocsPlugin(), JsonRenderPlugin(), YamlRenderPlugin()],
            description="Send SMS, follow delivery and manage recipients. Authenticate with `Authorization: Bearer <key>`.",
            security=[{"BearerAuth": []}],
            components=Components(
                security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer", description="An API key from /settings/api-keys")},
            ),
        ),
        exception_handlers=pages.EXCEPTION_HANDLERS,
        logging_config=LoggingConfig(configure_root_logger=False, log_exceptions="never", disable_stack_trace={404}),
        state=state,
        # A larger body is refused while it arrives (422 with the size limit, web/pages.py).
        request_max_body_size=settings.upload_max_mb * 1024 * 1024 + UPLOAD_ENVELOPE_BYTES,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    _transactional_handlers(app)
    app.asgi_handler = RequestContext(
        SecurityHeaders(PageContext(app.asgi_handler), https=settings.public_url.startswith("https://"), secure_cookies=settings.secure_cookies),
    )
    return app
