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


def save_model(model: keras.Model, path: Path) -> None:
    """`model.save`, but the same weights always give the same bytes (and DVC hash).

    Keras stamps the save time into `metadata.json` and into the zip entry of
    the weights, and numbers objects shared between layers (the dtype policy)
    in `config.json` by their memory address. The file is rewritten without
    the date, those numbers counted from 0, every entry dated 1980-01-01, in
    a fixed order; `keras.saving.load_model` reads it as usual.
    """
    with atomic_output(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as saved:
            members = {info.filename: (saved.read(info), info.compress_type)
                       for info in saved.infolist()}
        metadata = json.loads(members["metadata.json"][0])
        metadata.pop("date_saved", None)
        members["metadata.json"] = (json.dumps(metadata).encode(), members["metadata.json"][1])
        config = renumber_shared_objects(json.loads(members["config.json"][0]), {})
        members["config.json"] = (json.dumps(config).encode(), members["config.json"][1])
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(members):
                data, compression = members[name]
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = compression
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)


def renumber_shared_objects(config, numbers: dict):
    """`config` with each `shared_object_id` replaced by 0, 1, ... in order of first use."""
    if isinstance(config, list):
        return [renumber_shared_objects(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    return {key: numbers.setdefault(value, len(numbers)) if key == "shared_object_id"
            else renumber_shared_objects(value, numbers) for key, value in config.items()}


def sparse_batches(vectors: Vectors, labels: np.ndarray | None, batch_size: int,
                   seed: int | None = None) -> tf.data.Dataset:
    """Batches of sparse rows, with labels if given; reshuffled every epoch if `seed` is given.

    With a seed, the order is the same on every run (as with Keras's own
    `shuffle=True` on NumPy input, but reproducible).
    """
    # The CSR arrays as ragged tensors: row i holds the columns (and values) of review i.
    columns = tf.RaggedTensor.from_row_splits(vectors.indices.astype(np.int64), vectors.indptr)
    values = None if vectors.values is None else tf.RaggedTensor.from_row_splits(
        vectors.values, vectors.indptr)
    targets = None if labels is None else tf.constant(labels, dtype=tf.float32)

    def to_sparse(rows):
        picked = tf.gather(columns, rows)
        x = tf.SparseTensor(tf.stack([picked.value_rowids(), picked.values], axis=1),
                            tf.ones_like(picked.values, dtype=tf.float32) if values is None
                            else tf.gather(values, rows).values,
                            [tf.size(rows, out_type=tf.int64), vectors.num_words])
        return (x,) if targets is None else (x, tf.gather(targets, rows))

    rows = tf.data.Dataset.range(len(vectors))
    if seed is not None:
        rows = rows.shuffle(len(vectors), seed=seed, reshuffle_each_iteration=True)
    return rows.batch(batch_size).map(to_sparse).prefetch(2)
