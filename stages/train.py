"""Train: the notebook's network, fitted with a validation set, then refitted on all training reviews.

1. Fit on the training part of the split, validating on the validation part
   after every epoch; the per-epoch history is the learning curves.
2. With `refit: true` (the notebook's last cells), fit a fresh network on all
   training reviews for the same number of epochs — with early stopping on,
   for the best epoch it found — and save that one. With `refit: false` the
   validated network is saved.
3. Draw the notebook's two learning-curve figures from the history.
"""

import argparse
from pathlib import Path

# stages.batches first: it quiets TensorFlow's start-up lines.
from stages.batches import SparseDense, save_model, sparse_batches

import keras
import numpy as np
import tensorflow as tf

from stages import figures
from stages.common import (StageError, boolean, choice, int_list, integer,
                           load_params, number, run, write_csv, write_json)
from stages.text import Vectors, load_vectors

SCHEMA = {
    "hidden_units": int_list(1),
    "activation": choice("relu", "tanh", "sigmoid", "elu", "gelu", "selu"),
    "loss": choice("binary_crossentropy", "mse"),
    "optimizer": choice("rmsprop", "adam", "adamw", "sgd", "nadam"),
    "learning_rate": number(0, 10, low_open=True),
    "dropout": number(0, 1, high_open=True),
    "l2": number(0, 1),
    "epochs": integer(1, 10_000),
    "batch_size": integer(1),
    "seed": integer(0),
    "refit": boolean(),
    "early_stopping": boolean(),
    "monitor": choice("val_loss", "val_accuracy"),
    "patience": integer(0),
    "restore_best_weights": boolean(),
}
HISTORY = ["loss", "accuracy", "val_loss", "val_accuracy"]


def build_model(num_words: int, p: dict) -> keras.Model:
    """Dense(16, relu) → Dense(16, relu) → Dense(1, sigmoid) with the default params."""
    regularizer = keras.regularizers.L2(p["l2"]) if p["l2"] else None
    # Sparse input: the first layer computes Dense's product from the nonzero entries only
    # (SparseDense while training; saved as Keras's Dense).
    model = keras.Sequential([keras.Input(shape=(num_words,), sparse=True, name="reviews")],
                             name="sentiment")
    for i, units in enumerate(p["hidden_units"], start=1):
        dense = SparseDense if i == 1 else keras.layers.Dense
        model.add(dense(units, activation=p["activation"], kernel_regularizer=regularizer,
                        name=f"hidden_{i}"))
        if p["dropout"]:
            model.add(keras.layers.Dropout(p["dropout"], name=f"dropout_{i}"))
    model.add((SparseDense if not p["hidden_units"] else keras.layers.Dense)(
        1, activation="sigmoid", name="output"))
    optimizer = keras.optimizers.get({"class_name": p["optimizer"],
                                      "config": {"learning_rate": p["learning_rate"]}})
    model.compile(optimizer=optimizer, loss=p["loss"],
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    return model


def fit(vectors: Vectors, labels, p: dict, epochs: int, validation=None, callbacks=()):
    # The same seed before every build: both fits start from the same weights.
    keras.utils.set_random_seed(p["seed"])
    model = build_model(vectors.num_words, p)
    batches = sparse_batches(vectors, labels, p["batch_size"], seed=p["seed"])
    val_batches = None if validation is None else sparse_batches(*validation, p["batch_size"])
    history = model.fit(batches, validation_data=val_batches, epochs=epochs,
                        shuffle=False,  # the dataset shuffles itself, seeded
                        callbacks=list(callbacks), verbose=2)
    return model, history.history


def best_epoch(history: dict, monitor: str) -> int:
    """1-based epoch with the best `monitor` value (the first of equals)."""
    values = np.array(history[monitor])
    return int(np.argmin(values) if monitor.endswith("loss") else np.argmax(values)) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split", type=Path, help="folder with train.npz and val.npz from split")
    parser.add_argument("model", type=Path, help="where to save the model (.keras)")
    parser.add_argument("history", type=Path, help="per-epoch learning curves (CSV)")
    parser.add_argument("summary", type=Path, help="validation metrics of the run (JSON)")
    parser.add_argument("figures", type=Path, help="folder for loss.png and accuracy.png")
    args = parser.parse_args()
    p = load_params("train", SCHEMA)
    if args.model.suffix != ".keras":
        raise StageError(f"the model path {args.model} must end in .keras")

    train, train_labels = load_vectors(args.split / "train.npz")
    val, val_labels = load_vectors(args.split / "val.npz")
    if train.num_words != val.num_words:
        raise StageError(f"train ({train.num_words} words) and val ({val.num_words} words) "
                         "vectors disagree: run `dvc repro --force split`")
    tf.config.experimental.enable_op_determinism()

    callbacks = []
    if p["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=p["monitor"], patience=p["patience"],
            restore_best_weights=p["restore_best_weights"]))
    print(f"fit on {len(train)} reviews, validate on {len(val)}")
    model, history = fit(train, train_labels, p, p["epochs"], (val, val_labels), callbacks)
    # The epoch the saved model stands for: with early stopping, the best one.
    stopped_at_best = p["early_stopping"] and (p["refit"] or p["restore_best_weights"])
    epochs = best_epoch(history, p["monitor"]) if stopped_at_best else len(history["loss"])

    if p["refit"]:
        print(f"refit on all {len(train) + len(val)} training reviews for {epochs} epochs")
        model, _ = fit(Vectors.concatenate([train, val]),
                       np.concatenate([train_labels, val_labels]), p, epochs)

    save_model(model, args.model)
    write_csv(args.history, ["epoch"] + HISTORY,
              ([epoch + 1] + [history[key][epoch] for key in HISTORY]
               for epoch in range(len(history["loss"]))))
    write_json(args.summary, {
        "epochs": epochs,
        "val_loss": round(history["val_loss"][epochs - 1], 6),
        "val_accuracy": round(history["val_accuracy"][epochs - 1], 6),
    })
    for metric in ("loss", "accuracy"):
        figures.plot_history(args.history, metric, args.figures / f"{metric}.png")


if __name__ == "__main__":
    run(main)
