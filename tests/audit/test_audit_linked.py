"""The audit log and linked/trailing orders: the links round-trip, and a database written before
they existed is upgraded in place (columns added, the order-type check widened)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from tests.audit.test_audit_log import APPROVED, T0, _order, _request, _url
from tradelab.audit import AuditConfig, AuditLog
from tradelab.audit import _schema as schema
from tradelab.live.outcome import SubmitOutcome

LINK_COLUMNS = ("parent_id", "oco_group", "trail_amount", "trail_percent")


def _record(log: AuditLog, **changes: object) -> None:
    request = _request(**changes)
    log.record_submission(SubmitOutcome(request=request, decision=APPROVED,
                                        order=_order(request)))


def test_links_and_trail_fields_round_trip_through_orders_and_decisions(tmp_path: Path) -> None:
    with AuditLog(AuditConfig(url=_url(tmp_path))) as log:
        _record(log, coid="e1")
        _record(log, coid="e1.sl", side="sell", parent_id="e1", oco_group="e1",
                order_type="trailing_stop", limit_price=None, trail_percent=2.5,
                stop_price=97.5)
        _record(log, coid="t1", side="sell", order_type="trailing_stop", limit_price=None,
                trail_amount=0.1 + 0.2)
        child, trail = log.order("e1.sl").request, log.order("t1").request
        decision = next(d for d in log.decisions() if d["client_order_id"] == "e1.sl")
    assert (child.parent_id, child.oco_group, child.trail_percent, child.stop_price) == (
        "e1", "e1", 2.5, 97.5)
    assert trail.trail_amount == 0.30000000000000004 and trail.stop_price is None
    assert (decision["parent_id"], decision["order_type"]) == ("e1", "trailing_stop")


def _old_schema_sql() -> list[str]:
    """CREATE statements of the tables as the first schema had them (no link columns, no
    trailing_stop in the order-type check)."""
    statements = []
    for table in schema.metadata.sorted_tables:
        sql = str(CreateTable(table).compile(dialect=sqlite.dialect()))
        lines = [line for line in sql.splitlines()
                 if not any(line.strip().startswith(name + " ") for name in LINK_COLUMNS)]
        statements.append("\n".join(lines).replace(", 'trailing_stop'", ""))
        statements += [str(CreateIndex(i).compile(dialect=sqlite.dialect()))
                       for i in table.indexes]
    return statements


def test_a_database_from_before_linked_orders_is_upgraded_and_keeps_its_rows(
        tmp_path: Path) -> None:
    url = _url(tmp_path)
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as old:
        for statement in _old_schema_sql():
            old.execute(statement)
        old.execute(
            "INSERT INTO orders (client_order_id, broker_order_id, symbol, side, quantity, "
            "order_type, limit_price, time_in_force, extended_hours, status, filled_quantity, "
            "created_at, updated_at, reason, source, recorded_at) VALUES ('old-1', 'P1', 'AAA', "
            f"'buy', 5, 'limit', 99.0, 'DAY', 0, 'Submitted', 0, '{T0.isoformat()}', "
            f"'{T0.isoformat()}', '', 'api', '{T0.isoformat()}')")
        old.execute(
            "INSERT INTO order_events (client_order_id, recorded_at, kind, status, quantity, "
            "filled_quantity, broker_order_id, updated_at, reason) VALUES ('old-1', "
            f"'{T0.isoformat()}', 'submitted', 'Submitted', 5, 0, 'P1', '{T0.isoformat()}', '')")
        assert "parent_id" not in old.execute("SELECT sql FROM sqlite_master "
                                              "WHERE name = 'orders'").fetchone()[0]

    with AuditLog(AuditConfig(url=url)) as log:
        _record(log, coid="t1", side="sell", order_type="trailing_stop", limit_price=None,
                trail_amount=1.5, parent_id="old-1")
        old_order, trail = log.order("old-1"), log.order("t1")
        events = log.order_events("old-1")
    assert old_order.request.limit_price == 99.0 and old_order.request.parent_id is None
    assert trail.request.order_type == "trailing_stop" and trail.request.parent_id == "old-1"
    assert len(events) == 1

    with sqlite3.connect(path) as upgraded:
        sql = upgraded.execute("SELECT sql FROM sqlite_master WHERE name = 'orders'").fetchone()[0]
        indexes = {row[0] for row in upgraded.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders'")}
        assert upgraded.execute("PRAGMA foreign_key_check").fetchall() == []
    assert "'trailing_stop'" in sql and "ix_orders_status" in indexes

    again = AuditLog(AuditConfig(url=url))  # a current database: nothing more to do
    again.close()


def test_the_order_type_check_for_postgresql_admits_trailing_stops() -> None:
    sql = str(CreateTable(schema.orders).compile(dialect=postgresql.dialect()))
    check = re.search(r"CHECK \(order_type IN \(([^)]*)\)\)", sql)
    assert check is not None and "'trailing_stop'" in check.group(1)
    assert all(f"{name} " in sql for name in LINK_COLUMNS)
