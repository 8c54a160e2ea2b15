"""Keras's side of the vectors: the saved model, and batches of sparse rows.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB, and a
batch of 512 × 100,000 n-grams 200 MB. So the vectors never become dense:
they go to TensorFlow once, as ragged tensors of column ids (and values),
and a tf.data pipeline shuffles and gathers them into `tf.SparseTensor`
batches in C++ on the second core while Keras trains on the first. The
model's first Dense layer multiplies the sparse batch by its kernel, which
is exactly Dense on the dense rows, at the cost of the nonzero entries only.

The only module that imports TensorFlow: importing it here first keeps
TensorFlow's start-up banners off the terminal (IMDB_TF_LOGS=1 shows them).
"""

import json
import os
import sys
import zipfile
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

from stages.common import StageError, atomic_output
from stages.text import Vectors

TF_LOGS = os.environ.get("IMDB_TF_LOGS", "") not in ("", "0")


@contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to stderr (file descriptor 2) to the null device.

    TensorFlow's absl and oneDNN lines are written by C++ while it loads, so
    TF_CPP_MIN_LOG_LEVEL cannot stop them. Python's own errors still show:
    they are printed after this block, when stderr is back.
    """
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


if not TF_LOGS:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # and no info lines later on
with nullcontext() if TF_LOGS else native_stderr_silenced():
    import keras
    import tensorflow as tf


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


class SparseDense(keras.layers.Dense):
    """`Dense` on a sparse batch, computed as one sparse × dense matrix product.

    Keras's own `Dense` reads a `tf.SparseTensor` through an embedding
    lookup whose gradient makes a training step about twice as slow; the
    product is the same. For training only: `save_model` writes Keras's
    `Dense` in its place, so the saved model needs none of this code.
    """

    def call(self, inputs):
        if not isinstance(inputs, tf.SparseTensor):
            return super().call(inputs)
        outputs = tf.sparse.sparse_dense_matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)


def portable(model: keras.Sequential) -> keras.Sequential:
    """The same network and weights with Keras's own layers only (`Dense` for `SparseDense`),
    compiled with the same loss, metrics and optimizer (its state included): what any Keras
    can load, and go on training."""
    plain = keras.Sequential([keras.Input(shape=model.input_shape[1:], sparse=True,
                                          name="reviews")] + [
        (keras.layers.Dense if isinstance(layer, SparseDense) else type(layer)).from_config(
            layer.get_config()) for layer in model.layers], name=model.name)
    plain.set_weights(model.get_weights())
    plain.compile(optimizer=model.optimizer, loss=model.loss,
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    return plain


def save_model(model: keras.Model, path: Path) -> None:
    """`portable(model).save`, but the same weights always give the same bytes (and DVC hash).

    Keras stamps the save time into `metadata.json` and into the zip entry of
    the weights, and numbers objects that layers share (a dtype policy, a
    regularizer) in `config.json` by their memory address. `portable` builds
    every layer from its own config, so none is shared; the file is rewritten
    without the date, every entry dated 1980-01-01, in a fixed order.
    `keras.saving.load_model` reads it as usual.
    """
    with atomic_output(path) as tmp:
        portable(model).save(tmp)
        with zipfile.ZipFile(tmp) as saved:
            members = {info.filename: (saved.read(info), info.compress_type)
                       for info in saved.infolist()}
        metadata = json.loads(members["metadata.json"][0])
        metadata.pop("date_saved", None)
        members["metadata.json"] = (json.dumps(metadata).encode(), members["metadata.json"][1])
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(members):
                data, compression = members[name]
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = compression
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)


def sparse_batches(vectors: Vectors, labels: np.ndarray | None, batch_size: int,
                   seed: int | None = None) -> tf.data.Dataset:
    """Batches of sparse rows, with labels if given; reshuffled every epoch if `seed` is given.

    With a seed, the order is the same on every run (as with Keras's own
    `shuffle=True` on NumPy input, but reproducible).
    """
    # The CSR arrays as ragged tensors: row i holds the columns (and values) of review i.
    # int32 column ids, widened batch by batch: half the memory of int64 for all reviews.
    row_splits = tf.constant(vectors.indptr, dtype=tf.int64)
    columns = tf.RaggedTensor.from_row_splits(vectors.indices.astype(np.int32, copy=False),
                                              row_splits, validate=False)
    values = None if vectors.values is None else tf.RaggedTensor.from_row_splits(
        vectors.values, row_splits, validate=False)
    targets = None if labels is None else tf.constant(labels, dtype=tf.float32)

    def to_sparse(rows):
        picked = tf.gather(columns, rows)
        x = tf.SparseTensor(tf.stack([picked.value_rowids(), tf.cast(picked.values, tf.int64)],
                                     axis=1),
                            tf.ones_like(picked.values, dtype=tf.float32) if values is None
                            else tf.gather(values, rows).values,
                            [tf.size(rows, out_type=tf.int64), vectors.num_words])
        return (x,) if targets is None else (x, tf.gather(targets, rows))

    rows = tf.data.Dataset.range(len(vectors))
    if seed is not None:
        rows = rows.shuffle(len(vectors), seed=seed, reshuffle_each_iteration=True)
    return rows.batch(batch_size).map(to_sparse).prefetch(2)
