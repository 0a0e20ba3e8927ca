"""Submitting an experiment script to a Ray cluster: a thin layer over ``ray job submit``.

:func:`submit_command` builds the ``ray job submit`` command line and environment for a script
of this project: the working directory uploaded (Ray honours ``.gitignore``), ``TRADELAB_HOME``
set to an absolute data root in the job's runtime environment (a relative one would point into
the unpacked working directory), token authentication, and a submission id chosen here so it can
be printed before the job starts. Nothing is hidden: the command is printed as it is run.

Example:
    >>> command = submit_command("experiments/sma_sweep.py", ["--smoke-test"],
    ...                          address="http://127.0.0.1:8265",
    ...                          home="/srv/tradelab")                      # doctest: +SKIP
    >>> subprocess.run(command.argv, env=command.env)                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tradelab.errors import ConfigError

__all__ = ["SubmitCommand", "ray_cli", "submit_command"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitCommand:
    """A ready ``ray job submit``: its argv, environment and submission id."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(repr=False)
    submission_id: str
    address: str

    def shown(self) -> str:
        """The command as a user would type it (``ray job submit …``)."""
        words = ["ray", *self.argv[self.argv.index("job"):]]
        return " ".join(shlex.quote(w) for w in words)

    def follow_hints(self) -> list[str]:
        """How to watch the job from a shell (token variables as for ``ray job submit``)."""
        target = f"--address {self.address} {self.submission_id}"
        return [f"ray job logs -f {target}", f"ray job status {target}",
                f"ray job stop {target}"]


def ray_cli() -> list[str]:
    """The ``ray`` command of this Python environment."""
    beside = Path(sys.executable).with_name("ray")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("ray")
    return [found] if found else [sys.executable, "-m", "ray.scripts.scripts"]


def submit_command(script: str | Path, args: list[str] | tuple[str, ...], *, address: str,
                   home: str | Path | None, working_dir: str | Path = ".",
                   no_wait: bool = False, submission_id: str | None = None,
                   env: dict[str, str] | None = None) -> SubmitCommand:
    """Build ``ray job submit --address … --working-dir … -- python SCRIPT ARGS``.

    Args:
        script: the experiment script, inside ``working_dir``.
        args: its arguments.
        address: the cluster's dashboard (job server) URL, ``http://host:8265``.
        home: the data root on the cluster, set as ``TRADELAB_HOME`` in the job's runtime
            environment (absolute); ``None`` leaves the cluster nodes' own setting.
        working_dir: the directory uploaded as the job's working directory.
        no_wait: return once the job is submitted instead of streaming its logs.
        submission_id: the job's id (default: ``tradelab-<script>-<time>-<random>``).
        env: the client's environment (default: this process's), e.g. with the auth token.

    Raises:
        ConfigError: the script does not exist or lies outside the working directory.
    """
    root = Path(working_dir).expanduser().resolve()
    path = Path(script).expanduser()
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not path.is_file():
        raise ConfigError(f"no script {script} (looked for {path}); give the path of an "
                          "experiment script, e.g. experiments/sma_sweep.py.")
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ConfigError(f"{script} is outside the working directory {root}, which is what "
                          "the job receives; run from the project directory or pass "
                          "--working-dir.") from None
    if not address.startswith(("http://", "https://")):
        raise ConfigError(f"the job server address must be the dashboard's URL "
                          f"(http://host:8265), got {address!r}.")
    runtime_env: dict[str, object] = {}
    if home is not None:
        home_path = Path(home).expanduser()
        if not home_path.is_absolute():
            raise ConfigError(f"the cluster's data root must be absolute, got {home!r} (a "
                              "relative path would point into the job's unpacked working "
                              "directory).")
        runtime_env["env_vars"] = {"TRADELAB_HOME": str(home_path)}
    job_id = submission_id or "tradelab-{}-{}-{}".format(
        path.stem.replace("_", "-"), time.strftime("%Y%m%d-%H%M%S"), os.urandom(3).hex())
    shown_dir = "." if root == Path.cwd().resolve() else str(root)
    argv = [*ray_cli(), "job", "submit", "--address", address, "--working-dir", shown_dir,
            "--submission-id", job_id]
    if runtime_env:
        argv += ["--runtime-env-json", json.dumps(runtime_env)]
    if no_wait:
        argv.append("--no-wait")
    argv += ["--", "python", relative.as_posix(), *args]
    client = dict(os.environ if env is None else env)
    client.pop("RAY_ADDRESS", None)
    client.setdefault("RAY_AUTH_MODE", "token")
    return SubmitCommand(argv=tuple(argv), env=client, submission_id=job_id, address=address)
