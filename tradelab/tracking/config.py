"""Where optimization studies are tracked: the MLflow tracking URI, experiment and artifact root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tradelab.errors import ConfigError
from tradelab.paths import data_root
from tradelab.tracking._values import mask_uri_passwords

__all__ = ["DEFAULT_EXPERIMENT", "TrackingConfig", "embedded_tracking_uri"]

DEFAULT_EXPERIMENT = "tradelab-studies"
"""The MLflow experiment every study goes to unless configured otherwise."""

_SQLITE = "sqlite:///"


def embedded_tracking_uri() -> str:
    """The embedded store: ``sqlite:////<data_root>/mlflow.db`` (an absolute path)."""
    return f"{_SQLITE}{(data_root() / 'mlflow.db').as_posix()}"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrackingConfig:
    """Which MLflow store and experiment a study is tracked in.

    Attributes:
        tracking_uri: an MLflow tracking URI. ``None`` uses ``$MLFLOW_TRACKING_URI`` when set
            (production: an MLflow server on PostgreSQL), else the embedded SQLite store
            ``<data_root>/mlflow.db`` (``$TRADELAB_HOME``). A relative ``sqlite:///`` path is
            made absolute, so Ray workers with another working directory find the same file.
        experiment: the MLflow experiment name.
        best_n_artifacts: how many of the best trials get artifacts (plots, tear sheet); read by
            the optimizer, which picks the trials.
        artifact_location: where a newly created experiment stores artifacts. ``None``: next to
            a SQLite database (``<dir of mlflow.db>/mlartifacts``), the server's default
            otherwise.

    A password inside ``tracking_uri`` is masked in ``repr`` and never logged.

    Example:
        >>> config = TrackingConfig(tracking_uri="sqlite:////tmp/tl/mlflow.db")
        >>> config.resolved_uri(), config.resolved_artifact_location()
        ('sqlite:////tmp/tl/mlflow.db', 'file:///tmp/tl/mlartifacts')
    """

    tracking_uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT
    best_n_artifacts: int = 5
    artifact_location: str | None = None

    def __post_init__(self) -> None:
        for name in ("tracking_uri", "artifact_location"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(
                    f"TrackingConfig.{name} must be a non-empty string or None, got {value!r}."
                )
        if (
            not isinstance(self.experiment, str)
            or not self.experiment.strip()
            or len(self.experiment) > 500
        ):
            raise ConfigError(
                "TrackingConfig.experiment must be a non-empty name of at most 500 characters, "
                f"got {self.experiment!r}."
            )
        if (
            not isinstance(self.best_n_artifacts, int)
            or isinstance(self.best_n_artifacts, bool)
            or self.best_n_artifacts < 0
        ):
            raise ConfigError(
                "TrackingConfig.best_n_artifacts must be an integer >= 0, "
                f"got {self.best_n_artifacts!r}."
            )

    def __repr__(self) -> str:
        uri = None if self.tracking_uri is None else mask_uri_passwords(self.tracking_uri)
        return (
            f"TrackingConfig(tracking_uri={uri!r}, experiment={self.experiment!r}, "
            f"best_n_artifacts={self.best_n_artifacts!r}, "
            f"artifact_location={self.artifact_location!r})"
        )

    def resolved_uri(self) -> str:
        """The tracking URI to use: the configured one, ``$MLFLOW_TRACKING_URI``, or the
        embedded SQLite store (resolved now; nothing is created)."""
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        return _absolute_sqlite(uri) if uri else embedded_tracking_uri()

    def resolved_artifact_location(self) -> str | None:
        """Artifact root for a new experiment: the configured one, ``file://.../mlartifacts``
        beside a SQLite database, or ``None`` to let an MLflow server decide."""
        if self.artifact_location:
            return self.artifact_location
        path = sqlite_path(self.resolved_uri())
        return (path.parent / "mlartifacts").as_uri() if path is not None else None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or ``None`` for other stores and in-memory."""
    if not uri.startswith(_SQLITE):
        return None
    raw = uri[len(_SQLITE) :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def _absolute_sqlite(uri: str) -> str:
    path = sqlite_path(uri)
    if path is None or path.is_absolute():
        return uri
    query = uri[len(_SQLITE) :].partition("?")
    suffix = f"?{query[2]}" if query[1] else ""
    return f"{_SQLITE}{path.expanduser().resolve().as_posix()}{suffix}"
