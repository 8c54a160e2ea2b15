"""A stage's params: its own block of params.yaml, checked against the schema it declares.

A schema maps each key to a `Param`, made by the small factories below
(`integer(1)`, `choice("relu", "tanh")`, ...): a check, the words that describe
the values it allows, and, for a key params.yaml may leave out, its default.
`load_params` reads the block and refuses an unknown key, a missing one or a
value out of range, with a message that names the key and what to set.
"""

import difflib
from pathlib import Path
from typing import Any, Callable, NamedTuple

import yaml

from stages.runner.process import StageError

PARAMS_FILE = Path("params.yaml")

REQUIRED = object()


class Param(NamedTuple):
    """One key of a params block: a check, the words that describe it and, for a key
    params.yaml may leave out, its default."""
    check: Callable[[Any], bool]
    allowed: str
    default: Any = REQUIRED


def integer(low: int, high: float = float("inf"), default: Any = REQUIRED) -> Param:
    def ok(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
    return Param(ok, f"an integer >= {low}" + (f" and <= {high}" if high != float("inf") else ""),
                 default)


def number(low: float, high: float, *, low_open=False, high_open=False,
           default: Any = REQUIRED) -> Param:
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        return above and below
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    return Param(ok, f"a number in {left}{low}, {high}{right}", default)


def choice(*values, default: Any = REQUIRED) -> Param:
    def ok(v) -> bool:
        return v in values
    return Param(ok, "one of " + ", ".join(map(repr, values)), default)


def nonempty_text(default: Any = REQUIRED, allowed: str = "a non-empty string") -> Param:
    def ok(v) -> bool:
        return isinstance(v, str) and v.strip() != ""
    return Param(ok, allowed, default)


def labels_list(default: list) -> Param:
    """Label values as written in the data; YAML's 1 and "1" both match a "1" there."""
    def ok(v) -> bool:
        return isinstance(v, list) and v != [] and all(
            isinstance(u, (str, int)) and not isinstance(u, bool) and str(u).strip() for u in v)
    return Param(ok, "a non-empty list of label values, e.g. [positive] or [4, 5]", default)


def count_or_fraction() -> Param:
    def ok(v) -> bool:
        fraction = number(0, 1, low_open=True, high_open=True)
        return integer(1).check(v) or (isinstance(v, float) and fraction.check(v))
    return Param(ok, "a count (an integer >= 1) or a fraction between 0 and 1, e.g. 0.2")


def boolean(default: Any = REQUIRED) -> Param:
    def ok(v) -> bool:
        return isinstance(v, bool)
    return Param(ok, "true or false", default)


def int_list(low: int) -> Param:
    def ok(v) -> bool:
        return isinstance(v, list) and all(integer(low).check(u) for u in v)
    return Param(ok, f"a list of integers >= {low}, e.g. [16, 16]")


def load_params(block: str, schema: dict[str, Param], path: Path = PARAMS_FILE) -> dict:
    """Read `block` of params.yaml and check every key against `schema`."""
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise StageError(f"{path} not found: run the stage from the repository root")
    except yaml.YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}")
    if not isinstance(params, dict) or block not in params:
        raise StageError(f"{path} has no '{block}:' block; add it with the keys "
                         + ", ".join(schema))
    values = params[block]
    if not isinstance(values, dict):
        raise StageError(f"'{block}' in {path} must be a mapping of "
                         + ", ".join(schema) + f", not {values!r}")
    for key in values:
        if key not in schema:
            hint = difflib.get_close_matches(str(key), schema, n=1)
            raise StageError(f"unknown param '{block}.{key}' in {path}"
                             + (f": did you mean '{block}.{hint[0]}'?" if hint else
                                "; allowed keys: " + ", ".join(schema)))
    values = dict(values)
    for key, param in schema.items():
        if key not in values and param.default is not REQUIRED:
            values[key] = param.default
            continue
        if key not in values:
            raise StageError(f"param '{block}.{key}' is missing from {path}: "
                             f"set it to {param.allowed}")
        if not param.check(values[key]):
            raise StageError(f"param '{block}.{key}' is {values[key]!r} in {path}; "
                             f"it must be {param.allowed}")
    return values
