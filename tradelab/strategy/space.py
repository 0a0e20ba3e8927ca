"""Parameter search spaces declared beside a strategy's params.

A strategy declares ``space = ParameterSpace({...}, constraints=("fast < slow",))``; optimizers
read it, so no separate file is needed, and a JSON/YAML file can override it
(:func:`load_space_file`). Constraints are small arithmetic/comparison expressions over parameter
names, parsed with :mod:`ast` and evaluated without ``eval``.

Example:
    >>> space = ParameterSpace({"fast": IntParam(5, 50), "slow": IntParam(20, 200)},
    ...                        constraints=("fast < slow",))
    >>> space.satisfies({"fast": 10, "slow": 30})
    True
"""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tradelab.errors import ConfigError, ParameterError, did_you_mean

__all__ = [
    "Choice",
    "Constraint",
    "FloatParam",
    "IntParam",
    "ParameterSpace",
    "load_space_file",
]


@dataclass(frozen=True, kw_only=False, slots=True)
class IntParam:
    """An integer parameter searched over ``[low, high]`` in ``step`` increments.

    ``minimum`` is the smallest value that is *valid* at all (e.g. 1 for a period); values
    outside the search range are allowed in a single backtest, values below ``minimum`` are not.
    """

    low: int
    high: int
    step: int = 1
    log: bool = False
    minimum: int | None = 1

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ConfigError(f"IntParam low {self.low} > high {self.high}; swap them.")
        if self.step < 1:
            raise ConfigError(f"IntParam step must be >= 1, got {self.step}.")
        if self.log and self.low <= 0:
            raise ConfigError(f"IntParam with log=True needs low > 0, got {self.low}.")
        if self.log and self.step != 1:
            raise ConfigError("IntParam with log=True needs step=1 (Optuna's rule).")

    def grid(self) -> list[int]:
        """Every value of the search range, in order."""
        return list(range(self.low, self.high + 1, self.step))

    def validate(self, name: str, value: Any) -> int:
        """Coerce ``value`` to int or raise ParameterError naming the parameter."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}.")
        try:
            number = float(value)
        except ValueError:
            raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}.") from None
        if not math.isfinite(number) or number != int(number):
            raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}.")
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(
                f"parameter '{name}' must be >= {self.minimum}, got {value!r} "
                f"(search range {self.low}..{self.high})."
            )
        return int(number)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "step": self.step,
                "log": self.log, "minimum": self.minimum}


@dataclass(frozen=True, kw_only=False, slots=True)
class FloatParam:
    """A float parameter searched over ``[low, high]`` (optionally stepped or log-scaled)."""

    low: float
    high: float
    step: float | None = None
    log: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ConfigError(f"FloatParam needs finite low <= high, got {self.low}..{self.high}.")
        if self.step is not None and self.step <= 0:
            raise ConfigError(f"FloatParam step must be > 0, got {self.step}.")
        if self.log and self.low <= 0:
            raise ConfigError(f"FloatParam with log=True needs low > 0, got {self.low}.")
        if self.log and self.step is not None:
            raise ConfigError("FloatParam cannot be both stepped and log-scaled (Optuna's rule).")

    def grid(self, points: int = 10) -> list[float]:
        """The stepped values, or ``points`` evenly (or log-) spaced values."""
        if self.step is not None:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [round(self.low + i * self.step, 12) for i in range(count)]
        if self.log:
            ratio = (self.high / self.low) ** (1 / max(points - 1, 1))
            return [self.low * ratio**i for i in range(points)]
        width = (self.high - self.low) / max(points - 1, 1)
        return [self.low + i * width for i in range(points)]

    def validate(self, name: str, value: Any) -> float:
        """Coerce ``value`` to a finite float within the valid bounds."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter '{name}' must be a number, got {value!r}.") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise ParameterError(f"parameter '{name}' must be a finite number, got {value!r}.")
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(f"parameter '{name}' must be >= {self.minimum}, got {value!r}.")
        if self.maximum is not None and number > self.maximum:
            raise ParameterError(f"parameter '{name}' must be <= {self.maximum}, got {value!r}.")
        return number

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "step": self.step,
                "log": self.log, "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True, kw_only=False, slots=True)
class Choice:
    """A categorical parameter."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values:
            raise ConfigError("Choice needs at least one value.")

    def grid(self) -> list[Any]:
        return list(self.values)

    def validate(self, name: str, value: Any) -> Any:
        for candidate in self.values:
            if value == candidate or str(value) == str(candidate):
                return candidate
        raise ParameterError(
            f"parameter '{name}' must be one of {list(self.values)}, got {value!r}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}


ParamSpec = IntParam | FloatParam | Choice

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ALLOWED_NODES = (ast.Expression, ast.Compare, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Constant,
                  ast.Load, ast.USub, ast.Not, ast.And, ast.Or, *_BINARY, *_COMPARE)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A boolean expression over parameter names, e.g. ``"fast < slow"``, ``"slow >= 2 * fast"``."""

    expression: str
    _tree: ast.Expression = field(init=False, repr=False, compare=False)
    names: frozenset[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        try:
            tree = ast.parse(self.expression, mode="eval")
        except SyntaxError as exc:
            raise ConfigError(f"constraint {self.expression!r} is not valid: {exc.msg}.") from None
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif not isinstance(node, _ALLOWED_NODES):
                raise ConfigError(
                    f"constraint {self.expression!r} uses {type(node).__name__}; only names, "
                    "numbers, + - * / % **, comparisons, and/or/not are allowed."
                )
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "names", frozenset(names))

    def __call__(self, params: Mapping[str, Any]) -> bool:
        return bool(_evaluate(self._tree.body, params))


