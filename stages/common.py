"""What every stage shares: params, errors, atomic writes, the npz artifacts, label names.

Stages run as `python -m stages.<name> ARGS` from the repository root (see
dvc.yaml); each reads only its own block of params.yaml, checked against the
schema the stage declares, and writes every output through `atomic_output`,
so that a failed or killed stage never leaves a file DVC could take as done.
"""

import difflib
import json
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np
import yaml

PARAMS_FILE = Path("params.yaml")


class StageError(Exception):
    """A problem the user can fix; printed without a traceback."""


# Label 0 and label 1, as words and as aclImdb's folders (and the reports) name them.
CLASSES = ("negative", "positive")
SHORT_NAMES = ("neg", "pos")
HISTORY = ["loss", "accuracy", "val_loss", "val_accuracy"]  # what train records, per epoch



# --- params -----------------------------------------------------------------

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


def text(default: Any = REQUIRED, allowed: str = "a non-empty string") -> Param:
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


def boolean() -> Param:
    def ok(v) -> bool:
        return isinstance(v, bool)
    return Param(ok, "true or false")


def int_list(low: int) -> Param:
    def ok(v) -> bool:
        return isinstance(v, list) and all(integer(low).check(u) for u in v)
    return Param(ok, f"a list of integers >= {low}, e.g. [16, 16]")


def threshold() -> Param:
    """`evaluate.threshold`, which predict reads too."""
    return number(0, 1, low_open=True, high_open=True)


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


# --- artifacts ----------------------------------------------------------------

@contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; rename it to `path` on success.

    The temporary name keeps the suffix (Keras insists on `.keras`), and is
    removed if the block raises or the process is interrupted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class FixedZip:
    """A zip file whose bytes depend on its content only: every entry dated 1980-01-01,
    in the order written (zipfile would stamp the current time)."""

    def __init__(self, path: str | Path):
        self.archive = zipfile.ZipFile(path, "w")

    @staticmethod
    def entry(name: str, compress_type: int = zipfile.ZIP_STORED,
              mode: int | None = None) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = compress_type
        if mode is not None:
            info.external_attr = mode << 16
        return info

    def write(self, name: str, data: bytes, compress_type: int = zipfile.ZIP_STORED,
              mode: int | None = None) -> None:
        self.archive.writestr(self.entry(name, compress_type, mode), data)

    def open(self, name: str):
        """An entry to write in pieces, of any size."""
        return self.archive.open(self.entry(name), "w", force_zip64=True)

    def __enter__(self) -> "FixedZip":
        return self

    def __exit__(self, *exc) -> None:
        self.archive.close()


class Streamed(NamedTuple):
    """A byte array too large to hold at once: its length, and its bytes in chunks."""
    length: int
    chunks: Iterable[bytes]


def save_arrays(path: str | Path, **arrays: np.ndarray | Streamed) -> None:
    """Like np.savez, but byte-reproducible: fixed zip timestamps, no pickles.

    np.savez stamps each member with the current time, which would give the
    same arrays a new DVC hash on every run. A `Streamed` member is written
    chunk by chunk, as the uint8 array it would be.
    """
    with atomic_output(path) as tmp, FixedZip(tmp) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy") as file:
                if isinstance(array, Streamed):
                    np.lib.format.write_array_header_1_0(
                        file, {"descr": "|u1", "fortran_order": False, "shape": (array.length,)})
                    written = sum(file.write(chunk) for chunk in array.chunks)
                    assert written == array.length, (name, written, array.length)
                else:
                    np.lib.format.write_array(file, np.asarray(array), allow_pickle=False)


def load_arrays(path: str | Path, *names: str, optional=()) -> dict[str, np.ndarray]:
    """Load the named arrays of an npz (and those of `optional` it has), with a clear
    error if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in names if name not in npz.files]
            if missing:
                raise StageError(f"{path} lacks the arrays {missing}: it was written by "
                                 "another version of the pipeline; run `dvc repro --force`")
            return {name: npz[name] for name in (*names, *optional) if name in npz.files}
    except FileNotFoundError:
        raise StageError(f"{path} not found: run `dvc repro` to build it")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise StageError(f"{path} is corrupt or truncated ({error}); delete it and "
                         "run `dvc repro` again")


def review_chunks(path: str | Path, size: int) -> Iterator[list[str]]:
    """The reviews of a load output (`text` + `offsets`), `size` at a time, read from the
    file as they are needed: never the whole text in memory."""
    offsets = load_arrays(path, "offsets")["offsets"]
    try:
        with zipfile.ZipFile(path) as archive, archive.open("text.npy") as file:
            np.lib.format.read_magic(file)
            np.lib.format.read_array_header_1_0(file)
            for first in range(0, len(offsets) - 1, size):
                bounds = offsets[first:first + size + 1] - offsets[first]
                blob = file.read(int(bounds[-1]))
                yield [blob[a:b].decode("utf-8")
                       for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    except (KeyError, zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise StageError(f"{path} is corrupt or truncated ({error}); delete it and "
                         "run `dvc repro` again")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, data: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: str | Path, header: list[str], rows) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as file:
            file.write(",".join(header) + "\n")
            file.writelines(",".join(map(str, row)) + "\n" for row in rows)


# --- reviews ----------------------------------------------------------------------

def offsets(lengths) -> np.ndarray:
    """Where each of consecutive runs of these lengths starts, then where the last ends:
    run i is `flat[offsets[i]:offsets[i + 1]]`."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def pack_reviews(reviews: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reviews as one UTF-8 byte array plus offsets: compact, and no pickles."""
    encoded = [review.encode("utf-8") for review in reviews]
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets(list(map(len, encoded)))


def unpack_reviews(text: np.ndarray, offsets: np.ndarray) -> list[str]:
    blob = text.tobytes()
    return [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def stratified_split(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (rest, held out), each in shuffled order: `size` rows held out, with the
    same share of positive labels as all the rows, to within one row."""
    order = np.random.default_rng(seed).permutation(len(labels))
    positives = order[labels[order] == 1]
    negatives = order[labels[order] == 0]
    held_positives = round(size * len(positives) / len(labels))
    held = np.zeros(len(labels), dtype=bool)
    held[positives[:held_positives]] = True
    held[negatives[:size - held_positives]] = True
    return order[~held[order]], order[held[order]]


def held_out_count(size: int | float, rows: int, param: str, what: str) -> int:
    """A count or fraction param as a number of rows, leaving at least one on each side."""
    count = size if isinstance(size, int) else round(size * rows)
    if not 0 < count < rows:
        raise StageError(f"{param}={size} {'is' if isinstance(size, int) else 'gives'} "
                         f"{count} of the {rows} {what}; it must leave at least one on each "
                         f"side: set it to a count between 1 and {rows - 1}, or a fraction "
                         "such as 0.2")
    return count


def balance(labels: np.ndarray) -> str:
    """The class balance, as load and evaluate print it."""
    positives = int(labels.sum())
    return (f"{len(labels) - positives} negative, {positives} positive "
            f"({positives / max(len(labels), 1):.1%} positive)")


def check_labels(labels: np.ndarray, where: str) -> None:
    """Labels must be 0 (negative) or 1 (positive), with both present."""
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise StageError(f"{where}: labels must be 0 or 1, found "
                         f"{sorted(set(labels.tolist()))[:5]}")
    if len(np.unique(labels)) < 2:
        raise StageError(f"{where}: all {labels.size} reviews have the same label; "
                         "a sentiment model needs both positive and negative reviews")
