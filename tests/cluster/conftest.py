from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("AAA", "BBB", "CCC")


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

    ensure_ray(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()
