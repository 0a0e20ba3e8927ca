"""Where the live-trading audit log is kept: a SQLAlchemy URL (SQLite by default)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tradelab.errors import ConfigError
from tradelab.paths import data_root

__all__ = ["AuditConfig", "default_audit_url", "mask_url"]

_SYNCHRONOUS = ("FULL", "NORMAL")
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@")


def default_audit_url() -> str:
    """The embedded database: ``sqlite:////<data_root>/live/audit.db`` (resolved, not created).

    Example:
        >>> default_audit_url().endswith("/live/audit.db")
        True
    """
    return f"sqlite:///{(data_root() / 'live' / 'audit.db').as_posix()}"


def mask_url(url: str | URL) -> str:
    """``url`` with any password replaced by ``***``, safe to show in messages and logs.

    Example:
        >>> mask_url("postgresql://trader:s3cret@db.internal/audit")
        'postgresql://trader:***@db.internal/audit'
    """
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}***@", str(url))


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditConfig:
    """Which database the audit log writes to, and how SQLite is tuned.

    Attributes:
        url: A SQLAlchemy URL. ``None`` uses the embedded SQLite file
            ``<data_root>/live/audit.db`` (``$TRADELAB_HOME``). Production: PostgreSQL, e.g.
            ``postgresql+psycopg://trader:<password>@db/audit`` with the password taken from the
            environment by the caller. A relative ``sqlite:///`` path is made absolute. An
            in-memory SQLite database is refused: the log must outlive the process.
        sqlite_synchronous: ``"FULL"`` (default) or ``"NORMAL"``. With ``FULL`` every commit
            is fsynced, so a record the API has acknowledged survives a power loss or an OS
            crash; with ``NORMAL`` (WAL) it survives a crash of the process only, and the last
            transactions before a power loss may be lost. Orders are rare enough that the fsync
            per commit costs nothing that matters, so durability wins. Ignored for other
            databases.
        busy_timeout: Seconds a SQLite connection waits for another writer's lock before the
            write fails with :class:`~tradelab.errors.AuditError`.

    A password inside ``url`` is masked in ``repr``.

    Example:
        >>> AuditConfig(url="postgresql://trader:s3cret@db/audit")
        AuditConfig(url='postgresql://trader:***@db/audit', sqlite_synchronous='FULL', \
busy_timeout=10.0)
    """

    url: str | None = None
    sqlite_synchronous: str = "FULL"
    busy_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.url is not None:
            if not isinstance(self.url, str) or not self.url.strip():
                raise ConfigError(
                    "AuditConfig.url must be a non-empty SQLAlchemy URL or None (the embedded "
                    f"SQLite file), got {mask_url(str(self.url))!r}."
                )
            try:
                parsed = make_url(self.url)
            except (ArgumentError, ValueError) as exc:
                raise ConfigError(
                    f"AuditConfig.url {mask_url(self.url)!r} is not a SQLAlchemy URL ({exc}). "
                    "Give e.g. 'sqlite:////var/lib/tradelab/audit.db' or "
                    "'postgresql+psycopg://user:password@host/db'."
                ) from None
            if parsed.get_backend_name() == "sqlite" and _is_memory(parsed):
                raise ConfigError(
                    f"AuditConfig.url {mask_url(self.url)!r} is an in-memory SQLite database; "
                    "the audit log must survive a restart. Give a file, e.g. "
                    "'sqlite:////var/lib/tradelab/audit.db', or None for the default file."
                )
        if self.sqlite_synchronous not in _SYNCHRONOUS:
            raise ConfigError(
                f"AuditConfig.sqlite_synchronous must be 'FULL' or 'NORMAL', "
                f"got {self.sqlite_synchronous!r}."
            )
        timeout = self.busy_timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout < 0
        ):
            raise ConfigError(
                f"AuditConfig.busy_timeout must be a number of seconds >= 0, got {timeout!r}."
            )

    def __repr__(self) -> str:
        url = None if self.url is None else mask_url(self.url)
        return (
            f"AuditConfig(url={url!r}, sqlite_synchronous={self.sqlite_synchronous!r}, "
            f"busy_timeout={float(self.busy_timeout)!r})"
        )

    def resolved_url(self) -> URL:
        """The URL to connect to: the configured one (a relative SQLite path made absolute) or
        the default SQLite file. Holds the password: never print it, use :func:`mask_url`."""
        url = make_url(self.url or default_audit_url())
        path = sqlite_file(url)
        if path is not None and not path.is_absolute():
            url = url.set(database=path.expanduser().resolve().as_posix())
        return url


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` for other databases."""
    if url.get_backend_name() != "sqlite" or _is_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):
        return None  # a sqlite3 URI filename: left exactly as given
    return Path(database)


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"
