"""The search space: search.yaml, read and checked before any trial runs.

Each entry under `params:` is a key of params.yaml (`train.dropout`) with its
choices (a list), its range (`{low, high}`, `log: true` for a log scale,
integers when both ends are) or one value every trial uses. Every key must be
a param of vectorize, split or train, and every choice and both ends of every
range must be values that stage's own schema accepts: a mistake is one error
before the first trial, not a failed trial an hour later. load and evaluate
are left out: the data is what it is, and evaluate reads the test set, which
a search never looks at.
"""

import difflib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from stages import split, train, vectorize
from stages.runner.params import Param
from stages.runner.process import StageError

SEARCHED = {"vectorize": vectorize.SCHEMA, "split": split.SCHEMA, "train": train.SCHEMA}
METRICS = {"val_accuracy": "maximize", "val_loss": "minimize"}  # reports/train.json's


class Range(NamedTuple):
    low: int | float
    high: int | float
    log: bool = False


class Choices(NamedTuple):
    values: list


class Space(NamedTuple):
    metric: str
    direction: str
    params: dict[str, Choices | Range | Any]  # or one value, for every trial


def check_value(path: Path, key: str, param: Param, value) -> None:
    if not param.check(value):
        raise StageError(f"{path}: {key} may be {value!r} nowhere: it must be {param.allowed}")


def check_entry(path: Path, key: str, spec) -> Choices | Range | Any:
    """One entry of `params:`, checked against its stage's schema."""
    block, _, name = key.partition(".")
    if block not in SEARCHED or name not in SEARCHED[block]:
        known = [f"{b}.{k}" for b, schema in SEARCHED.items() for k in schema]
        hint = difflib.get_close_matches(key, known, n=1)
        raise StageError(f"{path}: {key!r} is not a param a search can change"
                         + (f": did you mean {hint[0]!r}?" if hint else
                            " (a key of vectorize, split or train, as block.key)"))
    param = SEARCHED[block][name]
    if isinstance(spec, dict):
        if set(spec) - {"low", "high", "log"} or not {"low", "high"} <= set(spec):
            raise StageError(f"{path}: {key} has {sorted(spec)}; a range is "
                             "{low: …, high: …} with an optional log: true")
        bounds = Range(spec["low"], spec["high"], bool(spec.get("log", False)))
        for value in bounds[:2]:
            check_value(path, key, param, value)
        if not bounds.low < bounds.high or (bounds.log and bounds.low <= 0):
            raise StageError(f"{path}: {key}'s range needs low < high"
                             + (", and low > 0 on a log scale" if bounds.log else ""))
        return bounds
    if isinstance(spec, list) and not param.check(spec):  # not a value itself: its choices
        for value in spec:
            check_value(path, key, param, value)
        return Choices(spec)
    check_value(path, key, param, spec)  # one value, for every trial ([16, 16] is one too)
    return spec


def load_space(path: Path) -> Space:
    """search.yaml, checked."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} not found: it lists the params a search may change")
    except yaml.YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}")
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict) or set(data) - {
            "metric", "params"}:
        raise StageError(f"{path} must hold `metric:` and a mapping `params:` of block.key "
                         "entries, and nothing else")
    metric = data.get("metric", "val_accuracy")
    if metric not in METRICS:
        raise StageError(f"{path}: metric {metric!r} must be one of {', '.join(METRICS)}")
    params = {key: check_entry(path, key, spec) for key, spec in data["params"].items()}
    return Space(metric, METRICS[metric], params)


def suggest(trial, space: Space) -> dict[str, Any]:
    """One trial's values, as Optuna's sampler picks them: {"train.dropout": 0.31, …}."""
    values = {}
    for key, spec in space.params.items():
        if isinstance(spec, Range):
            if all(isinstance(end, int) for end in spec[:2]):
                values[key] = trial.suggest_int(key, spec.low, spec.high, log=spec.log)
            else:  # three significant digits: a value params.yaml and dvc.lock write alike
                value = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
                values[key] = float(f"{value:.3g}")
        elif isinstance(spec, Choices):
            # Optuna's choices must be plain scalars: a list (hidden_units) goes as its JSON.
            index = {json.dumps(choice): choice for choice in spec.values}
            values[key] = index[trial.suggest_categorical(key, list(index))]
        else:
            values[key] = spec
    return values


def override(key: str, value) -> str:
    """`dvc exp run -S`'s form of a value: `train.hidden_units=[16,16]`, `train.l2=1e-05`."""
    if isinstance(value, str) and re.fullmatch(r"[\w.-]+", value):
        return f"{key}={value}"
    return f"{key}={json.dumps(value, separators=(',', ':'))}"
