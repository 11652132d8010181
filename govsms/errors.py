"""The errors services raise; ``app.py`` maps them to HTTP. No HTTP imports here.

    GovsmsError
    ├── NotFound          404: no such object in the acting account
    ├── Forbidden         403: the actor lacks a permission
    ├── Conflict          409: the object exists already or is in the wrong state
    ├── InvalidInput      422: bad input; ``fields`` maps a field to what is wrong with it
    ├── LoginRefused      401: wrong credentials, or a locked or disabled login
    ├── OutcomeUnknown    500: the database went away while committing: saved or not, nobody knows
    └── ConfigurationError: the process cannot start (never raised during a request)

Messages say what was wrong and what to do, and never hold personal data.
"""

from __future__ import annotations


class GovsmsError(Exception):
    status_code = 500
    code = "error"
    recorded = False
    """The refusal itself tells something about a person ("already a contact") and was recorded
    in the access log, with nothing else written: the request commits that event and answers."""

    def __init__(self, message: str, *, fields: dict[str, str] | None = None, recorded: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.recorded = recorded


class NotFound(GovsmsError):
    status_code = 404
    code = "not_found"


class Forbidden(GovsmsError):
    status_code = 403
    code = "forbidden"


class Conflict(GovsmsError):
    status_code = 409
    code = "conflict"


class InvalidInput(GovsmsError):
    status_code = 422
    code = "invalid_input"


class LoginRefused(GovsmsError):
    status_code = 401
    code = "login_refused"


class OutcomeUnknown(GovsmsError):
    status_code = 500
    code = "outcome_unknown"


class ConfigurationError(GovsmsError):
    code = "configuration"