def _evaluate(node: ast.AST, params: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return params[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, params), _evaluate(node.right, params))
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, params)
        return -value if isinstance(node.op, ast.USub) else not value
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, params) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, params)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, params)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ConfigError(f"unsupported expression node {type(node).__name__}")


class ParameterSpace:
    """Named parameter specs plus constraints; immutable once built."""

    __slots__ = ("_params", "_constraints")

    def __init__(
        self,
        params: Mapping[str, ParamSpec],
        *,
        constraints: Iterable[str | Constraint] = (),
        partial: bool = False,
    ) -> None:
        """Build a space; ``partial=True`` (an override file) lets constraints name parameters
        that the space it overrides declares — they are checked when merged."""
        for name, spec in params.items():
            if not isinstance(spec, IntParam | FloatParam | Choice):
                raise ConfigError(
                    f"parameter '{name}' spec must be IntParam, FloatParam or Choice, got {spec!r}."
                )
        self._params = MappingProxyType(dict(params))
        built = tuple(c if isinstance(c, Constraint) else Constraint(c) for c in constraints)
        for constraint in () if partial else built:
            unknown = constraint.names - set(self._params)
            if unknown:
                name = sorted(unknown)[0]
                raise ConfigError(
                    f"constraint {constraint.expression!r} names unknown parameter '{name}'."
                    f"{did_you_mean(name, self._params)} Parameters: {', '.join(self._params)}."
                )
        self._constraints = built

    @property
    def params(self) -> Mapping[str, ParamSpec]:
        return self._params

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        return self._constraints

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParameterSpace({dict(self._params)!r}, constraints={self.constraint_texts()!r})"

    def constraint_texts(self) -> list[str]:
        return [c.expression for c in self._constraints]

    def satisfies(self, params: Mapping[str, Any]) -> bool:
        """True when every constraint whose names are all present holds."""
        return all(c(params) for c in self._constraints if c.names <= params.keys())

    def failed_constraints(self, params: Mapping[str, Any]) -> list[str]:
        return [c.expression for c in self._constraints
                if c.names <= params.keys() and not c(params)]

    def grid(self, float_points: int = 10) -> list[dict[str, Any]]:
        """Every grid point that satisfies the constraints (floats sampled at ``float_points``)."""
        points: list[dict[str, Any]] = [{}]
        for name, spec in self._params.items():
            values = spec.grid(float_points) if isinstance(spec, FloatParam) else spec.grid()
            points = [{**p, name: v} for p in points for v in values]
        return [p for p in points if self.satisfies(p)]

    def override(self, other: ParameterSpace) -> ParameterSpace:
        """This space with ``other``'s specs replacing or narrowing these; constraints merged."""
        unknown = set(other.params) - set(self._params)
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(
                f"space override names unknown parameter '{name}'."
                f"{did_you_mean(name, self._params)}"
            )
        texts = dict.fromkeys(self.constraint_texts() + other.constraint_texts())
        return ParameterSpace({**self._params, **other.params}, constraints=texts)

    def to_dict(self) -> dict[str, Any]:
        return {"params": {n: s.to_dict() for n, s in self._params.items()},
                "constraints": self.constraint_texts()}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "space", partial: bool = False
    ) -> ParameterSpace:
        """Build from ``{"params": {name: {"type": "int", ...}}, "constraints": [...]}``."""
        unknown_top = set(data) - {"params", "constraints"}
        if unknown_top:
            key = sorted(unknown_top)[0]
            raise ConfigError(
                f"{source}: unknown key '{key}'.{did_you_mean(key, ['params', 'constraints'])} "
                "Expected 'params' and optionally 'constraints'."
            )
        specs: dict[str, ParamSpec] = {}
        for name, raw in dict(data.get("params", {})).items():
            specs[name] = _spec_from_dict(name, raw, source)
        return cls(specs, constraints=list(data.get("constraints", [])), partial=partial)


_SPEC_KEYS = {
    "int": (IntParam, {"low", "high", "step", "log", "minimum"}),
    "float": (FloatParam, {"low", "high", "step", "log", "minimum", "maximum"}),
    "choice": (Choice, {"values"}),
}


def _spec_from_dict(name: str, raw: Any, source: str) -> ParamSpec:
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise ConfigError(f"{source}: parameter '{name}' needs a mapping with a 'type' key.")
    kind = raw["type"]
    if kind not in _SPEC_KEYS:
        raise ConfigError(
            f"{source}: parameter '{name}' has unknown type '{kind}'."
            f"{did_you_mean(kind, _SPEC_KEYS)} Types: int, float, choice."
        )
    spec_cls, allowed = _SPEC_KEYS[kind]
    kwargs = {k: v for k, v in raw.items() if k != "type"}
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(
                f"{source}: parameter '{name}' has unknown key '{key}'.{did_you_mean(key, allowed)}"
            )
    if spec_cls is Choice:
        return Choice(tuple(kwargs.get("values", ())))
    return spec_cls(**kwargs)


def load_space_file(path: str | Path) -> ParameterSpace:
    """Load a parameter-space override from a JSON or YAML file (unknown keys are rejected).

    Its constraints may name parameters it does not list; they are checked when the file is
    merged into a strategy's space with :meth:`ParameterSpace.override`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"space file {path} does not exist.")
    text = path.read_text()
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported the same way
        raise ConfigError(f"space file {path} cannot be parsed: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"space file {path} must hold a mapping, got {type(data).__name__}.")
    return ParameterSpace.from_dict(data, source=str(path), partial=True)
