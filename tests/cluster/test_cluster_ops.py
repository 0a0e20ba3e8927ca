"""Cluster operations: the launcher file, a local multi-node cluster driven through the CLI
(`tradelab cluster up | status | down`, `tradelab submit` → `ray job submit`, token auth on),
and a worker node killed halfway through a study. Everything on 127.0.0.1, every wait bounded.

Related, elsewhere: a driver killed mid-study and resumed (test_cluster_processes.py), a study on
a 3-node cluster (test_cluster_processes.py), the Serve replica killed and restored
(test_live_serve.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from cluster.launcher_config import check_cluster_config, cloud_variant, load_cluster_config
from cluster.local_cluster import (
    cluster_nodes,
    cluster_processes,
    read_state,
    state_path,
    stop_local_cluster,
)
from tradelab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_FILE = ROOT / "ray-cluster.yaml"
pytestmark = pytest.mark.integration


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TRADELAB_HOME": str(home), **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        env.pop(name, None)
    return env


def _tradelab(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the `tradelab` command line in a child process, from the project directory."""
    return subprocess.run([sys.executable, "-m", "tradelab.cli.main", *args], env=_env(home),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _output(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n" \
           f"{proc.stderr[-4000:]}"


# --- the launcher file ------------------------------------------------------------------------

def test_the_launcher_file_and_its_cloud_block_pass_rays_own_validator():
    summary = check_cluster_config(LAUNCHER_FILE)
    assert summary["provider"] == "local"
    (node_type,) = summary["node_types"].values()  # on-premise: one type, all worker IPs kept
    assert node_type["min_workers"] == node_type["max_workers"] == 3
    assert any("pip install" in c and "-e ~/tradelab" in c for c in summary["setup_commands"])
    assert summary["file_mounts"]["~/tradelab-data/bars"] == "./.tradelab/bars"
    assert "~/.ray/auth_token" in summary["file_mounts"]
    config = load_cluster_config(LAUNCHER_FILE)
    head = " ".join(config["head_start_ray_commands"])
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head
    assert "RAY_AUTH_MODE=token" in head
    assert "--num-cpus" in " ".join(config["worker_start_ray_commands"])

    cloud = check_cluster_config(cloud_variant(LAUNCHER_FILE))
    assert cloud["provider"] == "aws"
    assert cloud["node_types"]["worker"]["max_workers"] == 100


def test_the_launcher_steps_before_ssh_accept_the_file():
    from ray.autoscaler._private.commands import _bootstrap_config

    # what `ray up --no-config-cache` runs before it connects to any machine
    resolved = _bootstrap_config(load_cluster_config(LAUNCHER_FILE), no_config_cache=True)
    assert resolved["provider"]["worker_ips"] == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]


def test_a_misspelt_launcher_key_is_refused_with_the_key_named(tmp_path):
    config = load_cluster_config(LAUNCHER_FILE)
    config["setup_comands"] = config.pop("setup_commands")
    with pytest.raises(ConfigError, match="setup_comands"):
        check_cluster_config(config)


# --- a local multi-node cluster through the command line ---------------------------------------

@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    """`tradelab cluster up --workers 2` with a private data root and token file; always torn
    down (by the CLI, and by process if that fails)."""
    home = tmp_path_factory.mktemp("cluster-home")
    token = home / "auth_token"
    up = _tradelab(home, "cluster", "up", "--workers", "2", "--cpus-per-worker", "1",
                   "--object-store-mb", "256", "--token-file", str(token), timeout=240)
    state = read_state(home)
    try:
        assert up.returncode == 0, _output(up)
        assert state is not None
        yield home, state, up.stdout
    finally:
        _tradelab(home, "cluster", "down", "--grace", "3", timeout=120)
        if state is not None and cluster_processes(state):
            stop_local_cluster(state, grace_s=1.0, root=home)


def _status(home: Path, *extra: str) -> dict:
    proc = _tradelab(home, "cluster", "status", "--json", *extra, timeout=120)
    assert proc.returncode == 0, _output(proc)
    return json.loads(proc.stdout)


def test_cluster_up_starts_a_head_and_two_workers_on_loopback_with_token_auth(local_cluster):
    home, state, printed = local_cluster
    assert state.dashboard_url in printed and "tradelab submit" in printed
    status = _status(home)
    assert status["nodes_alive"] == 3
    assert sum(n["head"] for n in status["nodes"]) == 1
    assert status["cpus"] == 2  # the head keeps no CPUs for trials
    assert {n["node_ip"] for n in cluster_nodes(state)} == {"127.0.0.1"}
    assert all(host.startswith("127.0.0.1:") for host in (state.address,
                                                          state.dashboard_url[7:]))
    # token authentication is on: the job server refuses a client without the token
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(state.dashboard_url + "/api/jobs/", timeout=10)
    assert refused.value.code in (401, 403)


def test_a_submitted_smoke_sweep_succeeds_and_its_runs_are_in_mlflow(local_cluster,
                                                                    monkeypatch):
    home, state, _ = local_cluster
    proc = _tradelab(home, "submit", "experiments/sma_sweep.py", "--", "--smoke-test",
                     timeout=300)
    assert proc.returncode == 0, _output(proc)
    assert "succeeded" in proc.stderr and "ray job logs -f" in proc.stderr
    assert "Top " in proc.stdout  # the job's own output, streamed by ray job submit

    from tradelab.tracking import list_studies, study_trials

    monkeypatch.setenv("TRADELAB_HOME", str(home))
    studies = list_studies(project="experiments")
    assert len(studies) == 1
    assert studies.iloc[0]["status"] == "FINISHED"
    assert len(study_trials(studies.iloc[0]["study"])) == 8  # --smoke-test: 8 trials
    jobs = _status(home)["jobs"]
    assert [j["status"] for j in jobs] == ["SUCCEEDED"]


def test_a_second_job_gets_the_data_from_the_data_service_without_reading_parquet(
        local_cluster, monkeypatch):
    home, _, _ = local_cluster
    before = _status(home, "--data")["data_service"]
    assert before is not None and before["loads"] == 2  # AAA and BBB, read by the first job
    proc = _tradelab(home, "submit", "experiments/sma_sweep.py", "--", "--smoke-test",
                     "--seed", "2", timeout=300)
    assert proc.returncode == 0, _output(proc)
    after = _status(home, "--data")["data_service"]
    assert after["loads"] == before["loads"]  # no Parquet read the second time
    assert after["hits"] >= before["hits"] + 2
    assert sorted(after["datasets"]) == ["AAA/1d", "BBB/1d"]

    from tradelab.tracking import list_studies

    monkeypatch.setenv("TRADELAB_HOME", str(home))
    assert len(list_studies(project="experiments", status="FINISHED")) == 2


def test_cluster_down_leaves_no_process_of_the_cluster(local_cluster):
    home, state, _ = local_cluster
    assert cluster_processes(state)
    proc = _tradelab(home, "cluster", "down", "--grace", "3", timeout=120)
    assert proc.returncode == 0, _output(proc)
    assert "stopped" in proc.stdout
    assert cluster_processes(state) == {}
    groups = {str(node["pgid"]) for node in state.nodes}
    assert len(groups) == 3
    listing = subprocess.run(["ps", "-ww", "-eo", "pgid=,stat=,args="], capture_output=True,
                             text=True).stdout
    left = [line for line in listing.splitlines() if (state.temp_dir in line or line.split()[0]
                                                       in groups) and line.split()[1][0] != "Z"]
    assert not left, left
    assert not state_path(home).exists() and not Path(state.temp_dir).exists()
    again = _tradelab(home, "cluster", "down", timeout=60)
    assert again.returncode == 0 and "nothing to stop" in again.stdout


# --- a worker node killed halfway through a study -----------------------------------------------

def test_a_worker_node_killed_halfway_retries_its_trial_and_every_trial_finishes_once(
        tradelab_home, tmp_path, monkeypatch):
    trials = 8
    markers = tmp_path / "markers"
    proc = subprocess.run([sys.executable, str(ROOT / "tests/cluster/_ops_drivers.py"),
                           "kill-worker", str(trials)],
                          env=_env(tradelab_home, TRADELAB_MARKERS=str(markers)), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, _output(proc)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("SUMMARY "))
    summary = json.loads(line.removeprefix("SUMMARY "))
    killed = summary["killed"]
    assert killed, "no worker node was running a trial once half of the trials had finished"
    assert trials // 2 <= killed["finished_before"] < trials
    # every trial finished, each parameter set once: no lost and no duplicate trial results
    assert [t["state"] for t in summary["trials"]] == ["COMPLETE"] * trials
    assert len({t["trial_id"] for t in summary["trials"]}) == trials
    assert len({t["params"] for t in summary["trials"]}) == trials
    assert sorted(summary["journal"]) == sorted(t["params"] for t in summary["trials"])
    done = Counter("-".join(m.split("-")[1:3]) for m in summary["markers"]
                   if m.startswith("done-"))
    # a trial on the killed node may have finished its work just before the node died, its
    # result lost with it: that one runs again (at-least-once); every other trial ran once
    assert all(n == 1 or (n == 2 and p in killed["running"]) for p, n in done.items()), done
    # the trial that was running on the killed node ran again, on a node that survived
    starts = Counter("-".join(m.split("-")[1:3]) for m in summary["markers"]
                     if m.startswith("start-"))
    for params in killed["running"]:
        assert starts[params] == 2, (params, starts)
        (finished_on,) = [m.split("-")[3] for m in summary["markers"]
                          if m.startswith(f"done-{params}-")]
        assert finished_on != killed["node"]
    from tradelab.tracking import study_trials

    monkeypatch.setenv("TRADELAB_HOME", str(tradelab_home))
    logged = study_trials("killed-worker")
    assert len(logged) == trials and logged["trial_id"].is_unique
