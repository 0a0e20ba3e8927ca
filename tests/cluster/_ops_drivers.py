"""Driver scripts of the cluster-operations tests, run as subprocesses (their own Ray).

``kill-worker TRIALS``: a grid study on a 3-node ``ray.cluster_utils.Cluster`` (head + 2
workers, 1 CPU each, the optimizer's default ``max_failures``); once half of the trials are
journaled, the worker node that is running a trial at that moment dies (its raylet and every
worker process under it SIGKILLed together). Prints one ``SUMMARY`` JSON line for the test.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _markers(folder: Path) -> list[list[str]]:
    """``[stage, fast, slow, node id, uuid]`` of every marker the trials left."""
    return [p.name.split("-") for p in folder.iterdir()] if folder.is_dir() else []


def _in_flight(folder: Path, node_id: str) -> set[str]:
    """``fast-slow`` of the backtests started on ``node_id`` and not finished."""
    names = _markers(folder)
    started = {f"{n[1]}-{n[2]}" for n in names if n[0] == "start" and n[3] == node_id}
    done = {f"{n[1]}-{n[2]}" for n in names if n[0] == "done" and n[3] == node_id}
    return started - done


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (the raylet's workers, which Ray starts as its children)."""
    import subprocess

    rows = [line.split() for line in subprocess.run(
        ["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.splitlines()]
    found, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in ((int(a), int(b)) for a, b in rows):
            if parent in found and child not in found:
                found.add(child)
                grew = True
    return found - {pid}


def _kill_node(cluster, node) -> None:  # noqa: ANN001 - ray.cluster_utils types
    """The machine dies: the node's raylet and every worker process under it, at once (Ray's
    ``remove_node`` kills the raylet; its workers would notice only later and could finish
    the trial they are running)."""
    import signal

    from ray._private import ray_constants

    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    workers = _descendants(raylet)
    cluster.remove_node(node, allow_graceful=False)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_worker(trials: int) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from cluster import OptimizeConfig, ensure_ray, get_data_service, optimize
    from cluster._records import read_journal

    markers = Path(os.environ["TRADELAB_MARKERS"])
    study = "killed-worker"
    journal = Path(os.environ["TRADELAB_HOME"]) / "studies" / study / "completed.jsonl"
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    ensure_ray(cluster.address)
    # The data service is created while the head is the only node, so it lives there, as the
    # head's processes do; objects fate-share with their owner, and a service on the killed
    # worker would take the study's datasets with it.
    ray.get(get_data_service().stats.remote())
    workers = [cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1") for _ in range(2)]
    cluster.wait_for_nodes()
    killed: dict[str, object] = {}

    def killer() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            finished = len(read_journal(str(journal)))
            if finished >= trials // 2:
                busy = [(w, _in_flight(markers, w.node_id)) for w in workers]
                busy = [(w, running) for w, running in busy if running]
                if busy:
                    victim, running = busy[0]
                    _kill_node(cluster, victim)
                    killed.update(node=victim.node_id, running=sorted(running),
                                  finished_before=finished)
                    return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    result = optimize(OptimizeConfig(
        strategy="tests.cluster.ops_strategy:NodeMarkedStrategy", symbols=("AAA",),
        search="grid", trials=trials, study=study, best_n_artifacts=0), verbose=True)
    thread.join(timeout=5)
    summary = {
        "killed": killed,
        "head": cluster.head_node.node_id,
        "trials": [{"trial_id": t.trial_id, "state": t.state, "error": t.error,
                    "params": f"{t.params.get('fast')}-{t.params.get('slow')}"}
                   for t in result.trials],
        "journal": [f"{e['params']['fast']}-{e['params']['slow']}"
                    for e in read_journal(str(journal))],
        "markers": ["-".join(m[:4]) for m in _markers(markers)],
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "kill-worker":
        kill_worker(int(args[0]))
