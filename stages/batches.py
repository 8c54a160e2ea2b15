"""Feeding multi-hot vectors to Keras one dense batch at a time, inside TensorFlow.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB; a batch
of 512 is 20 MB. The vectors go to TensorFlow once, as a SparseTensor, and a
tf.data pipeline shuffles, batches and densifies them in C++ on the second
core while Keras trains on the first — faster than a Python `PyDataset`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: fewer banners

import numpy as np
import tensorflow as tf

from stages.text import MultiHot


def multi_hot_batches(vectors: MultiHot, labels: np.ndarray | None, batch_size: int,
                      seed: int | None = None) -> tf.data.Dataset:
    """Batches of dense rows, with labels if given; reshuffled every epoch if `seed` is given.

    With a seed, the order is the same on every run (as with Keras's own
    `shuffle=True` on NumPy input, but reproducible).
    """
    rows = np.repeat(np.arange(len(vectors)), np.diff(vectors.indptr))
    sparse = tf.sparse.SparseTensor(
        indices=np.stack([rows, vectors.indices.astype(np.int64)], axis=1),
        values=tf.ones(len(rows), dtype=tf.float32),
        dense_shape=(len(vectors), vectors.num_words))
    elements = sparse if labels is None else (sparse, labels.astype(np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if seed is not None:
        dataset = dataset.shuffle(len(vectors), seed=seed, reshuffle_each_iteration=True)
    densify = lambda x, *y: (tf.sparse.to_dense(x), *y)
    return dataset.batch(batch_size).map(densify).prefetch(tf.data.AUTOTUNE)
