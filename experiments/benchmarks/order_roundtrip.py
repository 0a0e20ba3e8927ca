"""Order round trip: HTTP → LiveTrader (Ray Serve) → risk check → audit log → PaperBroker ack.

Starts a local Ray pinned to 127.0.0.1 and the LiveTrader on a paper stream, then sends market
orders over loopback HTTP: one client in sequence (latency p50/p99) and 8 concurrent clients
(orders/second). Every accepted order is risk-checked against the book and written to the SQLite
audit log (synchronous=FULL) before the 201 comes back. Baselines, measured in the same run:
``GET /health`` through the same Serve proxy (the HTTP + Serve floor) and the trading engine
called in-process (risk + audit + broker, no HTTP).

    python experiments/benchmarks/order_roundtrip.py [--orders 1000] [--smoke-test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RISK = {"max_concentration": 1.0, "max_gross_leverage": 50.0, "max_orders_per_minute": None}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, token: str, body: dict | None) -> float:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method="GET" if body is None else "POST")
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        if body is not None and response.status != 201:
            raise RuntimeError(f"order not accepted: HTTP {response.status}")
    return time.perf_counter() - start


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _order(i: int, prefix: str) -> dict:
    return {"client_order_id": f"{prefix}-{i}", "symbol": "AAA" if i % 2 else "BBB",
            "side": "buy" if i % 4 < 2 else "sell", "quantity": 1}


def _in_process(count: int, home: Path) -> list[float]:
    """The engine alone: risk + audit + PaperBroker ack per order, no HTTP."""
    from tradelab.audit import AuditConfig, AuditLog
    from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig, synthetic_bars
    from tradelab.live import TradingEngine
    from tradelab.risk import RiskConfig, RiskManager

    async def run() -> list[float]:
        broker = PaperBroker(synthetic_bars(["AAA", "BBB"]),
                             PaperBrokerConfig(cash=10_000_000, speed=0, autostart=False))
        audit = AuditLog(AuditConfig(url=f"sqlite:///{home / 'inproc.db'}"))
        engine = TradingEngine(broker, risk=RiskManager(RiskConfig.from_mapping(
            {k: v for k, v in RISK.items() if v is not None})), audit=audit)
        await engine.start()
        await broker.run_steps(1)
        times = []
        for i in range(count):
            start = time.perf_counter()
            outcome = await engine.submit(OrderRequest(**_order(i, "p")))
            times.append(time.perf_counter() - start)
            if not outcome.accepted:
                raise RuntimeError(outcome.decision.reason)
        await engine.close()
        audit.close()
        return times

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--smoke-test", action="store_true", help="50 orders")
    args = parser.parse_args(argv)
    count = 50 if args.smoke_test else args.orders
    home = Path(tempfile.mkdtemp(prefix="tradelab-bench-"))
    os.environ["TRADELAB_HOME"] = str(home)
    token = os.environ.setdefault("TRADELAB_API_TOKEN", os.urandom(16).hex())

    from ray import serve

    from cluster.live import build_app
    from cluster.runtime import ensure_ray
    from tradelab._tables import render_table

    ensure_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)  # no access-log lines
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"name": "bench", "symbols": ["AAA", "BBB"], "speed": 0.5,
                         "cash": 10_000_000.0, "risk": RISK}),
              name="bench", route_prefix="/", blocking=False)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):  # wait for the replica and the first bar
        try:
            with urllib.request.urlopen(f"{base}/account", timeout=5) as response:
                if json.loads(response.read())["timestamp"] < "2030":
                    break
        except OSError:
            pass
        time.sleep(0.1)
    for i in range(20):  # warm up
        _request(f"{base}/orders", token, _order(i, "w"))
        _request(f"{base}/health", token, None)

    health = [_request(f"{base}/health", token, None) for _ in range(count)]
    latency = [_request(f"{base}/orders", token, _order(i, "s")) for i in range(count)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        list(pool.map(lambda i: _request(f"{base}/orders", token, _order(i, "c")),
                      range(count)))
    throughput = count / (time.perf_counter() - started)
    serve.delete("bench")
    serve.shutdown()
    engine = _in_process(count, home)

    def ms(values: list[float], q: float) -> str:
        return f"{_percentile(values, q) * 1000:.2f}"

    rows = [
        ("POST /orders (HTTP → risk → audit → paper ack)", ms(latency, 0.5), ms(latency, 0.99),
         f"{1 / statistics.mean(latency):,.0f}"),
        ("GET /health (HTTP + Serve floor)", ms(health, 0.5), ms(health, 0.99),
         f"{1 / statistics.mean(health):,.0f}"),
        ("engine.submit in-process (risk → audit → ack)", ms(engine, 0.5), ms(engine, 0.99),
         f"{1 / statistics.mean(engine):,.0f}"),
    ]
    print(render_table(("path", "p50 ms", "p99 ms", "orders/s (1 client)"), rows,
                       title=f"order round trip on loopback, {count} orders each"))
    print(f"\n{args.clients} concurrent clients: {throughput:,.0f} orders/s accepted over HTTP")
    print(f"ratio POST /orders p50 / GET /health p50: "
          f"{_percentile(latency, 0.5) / _percentile(health, 0.5):.2f}x "
          f"(what risk + audit + broker add to a Serve round trip)")
    print(f"ratio POST /orders p50 / in-process engine p50: "
          f"{_percentile(latency, 0.5) / _percentile(engine, 0.5):.2f}x (the HTTP + Serve cost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
