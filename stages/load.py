"""Load: read the labelled reviews and write them, with their labels, as arrays.

Writes `train.npz` and `test.npz` (reviews as UTF-8 bytes + offsets, labels
0 = negative, 1 = positive), ordered by label, then by where each review was
in the data, so the bytes are the same whichever copy of the dataset was read.

Sources (`load.source`), read from `load.path`, a DVC-tracked input:
- `aclimdb` (default): the IMDB reviews of Maas et al. (2011), as the official
  `aclImdb_v1.tar.gz`, the train/test-only `aclImdb_train_test.tar.gz`, or
  either extracted (the `aclImdb/` folder). Each is checked against the
  dataset's published checksums; `python -m stages.get_data` puts one in place.
  Read by stages.reviews.imdb.
- `keras`: `keras.datasets.imdb.load_data()`, the notebook's way; its word
  indices are turned back into (already tokenised) text. `path` is not read.
- `csv`: a CSV or TSV file of your own, with a header row; `folder`: your own
  texts in folders named by label. Read, a row at a time, by stages.reviews.own_data.

The test reviews come from `test_path`. When it is `path` itself, they are the
dataset's own (aclImdb's test/), or, for data with no test part, a seeded,
stratified `test_size` fraction of it.
"""

import argparse
import codecs
import os
from pathlib import Path

from stages.reviews.imdb import load_keras, load_reviews
from stages.reviews.labels import SHORT_NAMES, check_labels, describe_balance
from stages.reviews.own_data import OwnData, load_own
from stages.reviews.raw import pack_reviews
from stages.runner.command import run
from stages.runner.files import save_arrays
from stages.runner.params import (
    Param,
    choice,
    integer,
    labels_list,
    load_params,
    nonempty_text,
    number,
)
from stages.runner.process import StageError


def known_encoding(name) -> bool:
    try:
        return isinstance(name, str) and codecs.lookup(name) is not None
    except LookupError:
        return False


def one_character(value) -> bool:
    return value is None or (isinstance(value, str) and len(value) == 1)


SCHEMA = {
    "source": choice("aclimdb", "csv", "folder", "keras"),
    "path": nonempty_text(allowed="a file or folder, relative to the repository"),
    "test_path": nonempty_text(allowed="the test file or folder, or the same as load.path"),
    # Only for csv and folder sources; params.yaml may leave them out.
    "test_size": number(0, 1, low_open=True, high_open=True, default=0.2),
    "seed": integer(0, default=42),
    "text_column": nonempty_text("text"),
    "label_column": nonempty_text("label"),
    "positive": labels_list(list(SHORT_NAMES[1:])),
    "negative": labels_list(list(SHORT_NAMES[:1])),
    "other_labels": choice("drop", "error", default="drop"),
    "encoding": Param(known_encoding, "a Python codec name, e.g. utf-8, cp1252, latin-1",
                      "utf-8"),
    "delimiter": Param(one_character, "null (from the suffix: .csv comma, .tsv tab) or one "
                       "character", None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the dataset: an archive, a folder or a CSV/TSV")
    parser.add_argument("test_path", type=Path, help="the test set, or the same as path")
    parser.add_argument("out", type=Path, help="folder for train.npz and test.npz")
    args = parser.parse_args()
    params = load_params("load", SCHEMA)
    params.update(path=str(args.path), test_path=str(args.test_path))

    same_file = args.test_path == args.path or (
        args.path.exists() and args.test_path.exists() and os.path.samefile(args.path,
                                                                            args.test_path))
    if params["source"] in ("aclimdb", "keras") and not same_file:
        raise StageError(f"load.source {params['source']} brings its own test reviews: "
                         "set load.test_path to the same value as load.path")
    if params["source"] in ("csv", "folder"):
        return load_own(OwnData(**params), args.out)
    if params["source"] == "keras":
        splits = load_keras()
    else:
        splits = load_reviews(args.path)
    for split, (reviews, labels) in splits.items():
        if not reviews:
            raise StageError(f"the {params['source']} source has no {split} reviews")
        empty = sum(1 for review in reviews if not review.strip())
        if empty:
            raise StageError(f"{empty} {split} reviews are empty")
        check_labels(labels, f"{split} reviews")
    for split, (reviews, labels) in splits.items():
        utf8, ends = pack_reviews(reviews)
        save_arrays(args.out / f"{split}.npz", text=utf8, offsets=ends, labels=labels)
        print(f"{split}: {len(reviews)} reviews, {describe_balance(labels)}")


if __name__ == "__main__":
    run(main)
