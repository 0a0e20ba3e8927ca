"""Turning Python values into MLflow params, tags and metrics: text, limits, secrets, batches."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from tradelab.errors import ConfigError

# MLflow's own limits (mlflow.utils.validation), restated so that importing this module stays
# cheap: values longer than these are refused by the store.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
# MLflow servers refuse a log_batch request body above 1 MB; stay well below it.
MAX_BATCH_CHARS = 800_000

MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|credential|private[_-]?key|auth", re.IGNORECASE
)
_URI_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@")
_BAD_KEY_CHARS = re.compile(r"[^\w.\- ]")


def is_secret_key(key: object) -> bool:
    """Whether a setting's name says it holds a secret (password, token, API key ...)."""
    return bool(_SECRET_KEY.search(str(key)))


def mask_uri_passwords(text: str) -> str:
    """Replace the password of every ``scheme://user:password@host`` in ``text`` by ``***``."""
    return _URI_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with secret-named mapping entries masked and URI passwords hidden."""
    if isinstance(value, Mapping):
        return {
            key: (MASK if is_secret_key(key) and item is not None else mask_secrets(item))
            for key, item in value.items()
        }
    if isinstance(value, str):
        return mask_uri_passwords(value)
    if isinstance(value, list | tuple):
        return [mask_secrets(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return mask_secrets(_dataclass_dict(value))
    return value


def truncate(text: str, limit: int, *, keep: str = "head") -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was cut.

    Args:
        text: the text.
        limit: the maximum length of the result.
        keep: ``"head"`` keeps the beginning (settings), ``"tail"`` the end (tracebacks).
    """
    if len(text) <= limit:
        return text
    marker = f"...[{len(text)} chars truncated]..."
    kept = max(limit - len(marker), 0)
    marker = f"...[{len(text) - kept} chars truncated]..."
    if keep == "tail":
        return (marker + text[len(text) - kept :])[-limit:]
    return (text[:kept] + marker)[:limit]


def safe_key(key: object) -> str:
    """An MLflow-safe param/metric/tag name: letters, digits, ``_ - . space``, <= 250 chars."""
    text = _BAD_KEY_CHARS.sub("_", str(key)).strip() or "_"
    if text.startswith("."):
        text = "_" + text
    return text[:MAX_KEY]


def plain(value: Any) -> Any:
    """``value`` as plain JSON-able Python: numpy scalars, mappings, dataclasses, dates ..."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [plain(item) for item in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(_dataclass_dict(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def value_text(value: Any) -> str:
    """The text of one param value: scalars as ``str``, containers as compact JSON."""
    value = plain(value) if not isinstance(value, float) else value
    if value is None or isinstance(value, bool | int | float | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def param_text(value: Any) -> str:
    """A param value ready for MLflow: secrets masked, <= 6000 characters."""
    return truncate(mask_uri_passwords(value_text(mask_secrets(value))), MAX_PARAM_VALUE)


def tag_text(value: Any, *, limit: int = MAX_TAG_VALUE, keep: str = "head") -> str:
    """A tag value ready for MLflow: secrets masked, <= ``limit`` characters."""
    return truncate(mask_uri_passwords(value_text(mask_secrets(value))), limit, keep=keep)


def settings_params(settings: Mapping[str, Any]) -> dict[str, str]:
    """One param per top-level setting; lists and mappings as JSON; secrets masked.

    Raises:
        ConfigError: two settings map to the same MLflow name.
    """
    params: dict[str, str] = {}
    for key, value in settings.items():
        name = safe_key(key)
        if name in params:
            raise ConfigError(
                f"settings {key!r} and another key both become the MLflow param {name!r}; "
                "rename one of them."
            )
        params[name] = MASK if is_secret_key(key) and value is not None else param_text(value)
    return params


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number (not bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def batches(
    metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any]
) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    """Split entities into ``log_batch`` calls within MLflow's limits.

    At most 1000 metrics, 100 params, 100 tags and 1000 entities per call, and a bounded total
    text size. Params and tags go first so a run's identity is written before its numbers.
    """
    pending: list[tuple[int, Any, int]] = []
    for kind, items in ((1, params), (2, tags), (0, metrics)):
        for item in items:
            size = len(str(getattr(item, "key", ""))) + len(str(getattr(item, "value", ""))) + 32
            pending.append((kind, item, size))
    batch: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    chars = 0
    for kind, item, size in pending:
        limits = (MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH)
        entities = sum(len(group) for group in batch)
        if any(batch) and (
            len(batch[kind]) >= limits[kind]
            or entities >= MAX_ENTITIES_PER_BATCH
            or chars + size > MAX_BATCH_CHARS
        ):
            yield batch
            batch, chars = ([], [], []), 0
        batch[kind].append(item)
        chars += size
    if any(batch):
        yield batch


def _dataclass_dict(value: Any) -> dict[str, Any]:
    return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
