"""Tune's look-ups of a study's trainable, answered from memory for the length of a fit.

Tune finds a trial's trainable by name in Ray's GCS key-value store — five round trips per trial
(``validate_trainable`` three times, ``get_trainable_cls`` twice), each followed by an unpickle.
With trials of a few hundred milliseconds these sit on the path from one trial ending to the next
starting (a fifth of the Tune controller's time in a 200-trial study). Within one fit the
registered trainable does not change unless it is registered again, which clears the memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["remembered_trainables"]


@contextmanager
def remembered_trainables() -> Iterator[None]:
    """Within the block, Tune's trainable look-ups hit the GCS once per name.

    If Ray's registry does not have the expected shape (another Ray version), nothing is
    changed and Tune looks up as it always does.
    """
    from ray.tune import registry

    store = getattr(registry, "_global_registry", None)
    category = getattr(registry, "TRAINABLE_CLASS", None)
    names = ("get", "contains", "register", "unregister")
    if store is None or category is None or not all(hasattr(store, n) for n in names):
        yield
        return
    get, contains = store.get, store.contains
    register, unregister = store.register, store.unregister
    known: dict[tuple[str, str], Any] = {}

    def remembered_get(kind: str, key: str) -> Any:
        if kind != category:
            return get(kind, key)
        if (kind, key) not in known:
            known[(kind, key)] = get(kind, key)
        return known[(kind, key)]

    def remembered_contains(kind: str, key: str) -> bool:
        return (kind, key) in known or contains(kind, key)

    def forgetting_register(kind: str, key: str, value: Any) -> None:
        known.pop((kind, key), None)
        register(kind, key, value)

    def forgetting_unregister(kind: str, key: str) -> None:
        known.pop((kind, key), None)
        unregister(kind, key)

    store.get, store.contains = remembered_get, remembered_contains
    store.register, store.unregister = forgetting_register, forgetting_unregister
    try:
        yield
    finally:
        for name in names:  # the instance attributes go; the class's methods show through
            store.__dict__.pop(name, None)
