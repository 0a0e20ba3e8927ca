"""``tradelab cluster up | status | down | check-config`` and ``tradelab submit``.

``cluster up`` starts a multi-node Ray cluster on this machine (a head and N worker nodes on
127.0.0.1, token authentication on) so multi-node behaviour can be tried on a laptop;
``submit`` sends an experiment script to it — or to any cluster's job server — through
``ray job submit``. See ``cluster.local_cluster`` and ``cluster.jobs``.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import click

from tradelab._tables import render_table

__all__ = ["cluster", "submit"]


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def _gib(value: Any) -> str:
    return f"{float(value or 0) / 1024**3:.1f} GiB"


def _cpus(value: Any) -> str:
    return f"{float(value or 0):g}"


@click.group()
def cluster() -> None:
    """A local multi-node Ray cluster (head + N workers on 127.0.0.1), and launcher files.

    Example: tradelab cluster up --workers 2 && tradelab submit experiments/sma_sweep.py --
    --smoke-test && tradelab cluster down
    """


@cluster.command()
@click.option("--workers", type=int, default=2, show_default=True,
              help="Worker nodes besides the head.")
@click.option("--cpus-per-worker", type=int, default=None,
              help="CPUs per worker node (default: this machine's CPUs ÷ workers, at least 1).")
@click.option("--head-cpus", type=int, default=None,
              help="CPUs of the head (default: 0 with workers, so trials run on workers).")
@click.option("--object-store-mb", type=int, default=1024, show_default=True,
              help="Object store per node, MiB.")
@click.option("--port", type=int, default=None, help="GCS port (default: 6379 if free).")
@click.option("--dashboard-port", type=int, default=None,
              help="Dashboard / job server port (default: 8265 if free).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Auth token file (default: $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token; "
                   "created if absent).")
@click.option("--timeout", "timeout_s", type=float, default=180.0, show_default=True,
              help="Seconds the nodes may take to come up.")
def up(workers: int, cpus_per_worker: int | None, head_cpus: int | None, object_store_mb: int,
       port: int | None, dashboard_port: int | None, token_file: Path | None,
       timeout_s: float) -> None:
    """Start a head and N worker nodes on 127.0.0.1 (`ray start` processes, token auth on).

    Example: tradelab cluster up --workers 2
    """
    from cluster.local_cluster import LocalClusterConfig, start_local_cluster, state_path

    config = LocalClusterConfig(workers=workers, cpus_per_worker=cpus_per_worker,
                                head_cpus=head_cpus, object_store_mb=object_store_mb, port=port,
                                dashboard_port=dashboard_port, token_file=token_file,
                                timeout_s=timeout_s)
    head, per_worker = config.layout()
    click.echo(f"starting a head ({_count(head, 'CPU')}) and {_count(workers, 'worker node')} "
               f"({_count(per_worker, 'CPU')} each) on 127.0.0.1 …")
    began = time.perf_counter()
    state = start_local_cluster(config)
    click.echo(f"local Ray cluster up in {time.perf_counter() - began:.1f} s: "
               f"{len(state.nodes)} nodes, {_count(head + per_worker * workers, 'CPU')}")
    rows = [("GCS address", state.address),
            ("dashboard", f"{state.dashboard_url}  (also the job server for ray job submit)"),
            ("auth", f"token auth on; token file {state.token_path}"),
            ("logs", f"{state.temp_dir}/<head|wN>/session_latest/logs"),
            ("recorded in", str(state_path(state.data_root)))]
    click.echo("\n".join(f"  {name:<12} {value}" for name, value in rows))
    click.echo("\nnext:  tradelab submit experiments/sma_sweep.py -- --smoke-test\n"
               "       tradelab cluster status   |   tradelab cluster down\n"
               f"raw:   export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={state.token_path}\n"
               f"       ray job submit --address {state.dashboard_url} --working-dir . -- "
               "python experiments/sma_sweep.py --smoke-test")


def _require_state() -> Any:
    from cluster.local_cluster import read_state, state_path
    from tradelab.errors import ConfigError

    state = read_state()
    if state is None:
        raise ConfigError(f"no local cluster is recorded in {state_path()}; start one with "
                          "`tradelab cluster up` (TRADELAB_HOME selects the data root).")
    return state


@cluster.command()
@click.option("--data", "show_data", is_flag=True,
              help="Also connect as a driver and show the MarketDataService's datasets and "
                   "counters (Parquet loads, hits).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(show_data: bool, as_json: bool) -> None:
    """Nodes, resources, the dashboard URL and recent jobs of the local cluster.

    Example: tradelab cluster status --data
    """
    from cluster.local_cluster import cluster_jobs, cluster_nodes, data_service_stats

    state = _require_state()
    nodes = cluster_nodes(state)
    jobs = cluster_jobs(state)
    data = data_service_stats(state) if show_data else None
    alive = [n for n in nodes if n.get("state") == "ALIVE"]
    cpus = sum(float(n.get("resources_total", {}).get("CPU", 0)) for n in alive)
    if as_json:
        click.echo(json.dumps({
            "address": state.address, "dashboard_url": state.dashboard_url,
            "token_path": state.token_path, "nodes_alive": len(alive), "cpus": cpus,
            "nodes": [{"node_id": n.get("node_id"), "head": bool(n.get("is_head_node")),
                       "state": n.get("state"), "resources": n.get("resources_total", {})}
                      for n in nodes],
            "jobs": [{"submission_id": j.get("submission_id"), "status": j.get("status"),
                      "entrypoint": j.get("entrypoint")} for j in jobs],
            "data_service": data}, indent=2, default=str))
        return
    click.echo(f"local Ray cluster: {len(alive)} of {len(state.nodes)} nodes alive, {cpus:g} "
               f"CPUs; dashboard {state.dashboard_url}; GCS {state.address}")
    rows = [[(n.get("node_id") or "")[:12], "head" if n.get("is_head_node") else "worker",
             n.get("state"), _cpus(n.get("resources_total", {}).get("CPU")),
             _gib(n.get("resources_total", {}).get("object_store_memory")),
             _gib(n.get("resources_total", {}).get("memory"))] for n in nodes]
    click.echo(render_table(["node", "role", "state", "CPUs", "object store", "memory"], rows,
                            align="lllrrr"))
    if jobs:
        rows = [[j.get("submission_id"), j.get("status"), (j.get("entrypoint") or "")[:60]]
                for j in jobs[:5]]
        click.echo("\n" + render_table(["job", "status", "entrypoint"], rows, align="lll",
                                       title=f"jobs ({len(jobs)}; newest first)"))
    if data is not None:
        click.echo("\n" + _data_lines(data))


def _data_lines(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "data service: none yet (the first study creates it)"
    held = ", ".join(stats.get("datasets", [])) or "nothing"
    return (f"data service ({stats.get('root')}): {len(stats.get('datasets', []))} dataset(s) "
            f"held ({held}), {stats.get('bytes_held', 0) / 1024**2:.1f} MiB; Parquet loads "
            f"{stats.get('loads')}, hits {stats.get('hits')}, evictions "
            f"{stats.get('evictions')}")


@cluster.command()
@click.option("--keep-logs", is_flag=True, help="Keep the cluster's temp dir (Ray's logs).")
@click.option("--grace", "grace_s", type=float, default=5.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL.")
def down(keep_logs: bool, grace_s: float) -> None:
    """Stop the local cluster's processes (only those — other Ray instances are left alone).

    Example: tradelab cluster down
    """
    from cluster.local_cluster import read_state, state_path, stop_local_cluster

    state = read_state()
    if state is None:
        click.echo(f"no local cluster is recorded in {state_path()}; nothing to stop")
        return
    began = time.perf_counter()
    stopped = stop_local_cluster(state, grace_s=grace_s, keep_logs=keep_logs)
    click.echo(f"stopped {stopped} process(es) of the cluster at {state.dashboard_url} in "
               f"{time.perf_counter() - began:.1f} s" +
               (f"; logs kept in {state.temp_dir}" if keep_logs else ""))


@cluster.command(name="check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path),
                default=Path("ray-cluster.yaml"))
@click.option("--cloud", is_flag=True,
              help="Check the file's commented cloud block (# >>> cloud … # <<< cloud) applied "
                   "over it.")
def check_config(file: Path, cloud: bool) -> None:
    """Validate a Ray cluster launcher file with Ray's own schema, touching no machine.

    Example: tradelab cluster check-config ray-cluster.yaml --cloud
    """
    from cluster.launcher_config import check_cluster_config, cloud_variant

    summary = check_cluster_config(cloud_variant(file) if cloud else file)
    click.echo(f"{file}{' (cloud block)' if cloud else ''}: valid for Ray's cluster launcher "
               f"(provider {summary['provider']}, cluster {summary['cluster_name']})")
    rows = [[name, ("head + workers" if spec["max_workers"] else "head")
             if name == summary["head_node_type"] else "worker",
             spec["min_workers"], spec["max_workers"],
             ", ".join(f"{k}={v}" for k, v in spec["resources"].items()) or "detected by Ray"]
            for name, spec in summary["node_types"].items()]
    click.echo(render_table(["node type", "role", "min workers", "max workers", "resources"],
                            rows, align="llrrl"))
    click.echo(f"setup commands: {len(summary['setup_commands'])}; file mounts: " +
               ", ".join(f"{src} → {dst}" for dst, src in summary["file_mounts"].items()))


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.argument("script", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--address", default=None,
              help="The job server (dashboard) URL, http://host:8265 (default: the local "
                   "cluster's, else $RAY_API_SERVER_ADDRESS).")
@click.option("--home", default=None,
              help="TRADELAB_HOME on the cluster, absolute (default: the local cluster's data "
                   "root; for another cluster, its nodes' own setting).")
@click.option("--working-dir", type=click.Path(file_okay=False, exists=True), default=".",
              show_default=True, help="Uploaded as the job's working directory.")
@click.option("--no-wait", is_flag=True, help="Return once submitted (do not stream logs).")
@click.option("--submission-id", default=None, help="The job's id (default: generated).")
@click.pass_context
def submit(ctx: click.Context, script: str, args: tuple[str, ...], address: str | None,
           home: str | None, working_dir: str, no_wait: bool,
           submission_id: str | None) -> None:
    """Submit an experiment script as a Ray job: `ray job submit` with the project as working
    dir, an absolute TRADELAB_HOME and token auth. Options go before the script; its own
    arguments after `--`.

    Example: tradelab submit experiments/sma_sweep.py -- --smoke-test
    """
    import os

    from cluster.jobs import submit_command
    from cluster.local_cluster import client_env, read_state
    from tradelab.errors import ConfigError

    if args[:1] == ("--",):  # `SCRIPT -- ARGS`: after the script every word is the script's
        args = args[1:]
    state = read_state()
    env: dict[str, str] | None = None
    if address is None and state is not None:
        address = state.dashboard_url
    if state is not None and address == state.dashboard_url:
        env = client_env(state)
        home = home or state.data_root
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS")
    if not address:
        raise ConfigError("no cluster to submit to: start one with `tradelab cluster up`, or "
                          "pass --address http://<head>:8265 (with RAY_AUTH_TOKEN set).")
    command = submit_command(script, list(args), address=address, home=home,
                             working_dir=working_dir, no_wait=no_wait,
                             submission_id=submission_id, env=env)
    click.echo(f"job {command.submission_id} → {address}\n$ {command.shown()}", err=True)
    returncode = subprocess.run(list(command.argv), env=command.env, check=False).returncode
    auth = (f" (export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={state.token_path} first)"
            if env is not None and state is not None else "")
    click.echo(f"\njob {command.submission_id}: " +
               ("submitted" if no_wait and returncode == 0 else
                "succeeded" if returncode == 0 else f"failed (exit {returncode})"), err=True)
    click.echo(f"follow it{auth}:\n  " + "\n  ".join(command.follow_hints()), err=True)
    if returncode:
        ctx.exit(returncode)
