"""Load: read the labelled reviews and write them, with their labels, as arrays.

Writes `train.npz` and `test.npz` (reviews as UTF-8 bytes + offsets, labels
0 = negative, 1 = positive), ordered by label, then by where each review was
in the data, so the bytes are the same whichever copy of the dataset was read.

Sources (`load.source`), read from `load.path`, a DVC-tracked input:
- `aclimdb` (default): the IMDB reviews of Maas et al. (2011), as the official
  `aclImdb_v1.tar.gz`, the train/test-only `aclImdb_train_test.tar.gz`, or
  either extracted (the `aclImdb/` folder). Each is checked against the
  dataset's published checksums; `python -m stages.get_data` puts one in place.
- `csv`: a CSV or TSV file with a header row; `text_column` and `label_column`
  name its columns, `positive` and `negative` list the label values of each
  class, and rows with any other label are dropped (or, with
  `other_labels: error`, refused).
- `folder`: your own texts, `train|test/<label>/*.txt` (the aclImdb layout) or
  `<label>/*.txt`, the folder names read as labels like a CSV's.
- `keras`: `keras.datasets.imdb.load_data()`, the notebook's way; its word
  indices are turned back into (already tokenised) text. `path` is not read.

The test reviews come from `test_path`. When it is `path` itself, they are the
dataset's own (aclImdb's test/), or, for data with no test part, a seeded,
stratified `test_size` fraction of it.
"""

import argparse
import codecs
import csv
import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
import zlib
from array import array
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from stages.common import (
    SHORT_NAMES,
    Param,
    StageError,
    Streamed,
    atomic_output,
    balance,
    check_labels,
    choice,
    held_out_count,
    integer,
    labels_list,
    load_params,
    number,
    offsets,
    pack_reviews,
    save_arrays,
    stratified_split,
    text,
)
from stages.process import run


def known_encoding(name) -> bool:
    try:
        return isinstance(name, str) and codecs.lookup(name) is not None
    except LookupError:
        return False


def one_character(value) -> bool:
    return value is None or (isinstance(value, str) and len(value) == 1)


SCHEMA = {
    "source": choice("aclimdb", "csv", "folder", "keras"),
    "path": text(allowed="a file or folder, relative to the repository"),
    "test_path": text(allowed="the test file or folder, or the same as load.path"),
    # Only for csv and folder sources; params.yaml may leave them out.
    "test_size": number(0, 1, low_open=True, high_open=True, default=0.2),
    "seed": integer(0, default=42),
    "text_column": text("text"),
    "label_column": text("label"),
    "positive": labels_list(list(SHORT_NAMES[1:])),
    "negative": labels_list(list(SHORT_NAMES[:1])),
    "other_labels": choice("drop", "error", default="drop"),
    "encoding": Param(known_encoding, "a Python codec name, e.g. utf-8, cp1252, latin-1",
                      "utf-8"),
    "delimiter": Param(one_character, "null (from the suffix: .csv comma, .tsv tab) or one "
                       "character", None),
}

