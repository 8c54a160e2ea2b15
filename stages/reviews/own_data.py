"""Your own labelled texts, for the load stage's `csv` and `folder` sources.

Rows are read one at a time and their texts spooled to an unnamed temporary
file (`Spool`), so that the texts are never all in memory; only labels and
byte offsets are. `load_own` then writes them as load's two arrays files,
ordered by label, then by where each text was in the data.

- `csv`: a CSV or TSV file with a header row; `text_column` and `label_column`
  name its columns (read by stages.reviews.csv_file).
- `folder`: `train|test/<label>/*.txt` (the aclImdb layout) or `<label>/*.txt`,
  the folder names read as labels.

`positive` and `negative` list the label values of each class; texts with any
other label are dropped and counted (or, with `other_labels: error`, refused).
"""

import os
import re
import tempfile
from array import array
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from stages.reviews.csv_file import csv_rows, delimiter_of
from stages.reviews.labels import describe_balance, held_out_count, stratified_split
from stages.reviews.raw import offsets
from stages.runner.files import Streamed, atomic_output, save_arrays
from stages.runner.process import StageError


class Spool:
    """Texts kept, as they are read, in an unnamed temporary file, with their 0/1 labels."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.ends = array("q", [0])  # text i is bytes ends[i]:ends[i + 1] of the file
        self.labels = bytearray()

    def add(self, text: str, label: int) -> None:
        data = text.encode("utf-8")
        self.file.write(data)
        self.ends.append(self.ends[-1] + len(data))
        self.labels.append(label)

    def texts(self, starts: np.ndarray, lengths: np.ndarray, chunk: int = 1 << 20) -> Streamed:
        """The texts at these byte ranges, one after another, as load's `text` array."""
        self.file.flush()

        def chunks():
            batch, size = [], 0
            for start, length in zip(starts.tolist(), lengths.tolist()):
                batch.append(os.pread(self.file.fileno(), length, start))
                size += length
                if size >= chunk:
                    yield b"".join(batch)
                    batch, size = [], 0
            yield b"".join(batch)

        return Streamed(int(lengths.sum()), chunks())

    def save(self, path: Path, rows) -> np.ndarray:
        """Write these rows to `path`, by label, then in the order they were read."""
        labels = np.frombuffer(self.labels, dtype=np.uint8)
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        rows = rows[np.argsort(labels[rows], kind="stable")]
        ends = np.frombuffer(self.ends, dtype=np.int64)
        starts, lengths = ends[rows], ends[rows + 1] - ends[rows]
        save_arrays(path, text=self.texts(starts, lengths), offsets=offsets(lengths),
                    labels=labels[rows])
        return labels[rows]


