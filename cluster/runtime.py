"""Connecting to Ray: a local instance pinned to 127.0.0.1, or an existing cluster."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

__all__ = ["NAMESPACE", "ensure_ray", "pin_loopback"]

NAMESPACE = "tradelab"

# Tune's per-trial CSV/JSON/TensorBoard loggers cost more than a short trial; tradelab logs to
# MLflow itself. Set before Tune reads it.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
# ...so Tune's ResultGrid finds no per-trial result.json/progress.csv and warns once per trial
# that it cannot build their metric histories; the last result (all tradelab reads) is intact.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
# tradelab prints its own progress lines and tables; Tune's boxed status output and MLflow's
# store-migration INFO lines would interleave with them.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
logging.getLogger("mlflow").setLevel(logging.WARNING)
os.environ.setdefault("RAY_DEDUP_LOGS", "1")
# A trial reports its objective only once every backtest has run (ASHA reads the running
# "objective_partial"); Tune must not demand the objective in every intermediate result.
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
# Save the experiment state every 10 s (Tune's adaptive period can reach minutes). A save
# rewrites every trial's state (~35 ms at 200 trials, more as a study grows) on the path from one
# trial ending to the next starting. Trials finished since the last save are in the study's
# journal (completed.jsonl), so a resumed study never runs them again.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "10")


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def pin_loopback() -> None:
    """Keep this process's (and its children's) Ray traffic on 127.0.0.1.

    Before connecting, Ray rewrites a ``127.0.0.1:port`` address to the machine's outward IP
    (``services.resolve_ip_for_localhost``), so a driver joining a cluster that runs on this
    machine would talk to a non-loopback interface — where a cluster pinned to 127.0.0.1 is not
    even listening. With Ray's multi-node switch off, its node IP is the loopback address.
    Only for clusters on one machine; a real multi-machine cluster needs its real IPs.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None,
               **kwargs: Any) -> dict[str, Any]:
    """Start or join Ray in the ``tradelab`` namespace and return its resources.

    ``address=None`` joins ``$RAY_ADDRESS`` if set (as under ``ray job submit``) or else starts a
    local instance bound to 127.0.0.1; ``"auto"`` or ``"ray://…"`` joins that cluster.
    """
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS")
        options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": True,
                                   "configure_logging": True, "logging_level": "WARNING"}
        if target:
            options["address"] = target
            host = target.split("://")[-1].rsplit(":", 1)[0].strip("[]")
            if host in _LOOPBACK:
                pin_loopback()
        else:
            pin_loopback()  # without it the node still registers the machine's outward IP
            # "local": always a new instance — never attach to a cluster some `ray start` on
            # this machine left in /tmp/ray/ray_current_cluster (Ray's default for no address).
            options.update(address="local", num_cpus=num_cpus, include_dashboard=kwargs.pop(
                "include_dashboard", None), _node_ip_address="127.0.0.1",
                dashboard_host="127.0.0.1")
        options.update(kwargs)
        ray.init(**options)
    return ray.cluster_resources()
