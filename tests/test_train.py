import json
import os
import platform
import signal
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import ROOT, TINY_PARAMS, tiny_network

from stages import train
from stages.model.network import (
    SparseDense,
    SparseReviews,
    build_model,
    fit,
    restore,
    sparse_batches,
    state,
)
from stages.model.saved import load_model, network_for_vectors, portable, save_model
from stages.text.encode import (
    count_terms,
    encode,
    inverse_document_frequency,
    log_count_ratio,
    weigh,
)
from stages.text.tokenize import token_ids
from stages.text.vocab import Vocab, build_vocab
from stages.train import best_epoch
from stages.vectors.sparse import Vectors, save_vectors


def test_default_params_build_the_notebooks_network():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    model = build_model(10_000, seed=params["seed"], **{key: params[key] for key in train.NETWORK})
    assert model.get_config() == build_model(10_000, seed=params["seed"]).get_config()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.activation.__name__) for d in dense] == [
        (16, "relu"), (16, "relu"), (1, "sigmoid")]
    assert model.input_shape == (None, 10_000)
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert np.isclose(float(model.optimizer.learning_rate), 0.001)
    assert model.loss == "binary_crossentropy"
    assert (params["epochs"], params["batch_size"], params["refit"]) == (4, 512, True)


def test_knobs_change_the_network():
    model = tiny_network(50, hidden_units=[32, 32, 32], activation="tanh", dropout=0.5, l2=0.01,
                         optimizer="adam")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [32, 32, 32, 1]
    assert dense[0].activation.__name__ == "tanh" and dense[0].kernel_regularizer is not None
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 3
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_batches_are_the_rows_reshuffled_each_epoch():
    vectors = encode(token_ids([f"w{i} common" for i in range(10)]),
                     Vocab(["common"] + [f"w{i}" for i in range(10)]))
    labels = np.arange(10) % 2
    batches = sparse_batches(vectors, labels, batch_size=4, seed=0)

    def epoch():
        x, y = zip(*[(tf.sparse.to_dense(x).numpy(), y.numpy()) for x, y in batches])
        x, y = np.concatenate(x), np.concatenate(y)
        assert (x[:, 0] == 1).all() and (x.sum(axis=1) == 2).all()
        rows = x[:, 1:].argmax(axis=1)
        assert (y == rows % 2).all()
        return rows

    first, second = epoch(), epoch()
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert (first != second).any() and (first != np.arange(10)).any()
    in_order = [tf.sparse.to_dense(x).numpy()
                for (x,) in sparse_batches(vectors, None, batch_size=4)]
    assert [len(x) for x in in_order] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(in_order), vectors.dense())
    # A range of the rows: those rows, with their labels (train's validation rows).
    (x, y), = SparseReviews(vectors, labels).batches(8, range(6, 10))
    np.testing.assert_array_equal(tf.sparse.to_dense(x).numpy(), vectors.dense()[6:10])
    np.testing.assert_array_equal(y.numpy(), labels[6:10])


def test_the_batch_order_follows_the_seed():
    """train.seed decides the order of the training batches: the same seed gives the same
    order, another seed another."""
    vectors = Vectors(np.arange(40, dtype=np.uint16) % 7, np.arange(41), 7)
    reviews = SparseReviews(vectors, np.arange(40))  # each row's label is its number

    def order(seed):
        return [int(row) for _, labels in reviews.batches(8, seed=seed) for row in labels]

    assert order(1) == order(1) and order(1) != order(2)


def test_best_epoch():
    history = {"val_loss": [0.5, 0.3, 0.3, 0.4], "val_accuracy": [0.7, 0.9, 0.8, 0.9]}
    assert best_epoch(history, "val_loss") == 2
    assert best_epoch(history, "val_accuracy") == 2


