"""The saved model: raw reviews in, probabilities out, in one `.keras` file.

`text_model` puts the vectorize stage's encoding, as a Keras
`TextVectorization` layer (`text_vectorizer`), in front of the trained
network, with Keras's own `Dense` layers in place of `SparseDense`: the file
then needs no code of this project but the two standardisation functions of
stages/model/standardize.py, a file that stands alone. `save_model` writes
it byte-reproducibly; `load_model` reads it back; `network_for_vectors` takes
the network out again, for evaluate to score vectors rather than text.
"""

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from stages.model.network import SparseDense, keras
from stages.model.standardize import standardize, standardize_unicode
from stages.runner.files import FixedZip, atomic_output
from stages.runner.process import StageError
from stages.text.vocab import Vocab
from stages.vectors.sparse import Vectors


def text_vectorizer(vocab: Vocab, dense: bool = False) -> keras.layers.TextVectorization:
    """The vectorize stage's encoding as a layer: raw reviews in, the vectors vectorize
    makes out, with one more column first (0: terms outside the vocabulary; column j + 1
    is the vocabulary's term j). The same standardisation (stages.model.standardize),
    split on whitespace, words and n-grams, and for `tf_idf` the training reviews' IDF.
    Sparse output for `multi_hot` and `count`, unless `dense`; dense for `tf_idf`, which
    Keras 3.15's TextVectorization fails to weigh in sparse form."""
    return keras.layers.TextVectorization(
        standardize=standardize if vocab.standardize == "keras" else standardize_unicode,
        split="whitespace",
        ngrams=vocab.ngrams if vocab.ngrams > 1 else None,
        output_mode=vocab.mode, vocabulary=vocab.terms,
        idf_weights=None if vocab.idf is None else vocab.idf.astype("float32"),
        sparse=vocab.mode != "tf_idf" and not dense, name="vectorize")


def load_model(path: Path) -> keras.Sequential:
    """The model train saved: raw reviews in (its first layer the vectorizer), probabilities out."""
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise StageError(f"cannot load the model {path} ({error}): it is damaged or not a "
                         f"model; `dvc checkout {path}` puts back the committed one, "
                         "`dvc repro --force train` trains it again")
    if not (model.layers and isinstance(model.layers[0], keras.layers.TextVectorization)):
        raise StageError(f"{path} does not read raw text (a model of an older version of the "
                         "pipeline?): run `dvc repro --force train`")
    return model


def text_model(network: keras.Sequential, vocab: Vocab,
               scale: np.ndarray | None = None) -> keras.Sequential:
    """Raw reviews in, probabilities out: `text_vectorizer(vocab)`, then the network's
    layers as Keras's own (`Dense` for `SparseDense`) with its weights, compiled with its
    loss and a new optimizer of its kind, as any Keras can load and train further.
    `scale`, the factor each term's column was multiplied by in training (its log-count
    ratio), becomes a `Rescaling` layer between the two.

    The vectorizer's column 0 counts the terms outside the vocabulary, which the
    network never saw: the first layer's kernel gets a row of zeros for it, so that
    the model computes exactly what the network does on the vectorize stage's vectors.
    """
    layers = [(keras.layers.Dense if isinstance(layer, SparseDense) else type(layer)).from_config(
        layer.get_config()) for layer in network.layers]
    scaling = [] if scale is None else [keras.layers.Rescaling(
        np.r_[1, scale].astype("float32"), name="log_count_ratio")]
    model = keras.Sequential([keras.Input(shape=(), dtype="string", name="review"),
                              text_vectorizer(vocab, dense=bool(scaling)), *scaling, *layers],
                             name=network.name)
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


def network_for_vectors(model: keras.Sequential, vectors: Vectors,
                        vectors_from: str) -> tuple[keras.Sequential, Vectors]:
    """The network inside a text model, and `vectors` as it reads them: the vectorizer's
    column 0 (terms outside the vocabulary, zero weight) comes first. A `Rescaling` layer
    (log-count ratios) is folded into the first Dense layer's kernel, row by row: the
    product is the same, and the vectors stay sparse."""
    width = model.layers[0].vocabulary_size()
    if width != vectors.num_words + 1:
        raise StageError(f"the model knows {width - 1} terms but {vectors_from} has "
                         f"{vectors.num_words}: run `dvc repro` to bring them back in step")
    layers = model.layers[1:]
    if isinstance(layers[0], keras.layers.Rescaling):
        scale = np.asarray(layers[0].scale, dtype="float32")
        first = type(layers[1]).from_config(layers[1].get_config())
        first.build((None, width))
        kernel, *bias = layers[1].get_weights()
        first.set_weights([kernel * scale[:, None], *bias])
        layers = [first, *layers[2:]]
    network = keras.Sequential([keras.Input(shape=(width,), sparse=True, name="vectors"),
                                *layers])
    # Column ids keep the most compact type that holds them: 2 bytes each up to 65,536 columns.
    shifted = Vectors(vectors.indices.astype(np.min_scalar_type(width - 1)) + 1, vectors.indptr,
                      width, vectors.values)
    return network, shifted


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
