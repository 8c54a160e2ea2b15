"""The network in Keras: built, fitted on batches of sparse rows, saved and loaded.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB, and a
batch of 512 × 100,000 n-grams 200 MB. So the vectors never become dense:
they go to TensorFlow once, as ragged tensors of column ids (and values),
and a tf.data pipeline shuffles and gathers them into `tf.SparseTensor`
batches in C++ on the second core while Keras trains on the first. The
model's first Dense layer multiplies the sparse batch by its kernel, which
is exactly Dense on the dense rows, at the cost of the nonzero entries only.

The model that train saves reads raw text: `text_model` puts the vectorize
stage's encoding, as Keras layers (stages.vectorizer), in front of the
trained network, so that `models/model.keras` takes a batch of reviews and
returns their probabilities, with no code of this project but one function.

TensorFlow loads quietly (stages.process.import_keras). Stages import this
module inside main(), once their input is checked and their figure-drawing
process is started (see stages.figures.artist).
"""

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from stages.common import FixedZip, StageError, atomic_output
from stages.process import import_keras, raise_if_stopped
from stages.text import Vectors, Vocab

keras, tf = import_keras()
from stages.vectorizer import text_vectorizer  # noqa: E402  (registers `standardize` with Keras)


def build_model(num_words: int, hidden_units=(16, 16), activation="relu", dropout=0.0, l2=0.0,
                optimizer="rmsprop", learning_rate=0.001, loss="binary_crossentropy",
                seed=0) -> keras.Sequential:
    """The notebook's network, compiled: by default Dense(16, relu) → Dense(16, relu) →
    Dense(1, sigmoid), rmsprop, binary cross-entropy. Its starting weights (and dropout
    seeds) follow from `seed`."""
    keras.utils.set_random_seed(seed)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    # The input is sparse, and every Dense layer is SparseDense (below): the first one
    # computes Dense's product from the nonzero entries only.
    model = keras.Sequential(name="sentiment")
    model.add(keras.Input(shape=(num_words,), sparse=True, name="reviews"))
    for i, units in enumerate(hidden_units, start=1):
        model.add(SparseDense(units, activation=activation, kernel_regularizer=regularizer,
                              name=f"hidden_{i}"))
        if dropout:
            model.add(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    model.add(SparseDense(1, activation="sigmoid", name="output"))

    optimizer = keras.optimizers.get({"class_name": optimizer,
                                      "config": {"learning_rate": learning_rate}})
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    optimizer.build(model.trainable_variables)  # its slots exist now: `state` covers them
    return model


def fit(model: keras.Model, batches: tf.data.Dataset, epochs: int,
        validation: tf.data.Dataset | None = None, callbacks=()) -> dict:
    """`model.fit` on sparse batches (`SparseReviews.batches`); the per-epoch history."""
    return model.fit(batches, validation_data=validation, epochs=epochs,
                     shuffle=False,  # the batches are shuffled already, seeded
                     callbacks=[*callbacks, STOP_ON_SIGNAL], verbose=2).history


# Stops at the end of the epoch in which Ctrl-C or SIGTERM came, should TensorFlow have
# swallowed the KeyboardInterrupt it raised (stages.process.raise_if_stopped).
STOP_ON_SIGNAL = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: raise_if_stopped())


def variables(model: keras.Model) -> list:
    """Every variable of the model and its optimizer: weights, dropout seeds, the
    optimizer's slots and step count."""
    return model.variables + model.optimizer.variables


def state(model: keras.Model) -> list[np.ndarray]:
    """The values of `variables(model)`: `restore(model, state(model))` later puts the
    model back where it was, to fit again from the same start."""
    return [variable.numpy() for variable in variables(model)]


def restore(model: keras.Model, values: list[np.ndarray]) -> None:
    for variable, value in zip(variables(model), values, strict=True):
        variable.assign(value)


def load_model(path: Path) -> keras.Sequential:
    """The model train saved: raw reviews in (its first layer the vectorizer), probabilities out."""
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise StageError(f"cannot load the model {path} ({error}); "
                         "run `dvc repro --force train`")
    if not (model.layers and isinstance(model.layers[0], keras.layers.TextVectorization)):
        raise StageError(f"{path} does not read raw text (a model of an older version of the "
                         "pipeline?): run `dvc repro --force train`")
    return model