ARCHIVES = {  # the IMDB archives' sha256
    "aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    "aclImdb_train_test.tar.gz": "e58b7991ba3995648454bb588e3e6f9f5ccbb28d03a1092ec9b9fdedad749c75",
}
# An extracted aclImdb/ has no single file to hash: this is `reviews_sha256` of its
# 50,000 labelled reviews, which both archives hold byte for byte.
REVIEWS_SHA256 = "7fa89d3825423421cff7443c21cbabbe15691610030cc348a9d6dde85ea49673"
REVIEW = re.compile(r"(?:.*/)?(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
LABELS = {name: label for label, name in enumerate(SHORT_NAMES)}  # aclImdb's folders


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def reviews_sha256(files: list[tuple[str, bytes]]) -> str:
    """One hash of (name, content) pairs, whatever order they come in: sha256 over each
    `split/label/id_rating.txt` name, a NUL, the content's sha256 and a newline, by name."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


class NotPlainTar(Exception):
    """A tar header that plain_tar_files does not read (pax, GNU long names, …)."""


def plain_tar_files(data: bytes) -> list[tuple[str, bytes]]:
    """(name, content) of the regular files of an uncompressed ustar/GNU tar archive.

    A walk over the 512-byte headers, where `tarfile` would build a TarInfo
    object per member (benchmarks/README.md has both timings). Any other kind
    of header raises NotPlainTar, and `tarfile` reads the archive instead.
    """
    files, position = [], 0
    while (header := data[position:position + 512]) != bytes(512):  # to the end-of-archive block
        if len(header) < 512:
            raise tarfile.ReadError("unexpected end of data")
        kind, magic = header[156:157], header[257:265]
        if kind not in (b"0", b"\0", b"5") or magic not in (b"ustar\x0000", b"ustar  \0"):
            raise NotPlainTar(kind)
        try:
            size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        except ValueError:
            raise NotPlainTar("size")
        name = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0] if magic == b"ustar\x0000" else b""
        start, position = position + 512, position + 512 + -(-size // 512) * 512
        if start + size > len(data):
            raise tarfile.ReadError("unexpected end of data")
        if kind != b"5":
            files.append(((prefix + b"/" + name if prefix else name).decode("utf-8"),
                          data[start:start + size]))
    return files


def review_files(source: Path) -> list[tuple[str, bytes]]:
    """(`split/label/id_rating.txt`, content) of every labelled review in an archive or a
    folder in the aclImdb layout; other files (unsup/, READMEs, .feat) are skipped."""
    if source.is_dir():
        files = [(path.relative_to(source).as_posix(), path.read_bytes())
                 for path in source.glob("*/*/*.txt")]
    else:
        try:
            data = gzip.decompress(source.read_bytes())
            try:
                files = plain_tar_files(data)
            except NotPlainTar:
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    files = [(member.name, archive.extractfile(member).read())
                             for member in archive if member.isfile()]
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as error:
            raise StageError(f"cannot read {source} ({error}): it is corrupt, truncated or "
                             "not a .tar.gz archive; delete it and put the archive there again")
    return [(match.group(0)[match.start(1):], content) for name, content in files
            if (match := REVIEW.fullmatch(name))]


def check_archive(source: Path) -> None:
    if (actual := sha256(source)) not in ARCHIVES.values():
        raise StageError(
            f"{source} has sha256 {actual}, which is neither IMDB archive's (aclImdb_v1.tar.gz: "
            f"{ARCHIVES['aclImdb_v1.tar.gz'][:8]}…, aclImdb_train_test.tar.gz: "
            f"{ARCHIVES['aclImdb_train_test.tar.gz'][:8]}…): it is corrupt, truncated or "
            "not the IMDB archive; delete it and run `python -m stages.get_data`")


def check_folder(source: Path, files: list[tuple[str, bytes]]) -> None:
    if reviews_sha256(files) != REVIEWS_SHA256:
        raise StageError(
            f"{source}/ does not hold the IMDB reviews unaltered ({len(files)} review files, "
            "50,000 expected): extract aclImdb_v1.tar.gz or aclImdb_train_test.tar.gz again, "
            "or, for reviews of your own in this layout, set load.source to 'folder'")


def load_reviews(source: Path, check: bool) -> dict[str, tuple[list[str], np.ndarray]]:
    """The train and test reviews and labels under `source`, sorted by label, then id."""
    if not source.exists():
        raise StageError(f"{source} not found: run `python -m stages.get_data` (or `dvc pull`) "
                         "to put the dataset there, or set load.path to where it is")
    print(f"reading {source}")
    if check and not source.is_dir():  # the IMDB dataset unaltered: an archive by its sha256,
        check_archive(source)
    files = review_files(source)
    if check and source.is_dir():      # a folder by its reviews'
        check_folder(source, files)
    reviews = []
    for name, content in files:
        split, label, review_id, _rating = REVIEW.fullmatch(name).groups()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise StageError(f"{source}: {name} is not UTF-8 ({error})")
        reviews.append((split, LABELS[label], int(review_id), text))
    reviews.sort()  # by split, label, id: independent of file order
    return {split: ([r[3] for r in reviews if r[0] == split],
                    np.array([r[1] for r in reviews if r[0] == split], dtype=np.uint8))
            for split in ("train", "test")}


def load_keras() -> dict[str, tuple[list[str], np.ndarray]]:
    from keras.datasets import imdb  # imports TensorFlow: only for this source

    word_index = imdb.get_word_index()
    # load_data shifts each word's rank by index_from=3 (0 pad, 1 start, 2 unknown) and
    # keeps ids below num_words; num_words=None would drop the single rarest word.
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max(word_index.values()) + 4)
    words = {rank + 3: word for word, rank in word_index.items()}
    def to_text(ids):
        return " ".join(words[i] for i in ids if i in words)
    return {"train": ([to_text(s) for s in x_train], np.asarray(y_train, dtype=np.uint8)),
            "test": ([to_text(s) for s in x_test], np.asarray(y_test, dtype=np.uint8))}


# --- your own data: csv and folder ---------------------------------------------------
# Read row by row and spooled to a temporary file: the texts are never all in memory.

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


def bad_line(path: Path, encoding: str) -> str:
    """`, line N,` of the first line of `path` not valid in `encoding` (when lines can tell)."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return f", line {number},"
    return ""


def csv_rows(path: Path, params: dict) -> Iterator[tuple[str, str | None, str]]:
    """(label, text, where) of every row of a CSV or TSV file with a header row."""
    delimiter = params["delimiter"] or {".csv": ",", ".tsv": "\t"}.get(path.suffix.lower())
    if delimiter is None:
        raise StageError(f"{path}: a .csv or .tsv file was expected; name it so, or set "
                         "load.delimiter to the character between its fields")
    # utf-8-sig reads UTF-8 and drops the byte-order mark spreadsheets put first.
    encoding = params["encoding"]
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    csv.field_size_limit(2 ** 31 - 1)  # texts longer than csv's default 128 KB
    rows = 0
    try:
        with open(path, newline="", encoding=encoding) as file:
            reader = csv.reader(file, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise StageError(f"{path} is empty: it needs a header row naming its columns, "
                                 "then one row per text")
            columns = [name.strip() for name in header]
            for key in ("text_column", "label_column"):
                if params[key] not in columns:
                    raise StageError(
                        f"{path} has no column {params[key]!r} (load.{key}); its columns are "
                        + ", ".join(map(repr, columns)) + f": set load.{key} to one of them")
            text_at = columns.index(params["text_column"])
            label_at = columns.index(params["label_column"])
            line = reader.line_num + 1  # where the next row starts
            for row in reader:
                if row and len(row) != len(columns):
                    raise StageError(
                        f"{path}, line {line}: {len(row)} fields, but the header has "
                        f"{len(columns)}; a field with {delimiter!r}, a quote or a line break "
                        'in it must be in double quotes ("like, this")')
                if row:  # not a blank line
                    rows += 1
                    yield row[label_at].strip(), row[text_at], f"{path}, line {line}"
                line = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise StageError(f"{path}{bad_line(path, encoding)} is not valid {params['encoding']} "
                         f"text ({error.reason}): set load.encoding to the file's encoding "
                         "(cp1252 and latin-1 are common for spreadsheets' exports)")
    except csv.Error as error:
        raise StageError(f"{path}, line {reader.line_num}: {error}")
    if not rows:
        raise StageError(f"{path} has a header row but no rows of data")


def folder_files(root: Path, params: dict,
                 classes: "Classes") -> Iterator[tuple[str, str | None, str]]:
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
        if label not in classes.known and params["other_labels"] == "drop":
            yield label, None, str(file)
            continue
        try:
            yield label, file.read_text(encoding=params["encoding"]), str(file)
        except UnicodeDecodeError as error:
            raise StageError(f"{file} is not valid {params['encoding']} text "
                             f"({error.reason}): set load.encoding to the files' encoding")


class Classes(NamedTuple):
    """The label values of each class, as the data writes them."""
    positive: set[str]
    negative: set[str]

    @property
    def known(self) -> set[str]:
        return self.positive | self.negative


def spool(rows: Iterator[tuple[str, str | None, str]], params: dict, classes: Classes,
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
    if others and params["other_labels"] == "error":
        raise StageError(
            f"{source}: {sum(others.values())} texts have labels in neither load.positive "
            "nor load.negative: " + ", ".join(f"{label!r} ({n}, first at {first[label]})"
                                              for label, n in list(others.items())[:5])
            + "; add each value to one of those lists, or set load.other_labels: drop")
    if others:
        print(f"{source}: dropped {sum(others.values())} texts labelled neither positive nor "
              "negative: " + ", ".join(f"{label!r} {n}" for label, n in list(others.items())[:10]))
    if empty:
        raise StageError(f"{len(empty)} texts are empty ({'; '.join(empty[:3])}"
                         f"{'; …' if len(empty) > 3 else ''}): remove them or give them text")
    return kept, found


def check_classes(kept: Spool, found: Counter, source: Path) -> None:
    labels = np.frombuffer(kept.labels, dtype=np.uint8)
    if len(np.unique(labels)) < 2:
        missing = "negative" if labels.size and labels.all() else "positive"
        raise StageError(
            f"{source}: no {missing} texts; the labels found are "
            + ", ".join(f"{label!r} ({n})" for label, n in found.most_common(10))
            + f": a sentiment model needs both classes; check load.{missing}")


def load_own(params: dict, out: Path) -> None:
    """Write train.npz and test.npz from a csv or folder source."""
    path, test_path = Path(params["path"]), Path(params["test_path"])
    for where in dict.fromkeys((path, test_path)):
        if not where.exists():
            raise StageError(f"{where} not found: put your data there and `dvc add {where}`, "
                             "or set load.path and load.test_path to where it is")
    classes = Classes(*({str(value).strip() for value in params[name]}
                        for name in ("positive", "negative")))
    if classes.positive & classes.negative:
        raise StageError(f"{sorted(classes.positive & classes.negative)} are in both "
                         "load.positive and load.negative: give each label value one class")
    print(f"reading {path}" + (f" and {test_path}" if test_path != path else ""))

    def parts(where: Path) -> dict[str | None, Path]:
        """The data's train and test parts (aclImdb's layout), or None: all of it."""
        if params["source"] == "csv":
            if where.is_dir():
                raise StageError(f"{where} is a folder; for texts in folders set "
                                 "load.source: folder")
            return {None: where}
        if not where.is_dir():
            raise StageError(f"{where} is not a folder; for a CSV file set load.source: csv")
        if (where / "train").is_dir():
            return {"train": where / "train", "test": where / "test"}
        return {None: where}

    def read(where: Path) -> Iterator[tuple[str, str | None, str]]:
        if params["source"] == "csv":
            return csv_rows(where, params)
        return folder_files(where, params, classes)

    data = parts(path)
    if test_path != path:
        if set(data) != {None}:
            raise StageError(f"{path} has its own train/ and test/; set load.test_path "
                             "to load.path, or point load.path at its train/ folder")
        if set(parts(test_path)) != {None}:
            raise StageError(f"{test_path} has train/ and test/ folders; set load.test_path "
                             "to its test/ folder")
        data = {"train": path, "test": test_path}
    if set(data) == {"train", "test"}:
        train, train_labels = spool(read(data["train"]), params, classes, data["train"])
        check_classes(train, train_labels, data["train"])
        test, test_labels = spool(read(data["test"]), params, classes, data["test"])
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
        texts, found = spool(read(data[None]), params, classes, path)
        check_classes(texts, found, path)
        labels = np.frombuffer(texts.labels, dtype=np.uint8)
        held = held_out_count(params["test_size"], len(labels), "load.test_size", "labelled texts")
        train_rows, test_rows = stratified_split(labels, held, params["seed"])
        splits = {"train": (texts, train_rows), "test": (texts, test_rows)}
    with atomic_output(out / "train.npz") as train_tmp, atomic_output(out / "test.npz") as test_tmp:
        for (split, (texts, rows)), tmp in zip(splits.items(), (train_tmp, test_tmp)):
            labels = texts.save(tmp, rows)
            print(f"{split}: {len(labels)} reviews, {balance(labels)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the dataset: an archive, a folder or a CSV/TSV")
    parser.add_argument("test_path", type=Path, help="the test set, or the same as path")
    parser.add_argument("out", type=Path, help="folder for train.npz and test.npz")
    args = parser.parse_args()
    params = load_params("load", SCHEMA)
    params.update(path=str(args.path), test_path=str(args.test_path))

    if params["source"] in ("aclimdb", "keras") and args.test_path != args.path:
        raise StageError(f"load.source {params['source']} brings its own test reviews: "
                         "set load.test_path to the same value as load.path")
    if params["source"] in ("csv", "folder"):
        return load_own(params, args.out)
    if params["source"] == "keras":
        splits = load_keras()
    else:
        splits = load_reviews(args.path, check=True)
    for split, (reviews, labels) in splits.items():
        if not reviews:
            raise StageError(f"the {params['source']} source has no {split} reviews")
        empty = sum(1 for review in reviews if not review.strip())
        if empty:
            raise StageError(f"{empty} {split} reviews are empty")
        check_labels(labels, f"{split} reviews")
    for split, (reviews, labels) in splits.items():
        text, offsets = pack_reviews(reviews)
        save_arrays(args.out / f"{split}.npz", text=text, offsets=offsets, labels=labels)
        print(f"{split}: {len(reviews)} reviews, {balance(labels)}")


if __name__ == "__main__":
    run(main)
