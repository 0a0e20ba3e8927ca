"""Writing query results to CSV or JSON files, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.errors import ConfigError
from tradelab.tracking._values import plain

__all__ = ["EXPORT_SUFFIXES", "export_frame"]

EXPORT_SUFFIXES: tuple[str, ...] = (".csv", ".json")
"""The file types :func:`export_frame` writes, chosen by the path's suffix."""


def export_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` as CSV or JSON (by suffix) and return the resolved path.

    CSV has a header and no index; JSON is a list of records (one object per row) with NaN
    as ``null`` and times as ISO 8601 text. The file is written to a temporary file beside
    ``path`` and renamed over it, so readers never see half a file and a failed export leaves
    ``path`` as it was. Missing parent directories are created.

    Raises:
        ConfigError: ``frame`` is not a DataFrame, the suffix is neither ``.csv`` nor ``.json``,
            or a value cannot be written as JSON.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "studies.json"
        >>> frame = pd.DataFrame({"study": ["a"], "best_value": [float("nan")]})
        >>> export_frame(frame, out).read_text()
        '[{"study":"a","best_value":null}]'
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"export_frame needs a pandas DataFrame, got {type(frame).__name__}.")
    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ConfigError(
            f"cannot export to '{target}': unknown file type '{target.suffix}'. "
            f"Use a path ending in {' or '.join(EXPORT_SUFFIXES)}."
        )
    text = _csv(frame) if suffix == ".csv" else _json(frame)
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _json(frame: pd.DataFrame) -> str:
    columns = [str(column) for column in frame.columns]
    records = []
    for row in frame.itertuples(index=False, name=None):
        records.append(
            {column: _json_value(value, column) for column, value in zip(columns, row, strict=True)}
        )
    return json.dumps(records, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _json_value(value: Any, column: str) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # arrays and other containers
        pass
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict | list | tuple) or hasattr(value, "item"):
        return plain(value)
    raise ConfigError(
        f"cannot export column '{column}' to JSON: value {value!r} of type "
        f"{type(value).__name__} has no JSON form; convert the column to text first."
    )
