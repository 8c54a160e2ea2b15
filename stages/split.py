"""Split: carve the validation set from the training reviews with a seeded, stratified shuffle.

The raw reviews come ordered by label, so a plain slice (the notebook's
`x_train[:10000]` on Keras's pre-shuffled copy) would here be all negative.
The shuffle is stratified: the validation set gets the same share of
positive reviews as the training reviews, to within one review.
"""

import argparse
from pathlib import Path

import numpy as np

from stages.reviews.labels import (
    check_labels,
    describe_balance,
    held_out_count,
    stratified_split,
)
from stages.runner.command import run
from stages.runner.params import count_or_fraction, integer, load_params
from stages.vectors.sparse import load_vectors, save_vectors

SCHEMA = {"val_size": count_or_fraction(), "seed": integer(0)}


def split_indices(labels: np.ndarray, val_size: int | float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation), each in shuffled order; `val_size` is a count of
    reviews or a fraction of them."""
    count = held_out_count(val_size, len(labels), "split.val_size", "training reviews")
    return stratified_split(labels, count, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vectors", type=Path, help="train.npz from vectorize")
    parser.add_argument("out", type=Path, help="folder for train.npz and val.npz")
    args = parser.parse_args()
    params = load_params("split", SCHEMA)

    vectors, labels = load_vectors(args.vectors)
    train_rows, val_rows = split_indices(labels, params["val_size"], params["seed"])
    assert len(train_rows) + len(val_rows) == len(labels)
    for name, rows in (("train", train_rows), ("val", val_rows)):
        check_labels(labels[rows], f"the {name} part of the split")
    for name, rows in (("train", train_rows), ("val", val_rows)):
        save_vectors(args.out / f"{name}.npz", vectors.take(rows), labels[rows])
        print(f"{name}: {len(rows)} reviews, {describe_balance(labels[rows])}")


if __name__ == "__main__":
    run(main)
