"""Cluster operations without a cluster: the `ray job submit` command line, the local cluster's
settings and state file, the launcher file's cloud block."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cluster.jobs import submit_command
from cluster.launcher_config import cloud_variant
from cluster.local_cluster import LocalClusterConfig, client_env, read_state
from tradelab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_submit_builds_ray_job_submit_with_the_project_an_absolute_home_and_token_auth(
        monkeypatch):
    monkeypatch.chdir(ROOT)
    command = submit_command("experiments/sma_sweep.py", ["--smoke-test"],
                             address="http://127.0.0.1:8265", home="/srv/tradelab",
                             no_wait=True, submission_id="job-1",
                             env={"RAY_ADDRESS": "auto", "PATH": "/bin"})
    words = list(command.argv)
    job = words.index("job")
    assert words[job:job + 2] == ["job", "submit"]
    assert words[words.index("--address") + 1] == "http://127.0.0.1:8265"
    assert words[words.index("--working-dir") + 1] == "."
    assert words[words.index("--submission-id") + 1] == "job-1"
    assert json.loads(words[words.index("--runtime-env-json") + 1]) == \
        {"env_vars": {"TRADELAB_HOME": "/srv/tradelab"}}
    assert "--no-wait" in words
    assert words[words.index("--"):] == ["--", "python", "experiments/sma_sweep.py",
                                         "--smoke-test"]
    assert command.env["RAY_AUTH_MODE"] == "token" and "RAY_ADDRESS" not in command.env
    assert command.shown().startswith("ray job submit --address http://127.0.0.1:8265")
    assert "ray job logs -f --address http://127.0.0.1:8265 job-1" in command.follow_hints()


@pytest.mark.parametrize(("script", "overrides", "message"), [
    ("experiments/missing.py", {}, "no script"),
    ("/etc/hostname", {}, "outside the working directory"),
    ("experiments/sma_sweep.py", {"home": ".tradelab"}, "must be absolute"),
    ("experiments/sma_sweep.py", {"address": "127.0.0.1:6379"}, "dashboard's URL"),
])
def test_submit_refuses_what_the_job_could_not_use(monkeypatch, script, overrides, message):
    monkeypatch.chdir(ROOT)
    settings = {"address": "http://127.0.0.1:8265", "home": None, **overrides}
    with pytest.raises(ConfigError, match=message):
        submit_command(script, [], **settings)


def test_local_cluster_layout_gives_trials_to_workers_and_at_least_one_cpu_each():
    cores = os.cpu_count() or 1
    assert LocalClusterConfig(workers=2).layout() == (0, max(1, cores // 2))
    assert LocalClusterConfig(workers=3 * cores).layout() == (0, 1)
    assert LocalClusterConfig(workers=0).layout() == (cores, 0)
    assert LocalClusterConfig(workers=2, head_cpus=1, cpus_per_worker=4).layout() == (1, 4)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"workers": -1}, "workers must be 0..16"),
    ({"workers": 17}, "workers must be 0..16"),
    ({"cpus_per_worker": 0}, "runs no trial"),
    ({"object_store_mb": 10}, "object_store_mb"),
    ({"port": 80}, "port must be 1024..65535"),
])
def test_local_cluster_settings_are_refused_with_the_reason(overrides, message):
    with pytest.raises(ConfigError, match=message):
        LocalClusterConfig(**overrides)


def test_a_state_file_from_another_version_is_refused(tmp_path):
    (tmp_path / "cluster.json").write_text(json.dumps({"address": "127.0.0.1:1",
                                                       "surprise": 1}))
    with pytest.raises(ConfigError, match="surprise"):
        read_state(tmp_path)
    assert read_state(tmp_path / "nothing-here") is None


def test_client_env_takes_the_token_from_the_cluster_file_not_the_environment(tmp_path):
    from cluster.local_cluster import LocalClusterState

    state = LocalClusterState(address="127.0.0.1:1", dashboard_url="http://127.0.0.1:2",
                              temp_dir="/tmp/x", token_path=str(tmp_path / "token"),
                              data_root=str(tmp_path), python="python")
    env = client_env(state, {"RAY_AUTH_TOKEN": "other", "RAY_ADDRESS": "auto"})
    assert env == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "token")}


def test_a_launcher_file_without_a_cloud_block_says_so(tmp_path):
    file = tmp_path / "cluster.yaml"
    file.write_text("cluster_name: x\nprovider: {type: local, head_ip: 1.2.3.4, "
                    "worker_ips: []}\n")
    with pytest.raises(ConfigError, match="no commented cloud block"):
        cloud_variant(file)
