"""The network in Keras: built, and fitted on batches of sparse rows.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB, and a
batch of 512 × 100,000 n-grams 200 MB. So the vectors never become dense:
they go to TensorFlow once, as ragged tensors of column ids (and values),
and a tf.data pipeline shuffles and gathers them into `tf.SparseTensor`
batches in C++ on the second core while Keras trains on the first. The
model's first Dense layer multiplies the sparse batch by its kernel, which
is exactly Dense on the dense rows, at the cost of the nonzero entries only.

Importing this module loads TensorFlow, quietly (stages.runner.process.import_keras):
stages import it inside main(), once their input is checked, and evaluate
once its figure-drawing process is started (stages.reports.figures.drawing_process).
"""

import numpy as np

from stages.runner.process import import_keras, raise_if_stopped
from stages.vectors.sparse import Vectors

keras, tf = import_keras()


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


class SparseDense(keras.layers.Dense):
    """`Dense` on a sparse batch, computed as one sparse × dense matrix product.

    Keras's own `Dense` reads a `tf.SparseTensor` through an embedding
    lookup, whose gradient costs more (benchmarks/README.md); the product is
    the same. For training only: `text_model` (stages.model.saved) builds Keras's
    `Dense` in its place, so the saved model needs none of this code.
    """

    def call(self, inputs):
        if not isinstance(inputs, tf.SparseTensor):
            return super().call(inputs)
        outputs = tf.sparse.sparse_dense_matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)


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

    def batches(self, batch_size: int, rows: range | None = None, seed: int | None = None,
                scale: np.ndarray | None = None) -> tf.data.Dataset:
        """Batches of `rows` (all by default), with labels if given; reshuffled every epoch
        if `seed` is given, in the same order on every run (as Keras's own `shuffle=True`
        on NumPy input, but reproducible). `scale` multiplies each column (a term's
        log-count ratio, say)."""
        rows = self.rows if rows is None else rows
        order = tf.data.Dataset.range(rows.start, rows.stop)
        if seed is not None:
            order = order.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        factors = None if scale is None else tf.constant(scale, dtype=tf.float32)
        return order.batch(batch_size).map(
            lambda batch: self.sparse_batch(batch, factors)).prefetch(2)

    def sparse_batch(self, rows: tf.Tensor, factors: tf.Tensor | None = None) -> tuple:
        """These rows as one `tf.SparseTensor` (and their labels)."""
        picked = tf.gather(self.columns, rows)
        columns = tf.cast(picked.values, tf.int64)
        values = (tf.ones_like(picked.values, dtype=tf.float32) if self.values is None
                  else tf.gather(self.values, rows).values)
        if factors is not None:
            values = values * tf.gather(factors, columns)
        x = tf.SparseTensor(tf.stack([picked.value_rowids(), columns], axis=1), values,
                            [tf.size(rows, out_type=tf.int64), self.num_words])
        return (x,) if self.targets is None else (x, tf.gather(self.targets, rows))


def sparse_batches(vectors: Vectors, labels: np.ndarray | None, batch_size: int,
                   seed: int | None = None) -> tf.data.Dataset:
    """All rows of `vectors` in batches: `SparseReviews(vectors, labels).batches(…)`."""
    return SparseReviews(vectors, labels).batches(batch_size, seed=seed)
