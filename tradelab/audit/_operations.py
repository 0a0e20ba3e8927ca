"""Operator records of the audit log: decisions on modifications, alerts, risk-limit changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tradelab.audit import _rows as rows
from tradelab.audit import _schema as schema
from tradelab.brokers.records import OrderRequest
from tradelab.risk import RiskDecision

__all__ = ["ALERT_LEVELS", "OperationsRecords"]

ALERT_LEVELS = ("info", "warning", "critical")


class OperationsRecords:
    """Mixed into :class:`~tradelab.audit.AuditLog` (uses its ``_write``, ``_select``, ``_now``)."""

    def record_decision(
        self,
        request: OrderRequest,
        decision: RiskDecision,
        *,
        source: str,
        action: str = "modify",
        state: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record a risk decision that is not a new order (``action="modify"``).

        Raises:
            AuditError: The database refused the write; nothing was written.
        """
        row = rows.request_columns(request)
        row.update(recorded_at=self._now(at), approved=bool(decision.approved),
                   rule=decision.rule, reason=decision.reason, source=source,
                   trading_state=state, accepted=False, action=action)
        with self._write("record a risk decision") as connection:
            connection.execute(schema.risk_decisions.insert().values(**row))

    def record_alert(self, *, level: str, kind: str, key: str, message: str,
                     at: datetime | None = None) -> int:
        """Append an alert (``level`` info/warning/critical); returns its id."""
        if level not in ALERT_LEVELS:
            raise ValueError(f"alert level must be one of {', '.join(ALERT_LEVELS)}, "
                             f"got {level!r}")
        values = {"recorded_at": self._now(at), "level": level, "kind": kind, "key": key,
                  "message": message}
        with self._write("record an alert") as connection:
            return int(connection.execute(schema.alerts.insert().values(**values))
                       .inserted_primary_key[0])

    def alerts(self, *, since_id: int = 0, limit: int | None = 200) -> list[dict[str, Any]]:
        """Alerts with an id above ``since_id`` (a feed: pass the last id you saw), oldest
        first, at most the newest ``limit``."""
        query = select(schema.alerts).where(schema.alerts.c.id > since_id)
        return [rows.plain_row(row) for row in self._select(query, schema.alerts, limit)]

    def record_limits_change(self, *, operator: str, before: dict[str, Any],
                             after: dict[str, Any], reason: str,
                             at: datetime | None = None) -> None:
        """Record who changed the risk limits, when, from what to what, and why."""
        values = {"recorded_at": self._now(at), "operator": operator,
                  "before": json.dumps(before, sort_keys=True),
                  "after": json.dumps(after, sort_keys=True), "reason": reason}
        with self._write("record a risk-limit change") as connection:
            connection.execute(schema.limit_changes.insert().values(**values))

    def limit_changes(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Risk-limit changes, oldest first (``before``/``after`` decoded)."""
        result = []
        for row in self._select(select(schema.limit_changes), schema.limit_changes, limit):
            data = rows.plain_row(row)
            data["before"], data["after"] = json.loads(row["before"]), json.loads(row["after"])
            result.append(data)
        return result