def natural(name: str) -> list:
    """Sort key that puts 9.txt before 10.txt."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def folder_files(root: Path, classes: "Classes", encoding: str,
                 other_labels: str) -> Iterator[tuple[str, str | None, str]]:
    """(label, text, where) of every `root/<label>/*.txt`, by class, then by folder and name.
    With `other_labels: drop`, files of other labels (aclImdb's unsup/) are not read."""
    def order(path: Path):
        return path.parent.name in classes.positive, path.parent.name, natural(path.name)

    files = sorted(root.glob("*/*.txt"), key=order)
    if not files:
        raise StageError(f"{root}/ has no .txt files in folders named by label "
                         f"({root}/pos/1.txt, {root}/neg/2.txt, …)")
    for file in files:
        label = file.parent.name
        if label not in classes.known and other_labels == "drop":
            yield label, None, str(file)
            continue
        try:
            yield label, file.read_text(encoding=encoding), str(file)
        except UnicodeDecodeError as error:
            raise StageError(f"{file} is not valid {encoding} text "
                             f"({error.reason}): set load.encoding to the files' encoding")


class Classes(NamedTuple):
    """The label values of each class, as the data writes them."""
    positive: set[str]
    negative: set[str]

    @property
    def known(self) -> set[str]:
        return self.positive | self.negative


def spool(rows: Iterator[tuple[str, str | None, str]], classes: Classes, other_labels: str,
          source: Path) -> tuple[Spool, Counter]:
    """The rows whose label is positive or negative, spooled; and how many rows had each label."""
    known = classes.known
    kept, found, first, empty = Spool(), Counter(), {}, []
    for label, content, where in rows:
        found[label] += 1
        first.setdefault(label, where)
        if label not in known:
            continue
        if not content.strip():
            empty.append(where)
        elif not empty:
            kept.add(content, label in classes.positive)
    others = {label: n for label, n in found.most_common() if label not in known}
    if others and other_labels == "error":
        raise StageError(
            f"{source}: {sum(others.values())} texts have labels in neither load.positive "
            "nor load.negative: " + ", ".join(f"{label!r} ({n}, first at {first[label]})"
                                              + near_miss(label, known)
                                              for label, n in list(others.items())[:5])
            + "; add each value to one of those lists, or set load.other_labels: drop")
    if others:
        print(f"{source}: dropped {sum(others.values())} texts labelled neither positive nor "
              "negative: " + ", ".join(f"{label!r} {n}{near_miss(label, known)}"
                                       for label, n in list(others.items())[:10]))
    if empty:
        raise StageError(f"{len(empty)} texts are empty ({'; '.join(empty[:3])}"
                         f"{'; …' if len(empty) > 3 else ''}): remove them or give them text")
    return kept, found


def near_miss(label: str, known: set[str]) -> str:
    """": did you mean 'positive'?" for a label that differs from a class's only in case or
    surrounding spaces; labels are matched exactly, so such a text is not that class's."""
    folded = label.strip().casefold()
    matches = sorted(value for value in known if value.strip().casefold() == folded)
    return f": did you mean {matches[0]!r}?" if matches else ""


def check_classes(kept: Spool, found: Counter, source: Path) -> None:
    labels = np.frombuffer(kept.labels, dtype=np.uint8)
    if len(np.unique(labels)) < 2:
        missing = "negative" if labels.size and labels.all() else "positive"
        raise StageError(
            f"{source}: no {missing} texts; the labels found are "
            + ", ".join(f"{label!r} ({n})" for label, n in found.most_common(10))
            + f": a sentiment model needs both classes; check load.{missing}")


class OwnData(NamedTuple):
    """The load params of a csv or folder source: stages.load.SCHEMA checks them, and gives
    the defaults of those params.yaml leaves out."""
    source: str
    path: str
    test_path: str
    test_size: float
    seed: int
    text_column: str
    label_column: str
    positive: list
    negative: list
    other_labels: str
    encoding: str
    delimiter: str | None


def train_test_parts(where: Path, source: str) -> dict[str | None, Path]:
    """The data's train and test parts (aclImdb's layout), or None: all of it."""
    if source == "csv":
        if where.is_dir():
            raise StageError(f"{where} is a folder; for texts in folders set load.source: folder")
        return {None: where}
    if not where.is_dir():
        raise StageError(f"{where} is not a folder; for a CSV file set load.source: csv")
    if (where / "train").is_dir():
        return {"train": where / "train", "test": where / "test"}
    return {None: where}


def read_labelled(where: Path, params: OwnData, classes: Classes,
                  like: Path | None = None) -> tuple[Spool, Counter]:
    """The positive and negative texts at `where`, spooled; and how many had each label.
    `like`: the training file, when `where` is the test file."""
    if params.source == "csv":
        rows = csv_rows(where, params.text_column, params.label_column, params.encoding,
                        params.delimiter, like)
    else:
        rows = folder_files(where, classes, params.encoding, params.other_labels)
    return spool(rows, classes, params.other_labels, where)


def load_own(params: OwnData, out: Path) -> None:
    """Write train.npz and test.npz from a csv or folder source."""
    path, test_path = Path(params.path), Path(params.test_path)
    for where in dict.fromkeys((path, test_path)):
        if not where.exists():
            raise StageError(f"{where} not found: put your data there and `dvc add {where}`, "
                             "or set load.path and load.test_path to where it is")
    classes = Classes({str(value).strip() for value in params.positive},
                      {str(value).strip() for value in params.negative})
    if classes.positive & classes.negative:
        raise StageError(f"{sorted(classes.positive & classes.negative)} are in both "
                         "load.positive and load.negative: give each label value one class")
    if test_path != path and os.path.samefile(path, test_path):
        print(f"load.test_path {test_path} is load.path {path} by another name: holding out "
              f"load.test_size ({params.test_size}) of it for the test set")
        test_path = path
    if (params.source == "csv" and test_path != path
            and delimiter_of(test_path, params.delimiter) is None):
        raise StageError(f"load.test_path is {test_path}, not a .csv or .tsv file: set it to "
                         f"load.path ({path}) to hold out load.test_size of it, or to a test "
                         "file of your own")
    print(f"reading {path}" + (f" and {test_path}" if test_path != path else ""))

    data = train_test_parts(path, params.source)
    if test_path != path:
        if set(data) != {None}:
            raise StageError(f"{path} has its own train/ and test/; set load.test_path "
                             "to load.path, or point load.path at its train/ folder")
        if set(train_test_parts(test_path, params.source)) != {None}:
            raise StageError(f"{test_path} has train/ and test/ folders; set load.test_path "
                             "to its test/ folder")
        data = {"train": path, "test": test_path}
    if set(data) == {"train", "test"}:
        train, train_labels = read_labelled(data["train"], params, classes)
        check_classes(train, train_labels, data["train"])
        test, test_labels = read_labelled(data["test"], params, classes, like=data["train"])
        unknown = set(test_labels) - set(train_labels) - classes.known
        if unknown:
            raise StageError(
                f"{data['test']}'s labels differ from {data['train']}'s: it has "
                + ", ".join(map(repr, sorted(unknown)[:5])) + ", which the training data "
                "has not (" + ", ".join(map(repr, sorted(train_labels)[:5]))
                + "); give both files the same label values")
        check_classes(test, test_labels, data["test"])
        splits = {"train": (train, np.arange(len(train.labels))),
                  "test": (test, np.arange(len(test.labels)))}
    else:
        texts, found = read_labelled(path, params, classes)
        check_classes(texts, found, path)
        labels = np.frombuffer(texts.labels, dtype=np.uint8)
        held = held_out_count(params.test_size, len(labels), "load.test_size", "labelled texts")
        train_rows, test_rows = stratified_split(labels, held, params.seed)
        splits = {"train": (texts, train_rows), "test": (texts, test_rows)}
    with atomic_output(out / "train.npz") as train_tmp, atomic_output(out / "test.npz") as test_tmp:
        for (split, (texts, rows)), tmp in zip(splits.items(), (train_tmp, test_tmp)):
            labels = texts.save(tmp, rows)
            print(f"{split}: {len(labels)} reviews, {describe_balance(labels)}")
