"""The LiveTrader Serve deployment over real HTTP on 127.0.0.1: auth, validation, risk under
concurrent load, the kill switch, a killed replica, and no secret in any response or log."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster.conftest import API_TOKEN

pytestmark = pytest.mark.integration

LIMITS = {"max_position_shares": 300, "max_concentration": 0.3, "max_gross_leverage": 0.6,
          "max_order_value": 25_000.0, "max_orders_per_minute": 100_000}


def call(port: int, method: str, path: str, body=None, *, token: str | None = API_TOKEN,
         raw: bytes | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (urllib.error.URLError, ConnectionError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def deploy(name: str, home: Path, **args) -> None:
    from ray import serve

    from cluster.live import build_app

    settings = {"name": name, "home": str(home), "symbols": ["AAA", "BBB"], "speed": 25.0,
                "start": "2021-01-04", "end": "2024-12-31", "risk": LIMITS,
                "volume_participation": None, **args}
    serve.run(build_app(settings), name=name, route_prefix=f"/{name}", blocking=False)


@pytest.fixture(scope="module")
def trader(serve_port, tmp_path_factory):
    """A paper trader on a 25 bars/s synthetic stream at /t1."""
    from ray import serve

    home = tmp_path_factory.mktemp("live-home")
    deploy("t1", home)
    wait_for(lambda: call(serve_port, "GET", "/t1/account")[1]["timestamp"] >= "2021",
             what="the trader to answer")
    yield serve_port, "/t1", home
    serve.delete("t1")


def test_reads_answer_without_a_token_and_the_openapi_schema_lists_the_endpoints(
        trader) -> None:
    port, base, _ = trader
    status, health = call(port, "GET", f"{base}/health", token=None)
    assert status == 200 and health["connected"] and health["state"] == "ACTIVE"
    for path in ("/account", "/positions", "/orders", "/fills", "/risk"):
        assert call(port, "GET", base + path, token=None)[0] == 200
    status, schema = call(port, "GET", f"{base}/openapi.json", token=None)
    assert status == 200
    assert {"/orders", "/orders/{client_order_id}", "/kill", "/risk/halt",
            "/strategies/{name}/start"} <= set(schema["paths"])


def test_mutating_endpoints_refuse_a_missing_or_wrong_token(trader) -> None:
    port, base, _ = trader
    order = {"client_order_id": "auth-1", "symbol": "AAA", "side": "buy", "quantity": 1}
    assert call(port, "POST", f"{base}/orders", order, token=None)[0] == 401
    assert call(port, "POST", f"{base}/orders", order, token="wrong")[0] == 401
    assert call(port, "POST", f"{base}/risk/halt", {"reason": "x"}, token=None)[0] == 401
    assert call(port, "POST", f"{base}/kill", token="wrong")[0] == 401
    assert not any(o["client_order_id"] == "auth-1" for o in call(port, "GET",
                                                                    f"{base}/orders")[1])


@pytest.mark.parametrize(
    ("body", "raw", "fragment"),
    [
        ({"quantity": 0}, None, "quantity"),
        ({"quantity": -5}, None, "quantity"),
        ({"quantity": 50_000_000}, None, "quantity"),
        ({"symbol": "ZZZ"}, None, "unknown symbol"),
        ({"order_type": "limit", "limit_price": -1.0}, None, "limit_price"),
        ({"leverage": 10}, None, "leverage"),
        (None, b'{"client_order_id":"nan-1","symbol":"AAA","side":"buy","quantity":1,'
               b'"order_type":"limit","limit_price":NaN}', "limit_price"),
    ],
)
def test_invalid_orders_get_422_with_a_clear_message_and_nothing_is_recorded(
        trader, body, raw, fragment) -> None:
    port, base, _ = trader
    before = call(port, "GET", f"{base}/risk")[1]["recent_decisions"]
    order = {"client_order_id": "bad-1", "symbol": "AAA", "side": "buy", "quantity": 1,
             **(body or {})}
    status, answer = call(port, "POST", f"{base}/orders", order, raw=raw)
    assert status == 422
    assert fragment in json.dumps(answer)
    assert call(port, "GET", f"{base}/risk")[1]["recent_decisions"] == before


def test_a_reused_client_order_id_gets_409_and_one_order(trader) -> None:
    port, base, _ = trader
    order = {"client_order_id": "dup-1", "symbol": "AAA", "side": "buy", "quantity": 1}
    first = call(port, "POST", f"{base}/orders", order)
    second = call(port, "POST", f"{base}/orders", {**order, "quantity": 2})
    assert first[0] == 201 and first[1]["risk"]["approved"]
    assert second[0] == 409 and "dup-1" in second[1]["detail"]
    orders = [o for o in call(port, "GET", f"{base}/orders")[1]
              if o["client_order_id"] == "dup-1"]
    assert len(orders) == 1 and orders[0]["quantity"] == 1


def test_a_thousand_random_concurrent_orders_never_breach_a_limit_and_log_once(trader) -> None:
    port, base, _ = trader
    rng = random.Random(5)
    requests = []
    for i in range(1000):
        order = {"client_order_id": f"load-{i}", "symbol": rng.choice(["AAA", "BBB"]),
                 "side": rng.choice(["buy", "sell"]), "quantity": rng.randint(1, 200),
                 "time_in_force": "GTC"}
        if rng.random() < 0.3:
            order.update(order_type="limit", limit_price=round(rng.uniform(60, 140), 2))
        requests.append(order)

    positions_seen: list[float] = []

    def send(order):
        status, answer = call(port, "POST", f"{base}/orders", order)
        if order["client_order_id"].endswith("0"):
            positions_seen.extend(abs(p["quantity"]) for p in
                                  call(port, "GET", f"{base}/positions")[1].values())
        return status, answer

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, requests))
    statuses = [s for s, _ in answers]
    assert set(statuses) <= {200, 201, 422}, set(statuses)  # 422: limit outside the price band
    accepted = {a["request"]["client_order_id"] for s, a in answers if s == 201}
    denied = [a for s, a in answers if s == 200]
    assert accepted and denied
    assert all(not a["accepted"] and a["risk"]["rule"] for a in denied)
    time.sleep(1.0)  # a few more bars fill what was accepted
    positions = call(port, "GET", f"{base}/positions")[1]
    positions_seen.extend(abs(p["quantity"]) for p in positions.values())
    assert max(positions_seen) <= LIMITS["max_position_shares"]
    logged = [o["client_order_id"] for o in call(port, "GET", f"{base}/orders?limit=100000")[1]
              if o["client_order_id"].startswith("load-")]
    assert len(logged) == len(set(logged)) == len(accepted)
    assert set(logged) == accepted


def test_kill_switch_over_http_leaves_no_open_orders_and_flat_positions(trader) -> None:
    port, base, _ = trader
    call(port, "POST", f"{base}/risk/resume", {"reason": "before the kill test"})
    call(port, "POST", f"{base}/orders", {"client_order_id": "k-long", "symbol": "AAA",
                                           "side": "buy", "quantity": 50})
    wait_for(lambda: call(port, "GET", f"{base}/positions")[1], what="a position")
    status, report = call(port, "POST", f"{base}/kill", {"reason": "test kill"})
    assert status == 200 and report["state"] == "HALTED"
    assert report["flat"] and report["open_orders"] == []
    assert call(port, "GET", f"{base}/orders?open_only=true")[1] == []
    assert call(port, "GET", f"{base}/positions")[1] == {}
    status, denied = call(port, "POST", f"{base}/orders", {
        "client_order_id": "after-kill", "symbol": "AAA", "side": "buy", "quantity": 1})
    assert status == 200 and denied["risk"]["rule"] == "halted"


def test_a_strategy_started_over_http_trades_through_the_risk_manager_and_stops(
        trader) -> None:
    port, base, _ = trader
    call(port, "POST", f"{base}/risk/resume", {"reason": "before the strategy test"})
    status, bad = call(port, "POST", f"{base}/strategies/sma_crosover/start", {})
    assert status == 422 and "sma_crossover" in bad["detail"]  # did you mean ...?
    status, bad = call(port, "POST", f"{base}/strategies/sma_crossover/start",
                       {"params": {"fast": -3}})
    assert status == 422 and "fast" in bad["detail"]
    status, started = call(port, "POST", f"{base}/strategies/sma_crossover/start",
                           {"params": {"fast": 3, "slow": 8, "stake": 0.1},
                            "symbols": ["AAA"], "backfill": 0})
    assert status == 200 and started["running"], started
    assert call(port, "POST", f"{base}/strategies/sma_crossover/start", {})[0] == 409
    wait_for(lambda: call(port, "GET", f"{base}/strategies")[1]["sma_crossover"]
             ["orders_submitted"] >= 2, timeout=60, what="the strategy's orders")
    decisions = call(port, "GET", f"{base}/risk")[1]["recent_decisions"]
    assert any(d["source"] == "strategy:sma_crossover" for d in decisions)
    status, stopped = call(port, "POST", f"{base}/strategies/sma_crossover/stop")
    assert status == 200 and not stopped["running"] and stopped["last_error"] is None
    assert call(port, "GET", f"{base}/health")[1]["strategies"] == {"sma_crossover": False}


def test_the_token_appears_in_no_response_and_no_ray_log(trader) -> None:
    import ray

    port, base, _ = trader
    bodies = [json.dumps(call(port, "GET", base + path)[1])
              for path in ("/health", "/account", "/orders", "/fills", "/risk")]
    assert not any(API_TOKEN in body for body in bodies)
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    leaked = [p.name for p in logs.rglob("*") if p.is_file() and
              API_TOKEN.encode() in p.read_bytes()]
    assert leaked == []


def test_a_killed_replica_comes_back_with_its_positions_and_open_orders(
        serve_port, tmp_path) -> None:
    import ray
    from ray import serve

    port, base = serve_port, "/t2"
    deploy("t2", tmp_path, speed=5.0)
    try:
        wait_for(lambda: call(port, "GET", f"{base}/account")[1]["timestamp"] >= "2021",
                 what="the trader")
        call(port, "POST", f"{base}/orders", {"client_order_id": "r-buy", "symbol": "AAA",
                                               "side": "buy", "quantity": 40})
        call(port, "POST", f"{base}/orders", {
            "client_order_id": "r-rest", "symbol": "BBB", "side": "buy", "quantity": 10,
            "order_type": "limit", "limit_price": 60.0, "time_in_force": "GTC"})
        wait_for(lambda: call(port, "GET", f"{base}/positions")[1], what="the fill")
        call(port, "POST", f"{base}/risk/halt", {"reason": "halt must survive the restart"})
        before = call(port, "GET", f"{base}/health")[1]
        positions = call(port, "GET", f"{base}/positions")[1]
        ray.kill(ray.get_actor(before["replica"], namespace="serve"), no_restart=True)
        after = wait_for(lambda: (h := call(port, "GET", f"{base}/health")[1]) and
                         h.get("replica") not in (None, before["replica"]) and h,
                         timeout=90, what="a new replica")
        assert after["restored"]["orders"] == 1 and after["restored"]["fills"] >= 1
        assert after["state"] == "HALTED"
        again = call(port, "GET", f"{base}/positions")[1]
        assert {s: p["quantity"] for s, p in again.items()} == \
            {s: p["quantity"] for s, p in positions.items()}
        open_orders = call(port, "GET", f"{base}/orders?open_only=true")[1]
        assert [o["client_order_id"] for o in open_orders] == ["r-rest"]
    finally:
        serve.delete("t2")


def test_every_ray_node_and_the_serve_proxy_are_on_loopback(serve_port) -> None:
    import socket

    import ray

    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    with socket.socket() as probe:  # the proxy listens on 127.0.0.1 (the port is taken there)
        with pytest.raises(OSError):
            probe.bind(("127.0.0.1", serve_port))
