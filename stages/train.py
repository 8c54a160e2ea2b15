"""Train: the notebook's network, fitted with a validation set, then refitted on all
training reviews.

1. Fit on the training part of the split, validating on the validation part
   after every epoch; the per-epoch history is the learning curves.
2. With `refit: true` (the notebook's last cells), fit the network again from
   its starting weights, on all training reviews, for the same number of
   epochs — with early stopping on, for the best epoch it found — and save
   that one. With `refit: false` the validated network is saved.

Saves the model with the vectorize stage's encoding in front of it, as Keras
layers, so that `models/model.keras` reads raw reviews (stages.model.saved).
Writes it and `history.json`: the per-epoch history of step 1 and the
number of epochs the saved model stands for. Both go to DVC's cache, none to
git, so that DVC's run-cache can restore this stage on any machine that pulls
it; curves turns the history into the learning curves kept in git.
"""

import argparse
from pathlib import Path

import numpy as np

from stages.reports.history import save_history
from stages.runner.command import run
from stages.runner.params import boolean, choice, int_list, integer, load_params, number
from stages.runner.process import StageError
from stages.text.encode import log_count_ratio
from stages.text.vocab import load_vocab
from stages.vectors.sparse import Vectors, load_vectors

# The network's shape and optimizer: build_model's keyword arguments, by the same names.
NETWORK = {
    "hidden_units": int_list(1),
    "activation": choice("relu", "tanh", "sigmoid", "elu", "gelu", "selu"),
    "loss": choice("binary_crossentropy", "mse"),
    "optimizer": choice("rmsprop", "adam", "adamw", "sgd", "nadam"),
    "learning_rate": number(0, 10, low_open=True),
    "dropout": number(0, 1, high_open=True),
    "l2": number(0, 1),
}
# Below this many batches an epoch, a fit hardly moves from its starting weights.
FEW_BATCHES = 10
SCHEMA = NETWORK | {
    "epochs": integer(1, 10_000),
    "batch_size": integer(1),
    "seed": integer(0),
    "refit": boolean(),
    "early_stopping": boolean(),
    "monitor": choice("val_loss", "val_accuracy"),
    "patience": integer(0),
    "restore_best_weights": boolean(),
    # Each term's column times its log-count ratio in the training rows (NBSVM's features).
    "log_count_ratio": boolean(default=False),
}


def best_epoch(history: dict, monitor: str) -> int:
    """1-based epoch with the best `monitor` value (the first of equals)."""
    values = np.array(history[monitor])
    return int(np.argmin(values) if monitor.endswith("loss") else np.argmax(values)) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split", type=Path, help="folder with train.npz and val.npz from split")
    parser.add_argument("vocab", type=Path, help="vocab.json from vectorize")
    parser.add_argument("model", type=Path, help="where to save the model (.keras)")
    parser.add_argument("history", type=Path, help="per-epoch history and epochs (JSON)")
    args = parser.parse_args()
    p = load_params("train", SCHEMA)
    if args.model.suffix != ".keras":
        raise StageError(f"the model path {args.model} must end in .keras")

    vocab = load_vocab(args.vocab)
    train, train_labels = load_vectors(args.split / "train.npz")
    val, val_labels = load_vectors(args.split / "val.npz")
    if train.num_words != val.num_words:
        raise StageError(f"train ({train.num_words} words) and val ({val.num_words} words) "
                         "vectors disagree: run `dvc repro --force split`")
    if train.num_words != len(vocab.terms):
        raise StageError(f"{args.vocab} has {len(vocab.terms)} terms but the vectors "
                         f"{train.num_words}: run `dvc repro` to bring them back in step")

    batches = -(-len(train) // p["batch_size"])
    if batches < FEW_BATCHES:
        print(f"warning: {len(train)} training reviews make {batches} batch"
              f"{'es' * (batches > 1)} of {p['batch_size']} an epoch, too few updates to learn "
              "much: lower train.batch_size, or let `make search` choose")
    # The ratios come from the labels of the rows a fit trains on, never from the
    # validation rows (which would then score too well), then from all rows for the refit.
    fit_scale = log_count_ratio(train, train_labels) if p["log_count_ratio"] else None

    # All training reviews in one set, the validation ones last, so that TensorFlow holds
    # one copy: the fit takes its rows, the validation the rest, the refit all of them.
    fit_rows = range(len(train))
    val_rows = range(len(train), len(train) + len(val))
    vectors = Vectors.concatenate([train, val])
    labels = np.concatenate([train_labels, val_labels])
    del train, val
    scale = log_count_ratio(vectors, labels) if p["log_count_ratio"] and p["refit"] else fit_scale

    from stages.model.network import SparseReviews, build_model, fit, keras, restore, state, tf
    from stages.model.saved import save_model, text_model

    tf.config.experimental.enable_op_determinism()
    reviews = SparseReviews(vectors, labels)
    del vectors  # TensorFlow has its own copy
    model = build_model(len(vocab.terms), seed=p["seed"], **{key: p[key] for key in NETWORK})
    start = state(model)
    callbacks = []
    if p["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=p["monitor"], patience=p["patience"],
            restore_best_weights=p["restore_best_weights"]))
    print(f"fit on {len(fit_rows)} reviews, validate on {len(val_rows)}")
    history = fit(model, reviews.batches(p["batch_size"], fit_rows, seed=p["seed"],
                                         scale=fit_scale),
                  p["epochs"], reviews.batches(p["batch_size"], val_rows, scale=fit_scale),
                  callbacks)
    # The epoch the saved model stands for: with early stopping, the best one.
    stopped_at_best = p["early_stopping"] and (p["refit"] or p["restore_best_weights"])
    epochs = best_epoch(history, p["monitor"]) if stopped_at_best else len(history["loss"])

    if p["refit"]:
        # The same network from the same start (weights, optimizer, dropout seeds), as a
        # new one would be, but Keras keeps the training step it has traced already.
        restore(model, start)
        print(f"refit on all {len(labels)} training reviews for {epochs} epochs")
        fit(model, reviews.batches(p["batch_size"], seed=p["seed"], scale=scale), epochs)

    save_model(text_model(model, vocab, scale), args.model)
    save_history(args.history, history, epochs)


if __name__ == "__main__":
    run(main)
