"""Checking a Ray cluster launcher file (``ray-cluster.yaml``) with Ray's own validator.

``ray up`` has no dry run: it connects to the machines at once. :func:`check_cluster_config`
runs the part of ``ray up`` that comes before that — the provider's defaults merged in
(``prepare_config``) and the result checked against Ray's schema (``validate_config``,
``ray/autoscaler/ray-schema.json``) — so a typo in a key or a wrong type is found without any
machine. :func:`cloud_variant` reads the commented cloud-provider block of the file (between
``# >>> cloud`` and ``# <<< cloud``) so it can be checked too.

Example:
    >>> summary = check_cluster_config("ray-cluster.yaml")   # doctest: +SKIP
    >>> summary["provider"]                                   # doctest: +SKIP
    'local'
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tradelab.errors import ConfigError

__all__ = ["check_cluster_config", "cloud_variant", "load_cluster_config"]

_CLOUD_BEGIN, _CLOUD_END = "# >>> cloud", "# <<< cloud"


def load_cluster_config(path: str | Path) -> dict[str, Any]:
    """The launcher file as a mapping.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a mapping.
    """
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no cluster launcher file {path}; the project's is ray-cluster.yaml.")
    try:
        config = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must be a mapping of launcher settings, got "
                          f"{type(config).__name__}.")
    return config


def cloud_variant(path: str | Path) -> dict[str, Any]:
    """The file's on-premise settings with its commented cloud block applied on top.

    Raises:
        ConfigError: the file has no ``# >>> cloud`` … ``# <<< cloud`` block.
    """
    import yaml

    lines = Path(path).read_text().splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.startswith(_CLOUD_BEGIN))
        end = next(i for i, line in enumerate(lines) if line.startswith(_CLOUD_END))
    except StopIteration:
        raise ConfigError(f"{path} has no commented cloud block ({_CLOUD_BEGIN} … "
                          f"{_CLOUD_END}).") from None
    block = [line[2:] if line.startswith("# ") else line.lstrip("#")
             for line in lines[begin + 1:end]]
    cloud = yaml.safe_load("\n".join(block)) or {}
    merged = copy.deepcopy(load_cluster_config(path))
    merged.update(cloud)
    return merged


def check_cluster_config(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """Validate a launcher config as ``ray up`` would before contacting any machine.

    Returns a summary: ``provider``, ``cluster_name``, ``head_node_type``, ``node_types``
    (name → min/max workers and resources), ``setup_commands``, ``file_mounts``.

    Raises:
        ConfigError: Ray's validator refused it (the message names the key and the problem).
    """
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load_cluster_config(source) if not isinstance(source, dict) else source
    name = source if not isinstance(source, dict) else "the cluster config"
    if not isinstance(config.get("provider"), dict) or "type" not in config["provider"]:
        raise ConfigError(f"{name}: `provider.type` is required (local, aws, gcp, azure …).")
    try:
        prepared = prepare_config(copy.deepcopy(config))
        validate_config(prepared)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ConfigError(f"{name} fails Ray's cluster schema at {where}: {exc.message}") \
            from None
    except Exception as exc:  # noqa: BLE001 - Ray aborts with various types; keep its words
        raise ConfigError(f"{name} is refused by Ray's cluster launcher: "
                          f"{type(exc).__name__}: {exc}") from exc
    return {
        "provider": prepared["provider"]["type"],
        "cluster_name": prepared.get("cluster_name"),
        "head_node_type": prepared.get("head_node_type"),
        "node_types": {key: {"min_workers": value.get("min_workers", 0),
                             "max_workers": value.get("max_workers", 0),
                             "resources": value.get("resources", {})}
                       for key, value in prepared.get("available_node_types", {}).items()},
        "setup_commands": list(prepared.get("setup_commands", [])),
        "file_mounts": dict(prepared.get("file_mounts", {})),
    }
