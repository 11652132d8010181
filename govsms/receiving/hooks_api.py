"""The HTTP provider's inbound SMS: ``POST /hooks/http/inbound`` with its shared token (the same
as its delivery reports'), answered 200 only once the SMS are committed (stored, joined and
routed); 503 with ``Retry-After`` when the database cannot take them, so the provider sends them
again (a part it sends twice is stored once, by its id)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody
from msgspec import Struct
from sqlalchemy.exc import IntegrityError

from govsms.i18n import _
from govsms.log import request_id
from govsms.receiving.service import accept_upstream
from govsms.sending import hooks
from govsms.sending.claims import is_transient
from govsms.web.api import ApiController, ErrorBody, errors

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class InboundStored(Struct):
    stored: int
    """How many inbound SMS (or parts) were read and committed."""


class InboundHook(ApiController):
    """The HTTP provider's inbound SMS, with the provider's shared token (not an API key)."""

    tags = ("receiving",)
    common_errors = (400, 422, 503)

    @post(
        "/hooks/http/inbound", summary="Inbound SMS of the HTTP provider", status_code=200,
        responses=errors(401, described={401: "No valid token: send `Authorization: Bearer <GOVSMS_HTTP_TOKEN>`."}),
    )
    def http_inbound(self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any] | list[dict[str, Any]]]) -> Response[InboundStored]:
        """``{"from": "+46701234567", "to": "72323", "text": "...", "id": "<provider id>"}`` (or a
        list of them; a part of a concatenated SMS adds ``"concat": {"reference", "total",
        "sequence"}``), with ``Authorization: Bearer <GOVSMS_HTTP_TOKEN>``. 200 once committed."""
        state = request.app.state
        if not hooks.token_accepted(state.settings, request.headers.get("authorization", "")):
            raise NotAuthorizedException("bad token")
        parts = hooks.read_inbound(data)
        try:
            accept_upstream(state.session_factory, [], parts, transport="http", now=state.clock.now())
        except Exception as error:
            # IntegrityError: the same id posted twice at once, the other request stored it first;
            # sent again, it is found stored and answered 200.
            if not (is_transient(error) or isinstance(error, IntegrityError)):
                raise
            log.warning("inbound SMS from the HTTP provider not stored (%s): 503", type(error).__name__, extra={"event": "receiving.hook_busy"})
            busy = ErrorBody(
                error="busy", message=_("The service cannot store inbound SMS now. Nothing was saved: send them again later."),
                request_id=request_id.get(),
            )
            return Response(busy, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # type: ignore[arg-type]
        return Response(InboundStored(stored=len(parts)), status_code=200)


ROUTES = [InboundHook]
