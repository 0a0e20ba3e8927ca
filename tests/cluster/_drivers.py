"""Driver scripts the Ray tests run as subprocesses (their own Ray, killed or multi-node)."""

from __future__ import annotations

import sys


def run_study(study: str, trials: int) -> None:
    """A grid study of the slow, marker-leaving strategy, one trial at a time (to be killed)."""
    from cluster import OptimizeConfig, ensure_ray, optimize

    ensure_ray(num_cpus=1, include_dashboard=False)
    optimize(OptimizeConfig(strategy="tests.cluster.boom_strategy:SlowMarkedStrategy",
                            symbols=("AAA",), search="grid", trials=trials, concurrency=1,
                            study=study, best_n_artifacts=0), verbose=True)


def resume_study(study: str) -> None:
    from cluster import ensure_ray, resume

    ensure_ray(num_cpus=1, include_dashboard=False)
    result = resume(study, verbose=True)
    print("STATES", sorted(t.state for t in result.trials))
    print("NOTES", *result.notes)


def multinode(trials: int) -> None:
    """A study on a 3-node ray.cluster_utils.Cluster (head + 2 workers, 1 CPU each)."""
    import ray
    from ray.cluster_utils import Cluster

    from cluster import OptimizeConfig, ensure_ray, optimize

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    ensure_ray(cluster.address)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    result = optimize(OptimizeConfig(strategy="sma_crossover", symbols=("AAA", "BBB"),
                                     trials=trials, study="three-nodes", best_n_artifacts=0),
                      verbose=True)
    print("NODES", len(nodes))
    print("COMPLETE", sum(t.state == "COMPLETE" for t in result.trials))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "run":
        run_study(args[0], int(args[1]))
    elif command == "resume":
        resume_study(args[0])
    elif command == "multinode":
        multinode(int(args[0]))
