"""The live-trading audit log: orders, fills, risk decisions and state changes, written first.

Every step of live trading is committed to a database before the API answers it; after a
restart the live trader restores its state from the broker and this log. SQLite (WAL) under
``$TRADELAB_HOME/live/audit.db`` is the embedded default; production uses PostgreSQL through a
SQLAlchemy URL. No secrets are stored.

Example:
    >>> import tempfile
    >>> from tradelab.audit import AuditConfig, AuditLog
    >>> with AuditLog(AuditConfig(url=f"sqlite:///{tempfile.mkdtemp()}/audit.db")) as log:
    ...     log.set_value("last_bar", "2024-01-02T15:30:00+00:00")
    ...     log.get_value("last_bar")
    '2024-01-02T15:30:00+00:00'
"""

from __future__ import annotations

from tradelab.audit.config import AuditConfig, default_audit_url, mask_url
from tradelab.audit.log import AuditLog

__all__ = ["AuditConfig", "AuditLog", "default_audit_url", "mask_url"]
