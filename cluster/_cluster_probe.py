"""Run as ``python cluster/_cluster_probe.py ADDRESS ROOT``: join the cluster as a driver and
print the MarketDataService's counters for ROOT as JSON (``null`` when there is none).

A separate process, so the caller's environment decides the token (``RAY_AUTH_MODE``,
``RAY_AUTH_TOKEN_PATH``), which Ray reads once per process, and so the caller never becomes a Ray
driver itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(address: str, root: str) -> int:
    """Print the data service's stats for ``root`` on the cluster at ``address``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import ray

    from cluster.data_service import service_name
    from cluster.runtime import NAMESPACE, ensure_ray

    ensure_ray(address, log_to_driver=False)
    try:
        try:
            service = ray.get_actor(service_name(root), namespace=NAMESPACE)
        except ValueError:
            print("null")
            return 0
        print(json.dumps(ray.get(service.stats.remote(), timeout=30), default=str))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