def tiny_data(reviews):
    texts, labels = reviews
    reviews = token_ids(texts)
    return encode(reviews, Vocab(build_vocab(reviews, 28))), labels


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_sparse_first_layer_computes_what_dense_does_on_the_dense_rows(reviews, tmp_path, mode):
    """The model trains on sparse batches and is saved with Keras's own layers; the same
    weights in the notebook's all-dense network, fed `vectors.dense()`, give the same
    probabilities and loss as both."""
    texts, labels = reviews
    tokens = token_ids(texts)
    terms = build_vocab(tokens, 60, ngrams=2)
    counts = count_terms(tokens, terms, 2)
    vectors = weigh(counts, Vocab(terms, 2, mode, inverse_document_frequency(counts)))
    trained = tiny_network(vectors.num_words, dropout=0.2)
    fit(trained, sparse_batches(vectors, labels, 16, seed=1), 3)
    assert isinstance(trained.layers[0], SparseDense) and trained.inputs[0].sparse
    # Random weights, biases included: no zero that could hide a term of the product.
    rng = np.random.default_rng(0)
    trained.set_weights([rng.normal(0, 0.3, w.shape) for w in trained.get_weights()])
    save_model(portable(trained), tmp_path / "model.keras")
    saved = keras.saving.load_model(tmp_path / "model.keras")  # plain Keras: no custom layer
    assert [type(layer) for layer in saved.layers] == [keras.layers.Dense, keras.layers.Dropout,
                                                       keras.layers.Dense, keras.layers.Dropout,
                                                       keras.layers.Dense]
    dense = keras.Sequential([keras.Input(shape=(vectors.num_words,))]
                             + [type(layer).from_config(layer.get_config())
                                for layer in saved.layers])
    dense.set_weights(trained.get_weights())
    dense.compile(loss=trained.loss)
    expected = dense.predict(vectors.dense(), batch_size=16, verbose=0)
    assert 0.01 < expected.std()  # not a constant: the check compares something
    for model in (trained, saved):
        np.testing.assert_allclose(model.predict(sparse_batches(vectors, None, 16), verbose=0),
                                   expected, atol=1e-5)
        loss = model.evaluate(sparse_batches(vectors, labels, 16), verbose=0)[0]
        assert abs(loss - dense.evaluate(vectors.dense(), labels, batch_size=16, verbose=0)) < 1e-5


def test_fit_is_deterministic_and_learns(reviews):
    vectors, labels = tiny_data(reviews)
    reviews = SparseReviews(vectors, labels)
    first, second = [fit(tiny_network(28), reviews.batches(16, range(30), seed=1), 8,
                         reviews.batches(16, range(30, 40))) for _ in range(2)]
    assert first == second
    assert first["val_accuracy"][-1] >= 0.6 and first["loss"][-1] < first["loss"][0]


@pytest.mark.parametrize("changes", [{}, {"dropout": 0.5, "optimizer": "adam", "l2": 0.01}])
def test_a_restored_model_fits_as_a_new_one_would(reviews, changes):
    """train's refit: the model of the first fit, restored to its starting state (weights,
    dropout seeds, optimizer slots and step count), learns exactly what a new one does."""
    vectors, labels = tiny_data(reviews)
    reviews = SparseReviews(vectors, labels)
    model = tiny_network(28, **changes)
    start = state(model)
    fit(model, reviews.batches(16, range(30), seed=1), 3)
    restore(model, start)
    refit = fit(model, reviews.batches(16, seed=1), 4)
    new = tiny_network(28, **changes)
    assert refit == fit(new, reviews.batches(16, seed=1), 4)
    for after_restore, fresh in zip(model.get_weights(), new.get_weights()):
        np.testing.assert_array_equal(after_restore, fresh)
    assert int(model.optimizer.iterations) == int(new.optimizer.iterations) == 4 * 3


