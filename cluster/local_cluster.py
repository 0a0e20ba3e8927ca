"""A multi-node Ray cluster on one machine: a head and N worker nodes, all on 127.0.0.1.

``tradelab cluster up`` uses it so multi-node behaviour (objects moved between nodes, trials
spread over raylets, a node dying) can be tried on a laptop. Every node is a ``ray start``
process tree with its own temp dir under one private base directory, token authentication on
(the token is read from a file: ``RAY_AUTH_TOKEN_PATH``), and the dashboard on 127.0.0.1. The
cluster is recorded in ``$TRADELAB_HOME/cluster.json`` (addresses, temp dir, where the token is —
never the token), which ``status``, ``down`` and ``tradelab submit`` read.

``down`` stops exactly the processes of this cluster — those whose command line names its temp
dir, and their descendants (workers, job drivers) — not every Ray process of the user on the
machine as ``ray stop`` would.

Example:
    >>> state = start_local_cluster(LocalClusterConfig(workers=2))   # doctest: +SKIP
    >>> [n["state"] for n in cluster_nodes(state)]                   # doctest: +SKIP
    ['ALIVE', 'ALIVE', 'ALIVE']
    >>> stop_local_cluster(state)                                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tradelab.errors import ConfigError, TradelabError

__all__ = [
    "ClusterError",
    "LocalClusterConfig",
    "LocalClusterState",
    "client_env",
    "cluster_jobs",
    "cluster_nodes",
    "cluster_processes",
    "data_service_stats",
    "read_state",
    "start_local_cluster",
    "state_path",
    "stop_local_cluster",
]

STATE_FILE = "cluster.json"
DEFAULT_TOKEN_PATH = Path("~/.ray/auth_token")
_LAUNCHER = Path(__file__).with_name("_ray_start.py")
_PROBE = Path(__file__).with_name("_cluster_probe.py")
_MAX_WORKERS = 16


class ClusterError(TradelabError):
    """A local cluster could not be started, reached or stopped."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalClusterConfig:
    """How to lay out a local cluster.

    Attributes:
        workers: worker nodes besides the head (0 = the head alone).
        cpus_per_worker: CPUs each worker node offers (default: this machine's CPUs ÷ workers,
            at least 1; more workers than cores over-subscribe them, as separate machines
            would not).
        head_cpus: CPUs of the head (default: 0 with workers — the head runs the job drivers,
            the dashboard and the data service, trials run on workers — else all CPUs).
        object_store_mb: object store of each node, MiB.
        port: the head's GCS port (default: 6379 if free, else a free port).
        dashboard_port: the dashboard's port (default: 8265 if free, else a free port).
        token_file: the auth token file (default: ``$RAY_AUTH_TOKEN_PATH``, else Ray's
            ``~/.ray/auth_token``); created with a random token if absent.
        timeout_s: how long the nodes may take to come up.
    """

    workers: int = 2
    cpus_per_worker: int | None = None
    head_cpus: int | None = None
    object_store_mb: int = 1024
    port: int | None = None
    dashboard_port: int | None = None
    token_file: Path | None = None
    timeout_s: float = 180.0

    def __post_init__(self) -> None:
        if not 0 <= self.workers <= _MAX_WORKERS:
            raise ConfigError(f"workers must be 0..{_MAX_WORKERS}, got {self.workers}; each "
                              "worker node is a raylet and a few helper processes.")
        for name in ("cpus_per_worker", "head_cpus"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}.")
        if self.cpus_per_worker == 0 and self.workers:
            raise ConfigError("cpus_per_worker must be >= 1: a worker node without CPUs runs "
                              "no trial.")
        if self.object_store_mb < 80:
            raise ConfigError(f"object_store_mb must be >= 80 (Ray's minimum), got "
                              f"{self.object_store_mb}.")
        for name in ("port", "dashboard_port"):
            value = getattr(self, name)
            if value is not None and not 1024 <= value <= 65535:
                raise ConfigError(f"{name} must be 1024..65535, got {value}.")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}.")

    def layout(self) -> tuple[int, int]:
        """``(head CPUs, CPUs per worker)`` with the defaults filled in."""
        cores = os.cpu_count() or 1
        if self.workers == 0:
            return (self.head_cpus if self.head_cpus is not None else cores), 0
        per_worker = self.cpus_per_worker or max(1, cores // self.workers)
        return (self.head_cpus if self.head_cpus is not None else 0), per_worker


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalClusterState:
    """A running local cluster as recorded in ``$TRADELAB_HOME/cluster.json``."""

    address: str
    dashboard_url: str
    temp_dir: str
    token_path: str
    data_root: str
    python: str
    nodes: tuple[dict[str, Any], ...] = field(default=())
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "nodes": [dict(n) for n in self.nodes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalClusterState:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown keys {unknown} in the cluster state; it was written by "
                              "another version — run `tradelab cluster down` and start again.")
        return cls(**{**data, "nodes": tuple(data.get("nodes", ()))})

    @property
    def expected_nodes(self) -> int:
        return len(self.nodes)


def state_path(root: str | Path | None = None) -> Path:
    """Where the local cluster is recorded: ``<data root>/cluster.json``."""
    from tradelab.paths import data_root

    return (Path(root).expanduser().resolve() if root is not None else data_root()) / STATE_FILE


def read_state(root: str | Path | None = None) -> LocalClusterState | None:
    """The recorded local cluster, or ``None`` when none is recorded."""
    path = state_path(root)
    if not path.is_file():
        return None
    try:
        return LocalClusterState.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ClusterError(f"{path} is not a cluster state file ({exc}); delete it after "
                           "stopping any Ray processes it named.") from exc


def client_env(state: LocalClusterState, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for Ray clients (``ray job …``, ``ray status``) of this cluster:
    ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` (a ``RAY_AUTH_TOKEN`` would win over the
    file, so it is dropped)."""
    env = dict(os.environ if base is None else base)
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_ADDRESS", None)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=state.token_path)
    return env


def _token_file(config: LocalClusterConfig) -> Path:
    """The token file (created with a random token, readable by the owner only, if absent)."""
    chosen = config.token_file or os.environ.get("RAY_AUTH_TOKEN_PATH") or DEFAULT_TOKEN_PATH
    path = Path(chosen).expanduser().resolve()
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port(wanted: int | None, preferred: int, what: str) -> int:
    if wanted is not None:
        if not _port_free(wanted):
            raise ClusterError(f"{what} port {wanted} on 127.0.0.1 is in use; choose another "
                               "or leave it out to pick a free one.")
        return wanted
    return preferred if _port_free(preferred) else _free_port()


def _base_temp_dir() -> Path:
    # Ray's socket paths (temp dir + session + sockets/plasma_store) must stay under ~107
    # characters, so a short /tmp path rather than $TMPDIR (long on macOS).
    parent = "/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="tradelab-ray-", dir=parent))


def _node_env(token: Path, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN"):
        env.pop(name, None)
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), TRADELAB_HOME=str(root),
        # `python` in a job's entrypoint is this environment's interpreter
        PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]),
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def _ray_start(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as output:
        return subprocess.Popen([sys.executable, str(_LAUNCHER), *args], env=env,
                                stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_started(process: subprocess.Popen, log: Path, deadline: float, what: str) -> None:
    try:
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        raise ClusterError(f"{what} did not start in time; its output:\n{_tail(log)}") from None
    if code != 0:
        raise ClusterError(f"`ray start` of the {what} failed (exit {code}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def start_local_cluster(config: LocalClusterConfig, *,
                        root: str | Path | None = None) -> LocalClusterState:
    """Start a head and ``config.workers`` worker nodes on 127.0.0.1; record and return it.

    Raises:
        ClusterError: a cluster is already recorded for this data root, a port is taken, or a
            node failed to start (whatever started is stopped again).
    """
    from tradelab.paths import data_root

    home = Path(root).expanduser().resolve() if root is not None else data_root()
    existing = read_state(home)
    if existing is not None:
        raise ClusterError(
            f"a local cluster is already recorded in {state_path(home)} (dashboard "
            f"{existing.dashboard_url}); stop it with `tradelab cluster down` first.")
    home.mkdir(parents=True, exist_ok=True)
    token = _token_file(config)
    head_cpus, per_worker = config.layout()
    port = _port(config.port, 6379, "GCS")
    dashboard_port = _port(config.dashboard_port, 8265, "dashboard")
    base = _base_temp_dir()
    env = _node_env(token, home)
    store = str(config.object_store_mb * 1024 * 1024)
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--object-store-memory="
              f"{store}", "--log-style=record", "--log-color=false"]
    nodes: list[dict[str, Any]] = [{"role": "head", "temp_dir": str(base / "head"),
                                    "num_cpus": head_cpus}]
    nodes += [{"role": "worker", "temp_dir": str(base / f"w{i}"), "num_cpus": per_worker}
              for i in range(1, config.workers + 1)]
    state = LocalClusterState(
        address=f"127.0.0.1:{port}", dashboard_url=f"http://127.0.0.1:{dashboard_port}",
        temp_dir=str(base), token_path=str(token), data_root=str(home), python=sys.executable,
        nodes=tuple(nodes), created=time.time())  # the node dicts get their "pgid" below
    deadline = time.monotonic() + config.timeout_s
    try:
        head_log = base / "head-ray-start.log"
        head = _ray_start([
            "--head", f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}", f"--num-cpus={head_cpus}",
            f"--temp-dir={nodes[0]['temp_dir']}", *common], env=env, log=head_log)
        nodes[0]["pgid"] = head.pid  # a session of its own: its process group is its pid
        _wait_started(head, head_log, deadline, "head")
        started = []
        for index, node in enumerate(nodes[1:], 1):
            log = base / f"w{index}-ray-start.log"
            process = _ray_start([
                f"--address={state.address}", f"--num-cpus={node['num_cpus']}",
                f"--dashboard-agent-listen-port={_free_port()}", f"--temp-dir={node['temp_dir']}",
                *common], env=env, log=log)
            node["pgid"] = process.pid
            started.append((process, log, f"worker node {index}"))
        for process, log, what in started:
            _wait_started(process, log, deadline, what)
        _wait_for_nodes(state, deadline)
    except BaseException:
        _stop_processes(state, grace_s=5.0)
        shutil.rmtree(base, ignore_errors=True)
        raise
    path = state_path(home)
    path.write_text(json.dumps(state.to_dict(), indent=2) + "\n")
    return state


def _wait_for_nodes(state: LocalClusterState, deadline: float) -> None:
    alive: list[dict[str, Any]] = []
    last_error = ""
    while time.monotonic() < deadline:
        try:
            alive = [n for n in cluster_nodes(state, timeout_s=5.0) if n.get("state") == "ALIVE"]
        except ClusterError as exc:
            last_error = str(exc)
        else:
            if len(alive) >= state.expected_nodes:
                return
        time.sleep(0.5)
    raise ClusterError(f"only {len(alive)} of {state.expected_nodes} nodes came up before the "
                       f"timeout. {last_error}".strip())


def _get(state: LocalClusterState, path: str, timeout_s: float) -> Any:
    """GET a dashboard REST path with the cluster's bearer token."""
    token = Path(state.token_path).read_text().strip() if Path(state.token_path).is_file() \
        else ""
    request = urllib.request.Request(state.dashboard_url + path,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise ClusterError(f"the dashboard at {state.dashboard_url} answered {path} with HTTP "
                           f"{exc.code} ({exc.reason}); is {state.token_path} the cluster's "
                           "token?") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise ClusterError(
            f"no Ray dashboard answers at {state.dashboard_url} "
            f"({getattr(exc, 'reason', exc)}); if the cluster is gone, clean up with "
            "`tradelab cluster down`.") from exc


def cluster_nodes(state: LocalClusterState, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The cluster's nodes from the dashboard's state API (``node_id``, ``state``,
    ``is_head_node``, ``resources_total`` …), head first."""
    payload = _get(state, "/api/v0/nodes?limit=1000&detail=true", timeout_s)
    nodes = ((payload or {}).get("data") or {}).get("result") or {}
    rows = nodes.get("result", []) if isinstance(nodes, dict) else nodes
    return sorted(rows, key=lambda n: (not n.get("is_head_node"), n.get("node_id", "")))


def cluster_jobs(state: LocalClusterState, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The cluster's submitted jobs (``submission_id``, ``status``, ``entrypoint`` …), newest
    first."""
    jobs = _get(state, "/api/jobs/", timeout_s) or []
    jobs = [j for j in jobs if j.get("type") == "SUBMISSION" or j.get("submission_id")]
    return sorted(jobs, key=lambda j: -(j.get("start_time") or 0))


def data_service_stats(state: LocalClusterState, *,
                       timeout_s: float = 60.0) -> dict[str, Any] | None:
    """The MarketDataService's counters for the cluster's data root (Parquet ``loads``,
    ``hits``, ``datasets`` held …), or ``None`` when no study has created it yet.

    Joins the cluster as a driver in a child process (the token is read once per process).
    """
    try:
        probe = subprocess.run([sys.executable, str(_PROBE), state.address, state.data_root],
                               env=client_env(state), capture_output=True, text=True,
                               timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"the cluster at {state.address} did not answer within "
                           f"{timeout_s:.0f} s") from None
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ClusterError(f"could not reach the data service on {state.address}: {last}")
    return json.loads(probe.stdout.strip().splitlines()[-1])


def _process_table() -> list[tuple[int, int, int, str]]:
    """``(pid, parent pid, process group, command line)`` of every live process (zombies left
    out; ``-ww``: command lines are not cut to the terminal's width)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,pgid=,stat=,args="],
                             capture_output=True, text=True, check=True).stdout
    rows: list[tuple[int, int, int, str]] = []
    for line in listing.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 4 or parts[3].startswith("Z"):  # a zombie has exited already
            continue
        rows.append((int(parts[0]), int(parts[1]), int(parts[2]),
                     parts[4] if len(parts) > 4 else ""))
    return rows


def cluster_processes(state: LocalClusterState) -> dict[int, str]:
    """Live processes of this cluster, ``pid → command line``: those whose command line names
    its temp dir or that are in the process group of a node's ``ray start`` (helpers such as
    the Ray client server name neither), and all their descendants (Ray workers rename
    themselves ``ray::…`` and start process groups of their own)."""
    rows = _process_table()
    named = {pid for pid, _, _, args in rows if state.temp_dir in args}
    # a recorded group counts while one of its processes still names the temp dir, so a
    # process group id reused after a reboot is never taken for the cluster's
    groups = {int(n["pgid"]) for n in state.nodes if n.get("pgid")} & \
        {group for pid, _, group, _ in rows if pid in named}
    ours = named | {pid for pid, _, group, _ in rows if group in groups}
    grew = True
    while grew:
        grew = False
        for pid, parent, _, _ in rows:
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    ours.discard(os.getpid())
    return {pid: args for pid, _, _, args in rows if pid in ours}


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _stop_processes(state: LocalClusterState, *, grace_s: float) -> int:
    """SIGTERM every process of the cluster, SIGKILL what is left after ``grace_s``."""
    first = set(cluster_processes(state))

    def remaining() -> set[int]:
        # a worker whose raylet died is re-parented and no longer found as a descendant, so
        # the processes seen at first are followed by pid as well
        live = {pid for pid, _, _, _ in _process_table()}
        return (first & live) | set(cluster_processes(state))

    _signal_all(first, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (left := remaining()) and time.monotonic() < deadline:
        time.sleep(0.25)
    deadline = time.monotonic() + 10.0
    while left and time.monotonic() < deadline:
        _signal_all(left, signal.SIGKILL)  # again each round: a dying raylet may still spawn
        time.sleep(0.25)
        left = remaining()
    if left:
        raise ClusterError(f"{len(left)} process(es) of the cluster survived SIGKILL: "
                           f"{sorted(left)}")
    return len(first)


def stop_local_cluster(state: LocalClusterState, *, grace_s: float = 5.0,
                       keep_logs: bool = False, root: str | Path | None = None) -> int:
    """Stop every process of the cluster (SIGTERM, then SIGKILL after ``grace_s``), remove its
    temp dir (unless ``keep_logs``) and its state file; returns how many processes it stopped.

    Other Ray instances on the machine are left alone.
    """
    stopped = _stop_processes(state, grace_s=grace_s)
    if not keep_logs:
        shutil.rmtree(state.temp_dir, ignore_errors=True)
    path = state_path(root if root is not None else state.data_root)
    path.unlink(missing_ok=True)
    return stopped