def text_model(network: keras.Sequential, vocab: Vocab) -> keras.Sequential:
    """Raw reviews in, probabilities out: `text_vectorizer(vocab)`, then the network's
    layers as Keras's own (`Dense` for `SparseDense`) with its weights, compiled with its
    loss and a new optimizer of its kind, as any Keras can load and train further.

    The vectorizer's column 0 counts the terms outside the vocabulary, which the
    network never saw: the first layer's kernel gets a row of zeros for it, so that
    the model computes exactly what the network does on the vectorize stage's vectors.
    """
    layers = [(keras.layers.Dense if isinstance(layer, SparseDense) else type(layer)).from_config(
        layer.get_config()) for layer in network.layers]
    model = keras.Sequential([keras.Input(shape=(), dtype="string", name="review"),
                              text_vectorizer(vocab), *layers], name=network.name)
    kernel, *bias = network.layers[0].get_weights()
    layers[0].set_weights([np.vstack([np.zeros_like(kernel[:1]), kernel]), *bias])
    for layer, trained in zip(layers[1:], network.layers[1:]):
        layer.set_weights(trained.get_weights())
    optimizer = type(network.optimizer).from_config(network.optimizer.get_config())
    model.compile(optimizer=optimizer, loss=network.loss,
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    optimizer.build(model.trainable_variables)  # saved with its slots: loads without a warning
    optimizer.iterations.assign(network.optimizer.iterations)  # the steps it was trained for
    return model


def vector_network(model: keras.Sequential, vectors: Vectors,
                   vectors_from: str) -> tuple[keras.Sequential, Vectors]:
    """The network inside a text model, and `vectors` as it reads them: the vectorizer's
    column 0 (terms outside the vocabulary, zero weight) comes first."""
    width = model.layers[0].vocabulary_size()
    if width != vectors.num_words + 1:
        raise StageError(f"the model knows {width - 1} terms but {vectors_from} has "
                         f"{vectors.num_words}: run `dvc repro` to bring them back in step")
    network = keras.Sequential([keras.Input(shape=(width,), sparse=True, name="vectors"),
                                *model.layers[1:]])
    # Column ids keep the most compact type that holds them: 2 bytes each up to 65,536 columns.
    shifted = Vectors(vectors.indices.astype(np.min_scalar_type(width - 1)) + 1, vectors.indptr,
                      width, vectors.values)
    return network, shifted


class SparseDense(keras.layers.Dense):
    """`Dense` on a sparse batch, computed as one sparse × dense matrix product.

    Keras's own `Dense` reads a `tf.SparseTensor` through an embedding
    lookup, whose gradient costs more (benchmarks/README.md); the product is
    the same. For training only: `save_model` writes Keras's
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


SHARED_OBJECT = re.compile(rb'"shared_object_id": (\d+)')


def save_model(model: keras.Model, path: Path) -> None:
    """`model.save`, but the same weights always give the same bytes (and DVC hash).

    Keras stamps the save time into `metadata.json` and into the zip entry of
    the weights, and numbers objects that layers share (a dtype policy, a
    regularizer) in `config.json` by their memory address. `text_model` and
    `portable` build every layer from its own config, so that layers share
    nothing; what Keras still numbers (the model's own dtype policy, in a text
    model) is numbered 1, 2, … in order of appearance instead. The file is
    rewritten without the date, every entry dated 1980-01-01, in a fixed order.
    `keras.saving.load_model` reads it as usual.
    """
    with atomic_output(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as saved:
            members = {info.filename: (saved.read(info), info.compress_type)
                       for info in saved.infolist()}
        metadata = json.loads(members["metadata.json"][0])
        metadata.pop("date_saved", None)
        members["metadata.json"] = (json.dumps(metadata).encode(), members["metadata.json"][1])
        config, compression = members["config.json"]
        numbers: dict[bytes, int] = {}  # memory address -> 1, 2, … in order of appearance
        config = SHARED_OBJECT.sub(lambda match: b'"shared_object_id": %d' % numbers.setdefault(
            match[1], len(numbers) + 1), config)
        members["config.json"] = (config, compression)
        with FixedZip(tmp) as archive:
            for name in sorted(members):
                data, compression = members[name]
                archive.write(name, data, compression, mode=0o644)


class SparseReviews:
    """Review vectors (and their labels) in TensorFlow, held once: `batches` gathers any
    range of their rows into `tf.SparseTensor` batches, so that the fit, its validation
    and the refit all read the same copy.

    The CSR arrays become ragged tensors: row i holds the column ids (and values) of
    review i. The column ids keep their compact type (uint16 for a vocabulary up to
    65,536 terms, else int32) and are widened batch by batch: TensorFlow holds 2 bytes
    per entry.
    """

    def __init__(self, vectors: Vectors, labels: np.ndarray | None = None):
        indices = vectors.indices
        if indices.dtype.itemsize > 2:
            indices = indices.astype(np.int32, copy=False)
        row_splits = tf.constant(vectors.indptr, dtype=tf.int64)
        self.columns = tf.RaggedTensor.from_row_splits(indices, row_splits, validate=False)
        self.values = None if vectors.values is None else tf.RaggedTensor.from_row_splits(
            vectors.values, row_splits, validate=False)
        self.targets = None if labels is None else tf.constant(labels, dtype=tf.float32)
        self.num_words = vectors.num_words
        self.rows = range(len(vectors))

    def batches(self, batch_size: int, rows: range | None = None,
                seed: int | None = None) -> tf.data.Dataset:
        """Batches of `rows` (all by default), with labels if given; reshuffled every epoch
        if `seed` is given, in the same order on every run (as Keras's own `shuffle=True`
        on NumPy input, but reproducible)."""
        rows = self.rows if rows is None else rows
        order = tf.data.Dataset.range(rows.start, rows.stop)
        if seed is not None:
            order = order.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return order.batch(batch_size).map(self.sparse_batch).prefetch(2)

    def sparse_batch(self, rows: tf.Tensor) -> tuple:
        """These rows as one `tf.SparseTensor` (and their labels)."""
        picked = tf.gather(self.columns, rows)
        x = tf.SparseTensor(tf.stack([picked.value_rowids(), tf.cast(picked.values, tf.int64)],
                                     axis=1),
                            tf.ones_like(picked.values, dtype=tf.float32) if self.values is None
                            else tf.gather(self.values, rows).values,
                            [tf.size(rows, out_type=tf.int64), self.num_words])
        return (x,) if self.targets is None else (x, tf.gather(self.targets, rows))


def sparse_batches(vectors: Vectors, labels: np.ndarray | None, batch_size: int,
                   seed: int | None = None) -> tf.data.Dataset:
    """All rows of `vectors` in batches: `SparseReviews(vectors, labels).batches(…)`."""
    return SparseReviews(vectors, labels).batches(batch_size, seed=seed)