def test_fit_stops_after_the_epoch_of_a_signal_tensorflow_swallowed(reviews, monkeypatch):
    """A Ctrl-C whose KeyboardInterrupt TensorFlow dropped (it does when the signal lands
    while its C++ code calls back into Python) leaves only the record that run()'s handler
    keeps: fit raises it again at the end of that epoch, not 400 epochs later."""
    from stages.runner import process

    vectors, labels = tiny_data(reviews)
    model = tiny_network(28)
    monkeypatch.setattr(process, "SIGNALS_RECEIVED", [signal.SIGINT])
    with pytest.raises(KeyboardInterrupt, match="stopped by signal 2"):
        fit(model, sparse_batches(vectors, labels, 16, seed=1), 400)
    assert int(model.optimizer.iterations) == 3  # one epoch: 3 batches of 16


def run_train(tmp_path, monkeypatch, reviews, **changes):
    """train.main on tiny data (30 reviews to fit, 10 to validate); the saved model, the
    history (a structured array, a column per metric), the saved model's epochs, and the
    saved model's network, compiled, with the validation vectors as it reads them."""
    texts, _ = reviews
    vocab = Vocab(build_vocab(token_ids(texts), 28))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab.to_json()))
    vectors, labels = tiny_data(reviews)
    save_vectors(tmp_path / "split/train.npz", vectors.take(np.arange(30)), labels[:30])
    save_vectors(tmp_path / "split/val.npz", vectors.take(np.arange(30, 40)), labels[30:])
    params = TINY_PARAMS["train"] | changes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": params}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["train", "split", "vocab.json", "model.keras",
                                      "history.json"])
    train.main()
    model = load_model(tmp_path / "model.keras")
    trained = json.loads((tmp_path / "history.json").read_text())
    columns = trained["history"]
    history = np.rec.fromarrays([np.arange(1, len(columns["loss"]) + 1)] + list(columns.values()),
                                names=["epoch", *columns])
    network, val = network_for_vectors(model, vectors.take(np.arange(30, 40)), "val")
    network.compile(loss=model.loss)
    return model, history, trained["epochs"], (network, sparse_batches(val, labels[30:], 16))


def test_log_count_ratio_and_no_hidden_layer_train_and_save(reviews, tmp_path, monkeypatch,
                                                           capsys):
    """train.log_count_ratio and hidden_units: [] through the stage itself: the saved model
    scales its columns by the ratios of all training rows, and its network on the validation
    vectors (ratios folded in) scores as the fit's last epoch did, before the refit."""
    model, history, _, (network, val) = run_train(
        tmp_path, monkeypatch, reviews, log_count_ratio=True, hidden_units=[], refit=False)
    assert [type(layer).__name__ for layer in model.layers] == [
        "TextVectorization", "Rescaling", "Dense"]
    assert np.isclose(network.evaluate(val, verbose=0), history["val_loss"][-1], rtol=1e-4)
    texts, labels = reviews
    vectors, _ = tiny_data(reviews)
    expected = log_count_ratio(vectors.take(np.arange(30)), labels[:30])  # the fit's rows only
    np.testing.assert_allclose(np.asarray(model.layers[1].scale)[1:], expected, rtol=1e-6)


def test_too_few_batches_an_epoch_are_warned_of(reviews, tmp_path, monkeypatch, capsys):
    """30 training reviews in batches of 16 make 2 batches an epoch: train says so, once."""
    run_train(tmp_path, monkeypatch, reviews)
    warning = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert warning == ["warning: 30 training reviews make 2 batches of 16 an epoch, too few "
                       "updates to learn much: lower train.batch_size, or let `make search` "
                       "choose"]
    run_train(tmp_path, monkeypatch, reviews, batch_size=2)
    assert "warning" not in capsys.readouterr().out


