"""Settings: the only place that reads the environment (prefix ``GOVSMS_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from govsms.errors import ConfigurationError

MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Configuration of one govsms process; every field maps to ``GOVSMS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GOVSMS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    """``production`` refuses weak or missing secrets and marks cookies Secure."""
    data_dir: Path = Path("./var")
    """Holds the SQLite database and the key file of an embedded installation."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/govsms.db``."""
    keystore_url: str | None = None
    """Optional separate database for subject data keys, so backups of the main one carry none."""
    master_keys: str | None = None
    """``id:base64key[,id:base64key...]``, the first is active; default: the key file in data_dir."""
    secret_key: str | None = None
    """Signs CSRF tokens; default: the key file in data_dir."""
    audit_signing_key: str | None = None
    """Base64 Ed25519 seed (32 bytes) that signs audit checkpoints; default: the key file."""
    audit_witness: Path | None = None
    """Append-only file where the sealer also writes every signed checkpoint, outside the
    database; default ``<data_dir>/audit-witness.jsonl``."""
    public_url: str = "http://127.0.0.1:8000"
    """Base of links the service hands out (opt-out links)."""
    transport: Literal["loopback", "smpp", "http"] = "loopback"
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: str = ""
    scheduler_enabled: bool = True
    send_batch: int = Field(default=200, ge=1, le=5000)
    """Messages one worker claims at a time: also the most that a crashed worker can leave
    half-sent, so the most that can reach a recipient twice."""
    claim_seconds: int = Field(default=120, ge=2)
    """After this long, a dead worker's claimed messages are taken by another worker."""
    send_rate: float | None = None
    """At most this many messages per second from one worker (the provider's limit); none by default."""
    http_url: str = ""
    """The provider's send endpoint for ``GOVSMS_TRANSPORT=http``."""
    http_token: str = ""
    """Bearer token for the provider's API, and the shared secret its delivery reports carry."""
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "text"
    session_hours: int = Field(default=12, ge=1)
    """Lifetime of a login session since the last request."""
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    provider_name: str = ""
    """The provider (processor) as named in the DPA; default: the provider account's name."""
    provider_org_number: str = ""
    """The provider's organisation number; default: the provider account's."""
    provider_address: str = ""
    """The provider's postal address in the DPA; default: the provider account's billing address."""
    provider_email: str = ""
    """Where customers reach the provider on data protection (DPA, breaches, sub-processors)."""
    hosting_country: str = Field(default="SE", min_length=2, max_length=2)
    """ISO code of the country where the servers (database and keys) run; stated in the DPA."""

    # -- load and hostile input (see README "Capacity") -----------------------------------------
    threads: int = Field(default=12, ge=1, le=512)
    """Threads per web process that run request handlers; the database pool gets as many
    connections plus a few for the worker, so no handler ever waits for a connection another
    handler holds. More threads than this mostly wait for Python's interpreter lock."""
    processes: int = Field(default=0, ge=0, le=64)
    """Web processes of ``govsms serve``: 0 means one per core on PostgreSQL and one on SQLite
    (whose writers queue inside one process)."""
    combine_sends: bool = True
    """API sends to a few numbers that arrive while others are being written are written together
    in one transaction (``sending/combine.py``): the same rows, events and answers, a fraction of
    the database round trips. Off: each request writes its own dispatch."""
    db_lock_timeout_ms: int = Field(default=5000, ge=100)
    """PostgreSQL ``lock_timeout`` and the wait for SQLite's write lock: past it the request gets
    503 with ``Retry-After`` and nothing is written."""
    db_statement_timeout_ms: int = Field(default=30000, ge=1000)
    """PostgreSQL ``statement_timeout``: no query runs longer (503, nothing written)."""
    login_attempts_per_minute: int = Field(default=10, ge=1)
    """Login attempts per client address and per e-mail address in a minute; more are refused
    (429) without checking the password or telling whether the address exists."""
    optout_lookups_per_minute: int = Field(default=60, ge=1)
    """Requests to the public opt-out page (/u/) per client address (an IPv6 /64) in a minute, in
    each web process; more are refused (429). Generous for many recipients behind one mobile
    network's address; guessing one of ten million live 72-bit tokens at this rate from a
    million addresses still takes years."""
    upload_max_mb: int = Field(default=20, ge=1)
    """Largest recipient file (CSV or Excel) accepted."""
    upload_max_unpacked_mb: int = Field(default=200, ge=1)
    """An Excel file may unpack to at most this much (zip bombs are refused before parsing)."""
    upload_max_cells: int = Field(default=4_000_000, ge=1)
    """Cells an Excel sheet may declare (its dimension) or hold."""
    upload_parse_memory_mb: int = Field(default=400, ge=64)
    """Memory limit of the separate process that parses an uploaded file."""
    message_unknown_hours: int = Field(default=72, ge=1)
    """A message that has had no delivery report this long after it was sent becomes ``unknown``."""
    reply_window_days: int = Field(default=30, ge=1, le=365)
    """A reply to an SMS sent from a shared number (72323, 1963, 4560991000) reaches the account
    that sent last to that number within this many days (``reply_route``)."""

    # -- e-mail (forwarding of inbound SMS, ``govsms.receiving.forwarding``) ----------------------
    smtp_host: str = ""
    """The SMTP server forwards are mailed through; empty: e-mail forwards fail as ``smtp:unset``."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "govsms@localhost"
    """The From address of forwarded e-mail."""
    smtp_starttls: bool | None = None
    """STARTTLS before anything is sent; default: on when ``smtp_user`` is set."""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'govsms.db').resolve()}"

    @property
    def web_processes(self) -> int:
        if self.processes:
            return self.processes
        return 1 if self.resolved_database_url.startswith("sqlite") else max(1, os.cpu_count() or 1)

    @property
    def key_file(self) -> Path:
        return self.data_dir / "keys.json"

    @property
    def audit_witness_file(self) -> Path:
        return self.audit_witness or self.data_dir / "audit-witness.jsonl"

    @property
    def secure_cookies(self) -> bool:
        return self.is_production or self.public_url.startswith("https://")

    def check_production(self) -> None:
        """Refuse to run in production on development defaults; say which setting is missing."""
        if not self.is_production:
            return
        problems = []
        if not self.secret_key or len(self.secret_key) < MIN_SECRET_LENGTH:
            problems.append(
                f"GOVSMS_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} characters"
            )
        if not self.master_keys and not self.key_file.exists():
            problems.append(
                "GOVSMS_MASTER_KEYS must be set (or run `govsms init` to write the key file "
                f"{self.key_file})"
            )
        if not self.audit_signing_key and not self.key_file.exists():
            problems.append("GOVSMS_AUDIT_SIGNING_KEY must be set (32 random bytes, base64)")
        if not self.database_url:
            problems.append("GOVSMS_DATABASE_URL must be set (postgresql+psycopg://...)")
        if problems:
            raise ConfigurationError("Refusing to start in production: " + "; ".join(problems) + ".")
