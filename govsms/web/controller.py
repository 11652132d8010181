"""Handler groups: the controller each page group (``PageController``) and API group
(``ApiController``, in ``web/api.py``) is, declaring once what all its handlers share.

A group declares its ``guards`` and ``sync_to_thread`` once, for all its handlers: a synchronous
handler runs on the handler threads, in a transaction of its own when it takes ``db`` (see
``app.py``). Litestar 2.25 takes ``sync_to_thread`` only per handler, and a layer's guards would
also guard the OPTIONS answer Litestar adds to each path (204 with Allow, which needs no login),
so the group gives both to each handler. Handlers keep their whole paths (``/contacts/...``): the
access log names a request's route by its handler's path.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

from litestar import Controller
from litestar.exceptions import LitestarWarning
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.utils.predicates import is_async_callable

# A handler of a group leaves sync_to_thread to its group, and Litestar warns, when it is
# declared, about every synchronous handler that does not say: not for the web adapters' modules
# (a domain's api, ui, *_api, *_ui and operator modules, and web/'s own pages).
warnings.filterwarnings(
    "ignore", message="Use of a synchronous callable", category=LitestarWarning,
    module=r"govsms\.(\w+\.(\w+_)?(api|ui)|\w+\.operator|web\.\w+)\Z",
)


class HandlerGroup(Controller):
    """What every group gives each of its handlers; ``declare`` adds what a kind of group adds."""

    sync_to_thread: ClassVar[bool] = True
    """Synchronous handlers run on the handler threads (their database work would block the loop)."""

    def declare(self, handler: HTTPRouteHandler) -> None:
        """What this kind of group gives each handler besides its guards and ``sync_to_thread``."""

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        # In the order they are declared (Litestar sorts them by name): the first handler of a path
        # decides the Allow header of the path's OPTIONS answer (Litestar 2.25).
        declared = [name for cls in reversed(type(self).__mro__) for name in vars(cls)]
        handlers = sorted(super().get_route_handlers(), key=lambda handler: declared.index(handler.fn.__name__))
        for handler in handlers:
            if not isinstance(handler, HTTPRouteHandler):
                continue
            if handler.sync_to_thread is None and not is_async_callable(handler.fn):
                handler.sync_to_thread = self.sync_to_thread
            # The group's guards go to each handler, ahead of its own, instead of staying a layer.
            handler.guards = [*(self.guards or ()), *(handler.guards or ())]
            self.declare(handler)
        self.guards = None
        return handlers


class PageController(HandlerGroup):
    """One group of pages for people: a subclass declares its ``guards`` once (``users_only`` and
    the permission the pages need; none for the public pages). Pages are not in the API schema."""

    include_in_schema = False
