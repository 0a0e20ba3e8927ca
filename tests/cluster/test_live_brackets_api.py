"""The LiveTrader API and linked orders over real HTTP: POST /orders/bracket, the new order
fields of POST /orders, and 422 for nonsense (nothing recorded, nothing sent)."""

from __future__ import annotations

import pytest

from tests.cluster.test_live_serve import call, deploy, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trader(serve_port, tmp_path_factory):
    """A paper trader at /tb, and the price of AAA it trades at (from a 1-share buy)."""
    from ray import serve

    home = tmp_path_factory.mktemp("bracket-home")
    deploy("tb", home)
    wait_for(lambda: call(serve_port, "GET", "/tb/account")[1]["timestamp"] >= "2021",
             what="the trader to answer")
    status, _ = call(serve_port, "POST", "/tb/orders", {
        "client_order_id": "probe", "symbol": "AAA", "side": "buy", "quantity": 1,
        "time_in_force": "GTC"})
    assert status == 201
    price = wait_for(lambda: call(serve_port, "GET", "/tb/positions")[1]["AAA"]["market_price"],
                     what="the probe's fill")
    yield serve_port, "/tb", price
    serve.delete("tb")


def entry(cid: str, price: float, **fields) -> dict:
    """A buy limit 30% below the market: it rests."""
    return {"client_order_id": cid, "symbol": "AAA", "side": "buy", "quantity": 10,
            "order_type": "limit", "limit_price": round(price * 0.7, 2),
            "time_in_force": "GTC", **fields}


def test_post_orders_bracket_sends_three_linked_orders_and_answers_201(trader) -> None:
    port, base, price = trader
    body = {**entry("b1", price), "take_profit": round(price * 1.2, 2),
            "stop_loss": round(price * 0.6, 2)}
    assert call(port, "POST", f"{base}/orders/bracket", body, token=None)[0] == 401

    status, answer = call(port, "POST", f"{base}/orders/bracket", body)

    assert status == 201 and answer["accepted"], answer
    entry_, profit, loss = (answer[k]["order"] for k in ("entry", "take_profit", "stop_loss"))
    assert (entry_["client_order_id"], profit["client_order_id"], loss["client_order_id"]) == (
        "b1", "b1.tp", "b1.sl")
    assert (profit["order_type"], profit["side"], profit["parent_id"]) == ("limit", "sell", "b1")
    assert (loss["order_type"], loss["oco_group"], loss["time_in_force"]) == ("stop", "b1", "GTC")
    assert answer["stop_loss"]["risk"]["reason"].startswith("exit of b1")
    history = call(port, "GET", f"{base}/orders/b1.sl")[1]
    assert history["order"]["parent_id"] == "b1" and history["decisions"]
    status, cancelled = call(port, "DELETE", f"{base}/orders/b1")
    assert status == 200 and cancelled["status"] == "Cancelled"
    wait_for(lambda: call(port, "GET", f"{base}/orders/b1.tp")[1]["order"]["status"]
             == "Cancelled", what="the exits cancelled with their entry")


@pytest.mark.parametrize(("changes", "needle"), [
    ({"take_profit": 1.0}, "take_profit"),  # a take-profit below a buy entry
    ({"stop_loss": 10_000.0}, "stop_loss"),
    ({"take_profit": -5}, "take_profit"),
    ({"take_profit_id": "bad id"}, "take_profit_id"),
    ({"parent_id": "x"}, "parent_id"),  # a bracket's entry has no parent
])
def test_bad_bracket_input_gets_422_and_nothing_is_recorded(trader, changes, needle) -> None:
    port, base, price = trader
    body = {**entry("bad1", price), "take_profit": round(price * 1.2, 2),
            "stop_loss": round(price * 0.6, 2), **changes}
    status, answer = call(port, "POST", f"{base}/orders/bracket", body)
    assert status == 422 and needle in str(answer), answer
    for cid in ("bad1", "bad1.tp", "bad1.sl"):
        assert call(port, "GET", f"{base}/orders/{cid}")[0] == 404


def test_post_orders_takes_trailing_stops_exits_and_oco_groups(trader) -> None:
    port, base, price = trader
    status, trail = call(port, "POST", f"{base}/orders", {
        "client_order_id": "t1", "symbol": "AAA", "side": "sell", "quantity": 1,
        "order_type": "trailing_stop", "trail_percent": 5.0, "time_in_force": "GTC"})
    assert status == 201, trail
    assert trail["order"]["trail_percent"] == 5.0 and trail["order"]["stop_price"] > 0
    status, resting = call(port, "POST", f"{base}/orders", entry("p1", price))
    assert status == 201
    status, child = call(port, "POST", f"{base}/orders", {
        "client_order_id": "p1.x", "symbol": "AAA", "side": "sell", "quantity": 10,
        "order_type": "limit", "limit_price": round(price * 1.1, 2), "parent_id": "p1",
        "oco_group": "p1", "time_in_force": "GTC"})
    assert status == 201 and child["order"]["parent_id"] == "p1", child
    call(port, "DELETE", f"{base}/orders/p1")


@pytest.mark.parametrize(("fields", "needle"), [
    ({"order_type": "trailing_stop"}, "trail_amount"),
    ({"order_type": "trailing_stop", "trail_amount": 1.0, "trail_percent": 2.0}, "exactly one"),
    ({"order_type": "trailing_stop", "trail_percent": 150.0}, "trail_percent"),
    ({"order_type": "market", "trail_amount": 1.0}, "takes no trail_amount"),
    ({"parent_id": "nope", "side": "sell"}, "no order 'nope'"),
    ({"oco_group": "has space"}, "oco_group"),
])
def test_nonsense_in_the_new_order_fields_gets_422(trader, fields, needle) -> None:
    port, base, _ = trader
    body = {"client_order_id": "n1", "symbol": "AAA", "side": "buy", "quantity": 1,
            "time_in_force": "GTC", **fields}
    status, answer = call(port, "POST", f"{base}/orders", body)
    assert status == 422 and needle in str(answer), answer
    assert call(port, "GET", f"{base}/orders/n1")[0] == 404
