"""The desk endpoints of the LiveTrader over HTTP: every one, with its bad input."""

from __future__ import annotations

import pytest

from tests.cluster.test_live_serve import call, deploy, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def desk(serve_port, tmp_path_factory):
    from ray import serve

    deploy("t3", tmp_path_factory.mktemp("desk-home"), speed=10.0,
           risk={"max_position_shares": 500, "max_concentration": 0.5})
    port, base = serve_port, "/t3"
    wait_for(lambda: call(port, "GET", f"{base}/account")[1]["timestamp"] >= "2021",
             what="the trader")
    yield port, base
    serve.delete("t3")


def post_order(port, base, cid, **fields):
    body = {"client_order_id": cid, "symbol": "AAA", "side": "buy", "quantity": 10, **fields}
    return call(port, "POST", f"{base}/orders", body)


def test_modify_cancel_all_and_history_answer_with_the_right_status(desk) -> None:
    port, base = desk
    assert post_order(port, base, "m1", order_type="limit", limit_price=60.0,
                      time_in_force="GTC")[0] == 201
    status, modified = call(port, "PUT", f"{base}/orders/m1", {"quantity": 20,
                                                               "limit_price": 61.0})
    assert status == 200 and modified["accepted"] and modified["order"]["quantity"] == 20
    status, denied = call(port, "PUT", f"{base}/orders/m1", {"quantity": 900})
    assert status == 200 and not denied["accepted"]
    assert denied["risk"]["rule"] == "max_position_shares"
    assert call(port, "PUT", f"{base}/orders/nope", {"quantity": 1})[0] == 404
    assert call(port, "PUT", f"{base}/orders/m1", {"quantity": -1})[0] == 422
    assert call(port, "PUT", f"{base}/orders/m1", {"price": 1})[0] == 422
    status, history = call(port, "GET", f"{base}/orders/m1")
    assert status == 200 and len(history["events"]) >= 2 and len(history["decisions"]) == 3
    assert call(port, "GET", f"{base}/orders/unknown-id")[0] == 404
    post_order(port, base, "m2", symbol="BBB", order_type="limit", limit_price=60.0,
               time_in_force="GTC")
    status, cancelled = call(port, "POST", f"{base}/orders/cancel-all", {"symbol": "AAA"})
    assert status == 200 and [o["client_order_id"] for o in cancelled] == ["m1"]
    status, cancelled = call(port, "POST", f"{base}/orders/cancel-all")
    assert [o["client_order_id"] for o in cancelled] == ["m2"]
    status, again = call(port, "PUT", f"{base}/orders/m1", {"quantity": 5})
    assert status == 409 and "Cancelled" in again["detail"]


def test_positions_close_exposure_stress_and_pnl(desk) -> None:
    port, base = desk
    post_order(port, base, "p1", quantity=40)
    post_order(port, base, "p2", symbol="BBB", side="sell", quantity=30)
    wait_for(lambda: len(call(port, "GET", f"{base}/positions")[1]) == 2, what="fills")
    status, exposure = call(port, "GET", f"{base}/exposure")
    assert status == 200 and set(exposure["by_symbol"]) == {"AAA", "BBB"}
    status, stress = call(port, "GET", f"{base}/risk/stress")
    positions = call(port, "GET", f"{base}/positions")[1]
    assert status == 200 and set(stress["per_symbol"]) == {"AAA", "BBB"}
    assert stress["per_symbol"]["AAA"]["-20%"] == pytest.approx(
        round(positions["AAA"]["market_value"] * -0.2, 2), abs=positions["AAA"]["quantity"])
    assert call(port, "GET", f"{base}/risk/stress?shocks=-0.3,x")[0] == 422
    assert call(port, "GET", f"{base}/risk/stress?shocks=-1.5")[0] == 422
    assert call(port, "POST", f"{base}/positions/CCC/close")[0] == 404
    assert call(port, "POST", f"{base}/positions/AAA/close", {"quantity": 999})[0] == 422
    status, partial = call(port, "POST", f"{base}/positions/AAA/close", {"quantity": 15})
    assert status == 201 and partial["request"]["side"] == "sell"
    status, closes = call(port, "POST", f"{base}/positions/close-all")
    assert status == 200 and {c["request"]["symbol"] for c in closes} >= {"BBB"}
    wait_for(lambda: call(port, "GET", f"{base}/positions")[1] == {}, what="a flat book")
    status, pnl = call(port, "GET", f"{base}/pnl")
    assert status == 200 and isinstance(pnl, list)
    status, drawdown = call(port, "GET", f"{base}/risk/drawdown")
    assert status == 200 and 0 <= drawdown["drawdown"] < 1


def test_limits_validate_alerts_and_market_hours(desk) -> None:
    port, base = desk
    status, limits = call(port, "GET", f"{base}/risk/limits")
    assert status == 200 and limits["max_position_shares"] == 500
    assert call(port, "PUT", f"{base}/risk/limits",
                {"limits": {"max_concentration": 2.0}, "reason": "typo"})[0] == 422
    assert call(port, "PUT", f"{base}/risk/limits",
                {"limits": {"max_positon_shares": 5}, "reason": "typo"})[0] == 422
    assert call(port, "PUT", f"{base}/risk/limits", {"limits": {}, "reason": "x"})[0] == 422
    status, after = call(port, "PUT", f"{base}/risk/limits",
                         {"limits": {"max_position_shares": 5}, "reason": "tighten"})
    assert status == 200 and after["max_position_shares"] == 5
    before = call(port, "GET", f"{base}/orders?limit=100000")[1]
    status, dry = call(port, "POST", f"{base}/risk/validate",
                       {"client_order_id": "dry", "symbol": "AAA", "side": "buy",
                        "quantity": 6})
    assert status == 200 and (dry["approved"], dry["rule"]) == (False, "max_position_shares")
    assert call(port, "GET", f"{base}/orders?limit=100000")[1] == before
    status, alerts = call(port, "GET", f"{base}/alerts")
    assert status == 200 and any(a["kind"] == "limits" for a in alerts)
    newest = alerts[-1]["id"]
    assert call(port, "GET", f"{base}/alerts?since={newest}")[1] == []
    status, hours = call(port, "GET", f"{base}/market/hours")
    assert status == 200 and hours["exchange"] == "XNYS" and hours["enforced"] is False