# A learning rate this high overshoots on the tiny data: val_loss turns up after a few epochs.
EARLY = {"early_stopping": True, "epochs": 30, "learning_rate": 0.5, "refit": False}


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_saves_the_best_or_the_last_epoch(reviews, tmp_path, monkeypatch, restore):
    """train's own wiring: `monitor`, `patience` and `restore_best_weights` reach Keras."""
    model, history, epochs, val = run_train(tmp_path, monkeypatch, reviews, **EARLY,
                                            patience=1, restore_best_weights=restore)
    best = int(np.argmin(history["val_loss"])) + 1
    assert len(history) == best + 1 < 30  # stopped one epoch (the patience) after the best
    network, val_batches = val
    saved_loss = network.evaluate(val_batches, verbose=0)
    epoch = best if restore else len(history)
    assert np.isclose(saved_loss, history["val_loss"][epoch - 1], rtol=1e-4)
    assert epochs == epoch


def test_early_stopping_follows_monitor_and_patience(reviews, tmp_path, monkeypatch):
    _, history, epochs, _ = run_train(tmp_path, monkeypatch, reviews, **EARLY, patience=3,
                                      monitor="val_accuracy")
    best = int(np.argmax(history["val_accuracy"])) + 1  # the first of equal bests
    assert len(history) == best + 3 and epochs == best


def test_early_stopping_refits_for_the_best_epoch(reviews, tmp_path, monkeypatch, capsys):
    """The saved model is the refit one: trained on all 40 reviews, for the best epoch's count
    (its optimizer has taken 3 batches of 16 per epoch, not the 2 of the validation run)."""
    model, history, epochs, _ = run_train(tmp_path, monkeypatch, reviews,
                                          **EARLY | {"refit": True}, patience=1)
    best = int(history["epoch"][np.argmin(history["val_loss"])])
    assert len(history) < 30 and epochs == best
    assert f"refit on all 40 training reviews for {best} epochs" in capsys.readouterr().out
    assert int(model.optimizer.iterations) == 3 * best  # carried over into the saved model
    assert model.layers[0].vocabulary_size() == 28 + 1  # the vocabulary, and the unknown


def test_saving_a_model_twice_gives_the_same_bytes(reviews, tmp_path):
    """Keras stamps the save time and memory addresses into a .keras file; save_model
    does not, so DVC sees an unchanged model as unchanged. The file still loads."""
    import time

    vectors, labels = tiny_data(reviews)
    # One L2 regularizer object for every layer, and dropout: what Keras would share.
    model = tiny_network(28, l2=0.01, dropout=0.1)
    fit(model, sparse_batches(vectors, labels, 16, seed=1), 2)
    save_model(portable(model), tmp_path / "one.keras")
    time.sleep(1.1)  # into another second: a save time would show
    save_model(portable(model), tmp_path / "two.keras")
    assert (tmp_path / "one.keras").read_bytes() == (tmp_path / "two.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.keras") as archive:
        assert archive.namelist() == sorted(archive.namelist())
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
        # Keras numbers objects that layers share by their memory address: none is shared.
        assert "shared_object_id" not in archive.read("config.json").decode()
    loaded = keras.saving.load_model(tmp_path / "one.keras")
    x = vectors.dense()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.loss == model.loss and loaded.input_shape == (None, 28)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_tensorflow_starts_quietly_unless_asked(tmp_path):
    """TensorFlow's C++ start-up lines (absl, oneDNN) stay off stderr; IMDB_TF_LOGS=1 shows them."""
    code = "import stages.model.network, keras; print(keras.ops.sum(keras.ops.ones(3)))"
    quiet = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           env=os.environ | {"IMDB_TF_LOGS": "0"})
    assert quiet.returncode == 0 and "3.0" in quiet.stdout
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | {"IMDB_TF_LOGS": "1"})
    if platform.machine() in ("x86_64", "AMD64"):  # oneDNN's notice: x86 CPUs only
        assert "oneDNN custom operations are on" in loud.stderr
    broken = subprocess.run([sys.executable, "-c", "import stages.model.network; 1 / 0"], cwd=ROOT,
                            capture_output=True, text=True)
    assert "ZeroDivisionError" in broken.stderr  # Python's own errors still show
