"""``ray start`` that keeps a loopback address on loopback (for clusters on one machine).

Run as ``python cluster/_ray_start.py ARGS``: the arguments are ``ray start``'s. Ray's CLI rewrites
``127.0.0.1`` in ``--node-ip-address`` and ``--address`` to the machine's outward IP
(``services.resolve_ip_for_localhost``), where a head pinned to 127.0.0.1 does not listen, so a
worker node could never join it. Ray's switch that turns the rewriting off
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, see :func:`cluster.runtime.pin_loopback`) also makes
``ray start`` refuse to start a worker node.

So this launcher sets the switch in the environment — for every process the node starts: the
raylet, the dashboard agent (whose job manager connects to ``127.0.0.1:<port>`` and would
otherwise be sent to the outward IP), workers and job drivers — but not for its own ``ray start``,
and takes ``ray start``'s addresses as given. Otherwise it is ``ray start`` unchanged. It imports
only Ray, so it runs as a file without the project installed.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run ``ray start`` with ``argv``, addresses taken literally; returns its exit code."""
    import os

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # inherited by the node's processes
    from ray._private import ray_constants, services

    ray_constants.ENABLE_RAY_CLUSTER = True  # this process may still start a worker node
    services.resolve_ip_for_localhost = lambda host: host
    from ray.scripts.scripts import cli

    try:
        cli.main(args=["start", *argv], prog_name="ray", standalone_mode=False)
    except SystemExit as exc:  # click exits with the command's code
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - report Ray's reason in one line, exit non-zero
        print(f"ray start failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
