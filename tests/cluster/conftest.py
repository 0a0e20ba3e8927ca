from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("AAA", "BBB", "CCC")
# The live trader's API token: in the environment before Ray starts, so replicas inherit it.
API_TOKEN = "test-token-" + os.urandom(8).hex()


@pytest.fixture(scope="session")
def tradelab_home(tmp_path_factory):
    """A private data root for the Ray tests, with three symbols of synthetic daily bars."""
    from tradelab.data import ParquetStore, generate_bars

    home = tmp_path_factory.mktemp("tradelab-home")
    previous = os.environ.get("TRADELAB_HOME")
    os.environ["TRADELAB_HOME"] = str(home)
    store = ParquetStore(home)
    for symbol in SYMBOLS:
        store.write(symbol, generate_bars(symbol, start="2016-01-01", end="2018-12-31", seed=7),
                    bar_size="1d", source="synthetic", quality_score=1.0)
    yield home
    if previous is None:
        os.environ.pop("TRADELAB_HOME", None)
    else:
        os.environ["TRADELAB_HOME"] = previous


@pytest.fixture(scope="session")
def ray_session(tradelab_home):
    """One local Ray for the session, pinned to 127.0.0.1, 2 CPUs."""
    import ray

    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    from cluster import ensure_ray

    previous_token = os.environ.get("TRADELAB_API_TOKEN")
    os.environ["TRADELAB_API_TOKEN"] = API_TOKEN
    # Serve replicas log every request; keep those lines in Ray's log files, out of the output.
    os.environ.setdefault("RAY_SERVE_LOG_TO_STDERR", "0")
    ensure_ray(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()
    if previous_token is None:
        os.environ.pop("TRADELAB_API_TOKEN", None)
    else:
        os.environ["TRADELAB_API_TOKEN"] = previous_token


@pytest.fixture(scope="session")
def serve_port(ray_session):
    """Ray Serve's HTTP proxy on 127.0.0.1 at a free port, for the session."""
    import socket

    from ray import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield port
    serve.shutdown()
