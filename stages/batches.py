"""Keras's side of the vectors: the saved model, and batches fed one dense batch at a time.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB; a batch
of 512 is 20 MB. The vectors go to TensorFlow once, as a ragged tensor of word ids, and a
tf.data pipeline shuffles, gathers and densifies them in C++ on the second
core while Keras trains on the first — faster than a Python `PyDataset`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: fewer banners

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from stages.common import StageError
from stages.text import MultiHot


def load_model(path: Path, num_words: int, vectors_from: str) -> keras.Model:
    """The trained model, checked to take vectors of `num_words` words."""
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise StageError(f"cannot load the model {path} ({error}); "
                         "run `dvc repro --force train`")
    if model.input_shape[-1] != num_words:
        raise StageError(f"{path} takes {model.input_shape[-1]} words but {vectors_from} has "
                         f"{num_words}: run `dvc repro` to bring them back in step")
    return model


def multi_hot_batches(vectors: MultiHot, labels: np.ndarray | None, batch_size: int,
                      seed: int | None = None) -> tf.data.Dataset:
    """Batches of dense rows, with labels if given; reshuffled every epoch if `seed` is given.

    With a seed, the order is the same on every run (as with Keras's own
    `shuffle=True` on NumPy input, but reproducible).
    """
    # The CSR arrays as one ragged tensor: row i holds the word ids of review i.
    words = tf.RaggedTensor.from_row_splits(vectors.indices.astype(np.int64), vectors.indptr)
    targets = None if labels is None else tf.constant(labels, dtype=tf.float32)

    def densify(rows):
        picked = tf.gather(words, rows)
        ones = tf.SparseTensor(tf.stack([picked.value_rowids(), picked.values], axis=1),
                               tf.ones_like(picked.values, dtype=tf.float32),
                               [tf.size(rows, out_type=tf.int64), vectors.num_words])
        x = tf.sparse.to_dense(ones)
        return (x,) if targets is None else (x, tf.gather(targets, rows))

    rows = tf.data.Dataset.range(len(vectors))
    if seed is not None:
        rows = rows.shuffle(len(vectors), seed=seed, reshuffle_each_iteration=True)
    return rows.batch(batch_size).map(densify).prefetch(2)
