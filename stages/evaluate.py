"""Evaluate: the saved model on the test reviews, the only stage that reads them.

Writes the test set's reports, kept in git for `dvc metrics diff` and `dvc plots diff`:
`metrics.json` (loss, accuracy, precision, recall, F1, the negative class's
recall, balanced accuracy, the accuracy of always guessing the larger class,
ROC AUC, number of reviews), `roc.json` (the ROC curve), `predictions.csv`
(actual and predicted label of every review, for DVC's confusion-matrix
template) and two PNGs, the confusion matrix and the ROC curve. The reports
of the training, from the validation reviews alone, are the curves stage's.
"""

import argparse
from pathlib import Path

import numpy as np

from stages.reports import figures
from stages.reports.metrics import classification_metrics, roc_auc, roc_curve
from stages.reviews.labels import CLASSES, SHORT_NAMES, describe_balance
from stages.runner.command import run
from stages.runner.dvc_lock import warn_if_not_locked
from stages.runner.files import write_bytes, write_csv, write_json
from stages.runner.params import integer, load_params, number
from stages.vectors.sparse import load_vectors

# predict reads this block too, for its threshold.
SCHEMA = {"threshold": number(0, 1, low_open=True, high_open=True), "batch_size": integer(1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the trained model (.keras)")
    parser.add_argument("test", type=Path, help="test.npz from vectorize")
    parser.add_argument("reports", type=Path, help="folder for metrics, plot data and figures")
    args = parser.parse_args()
    params = load_params("evaluate", SCHEMA)
    warn_if_not_locked(args.model)
    vectors, labels = load_vectors(args.test)

    with figures.drawing_process() as drawing:
        from stages.model.network import keras, sparse_batches
        from stages.model.saved import load_model, network_for_vectors

        model = load_model(args.model)
        # The saved model's network scores the test vectors, one sparse batch at a time
        # (the whole model, vectorizer first, would read the raw reviews to the same scores).
        network, vectors = network_for_vectors(model, vectors, str(args.test))
        scores = network.predict(sparse_batches(vectors, None, params["batch_size"]),
                                 verbose=0)[:, 0]
        # The loss the model was compiled with, averaged over reviews as model.evaluate does.
        loss_fn = keras.losses.get(model.loss)
        loss = float(np.mean(loss_fn(labels[:, None].astype("float32"), scores[:, None])))
        predicted = (scores > params["threshold"]).astype(labels.dtype)
        auc = roc_auc(labels, scores)
        roc = roc_curve(labels, scores)
        drawn = {"confusion": drawing.submit(figures.confusion_png, labels, predicted),
                 "roc": drawing.submit(figures.roc_png, roc, auc)}

        metrics = {"loss": loss, **classification_metrics(labels, predicted), "roc_auc": auc}
        metrics = {name: round(value, 6) for name, value in metrics.items()}
        metrics["n_reviews"] = len(labels)
        write_json(args.reports / "metrics.json", metrics)
        write_json(args.reports / "roc.json", {"roc": roc})
        names = np.array(SHORT_NAMES)
        write_csv(args.reports / "predictions.csv", ["actual", "predicted"],
                  zip(names[labels], names[predicted]))
        for name, png in drawn.items():
            write_bytes(args.reports / "figures" / f"{name}.png", png.result())
    larger = CLASSES[int(labels.mean() > 0.5)]
    print(f"test: {len(labels)} reviews, {describe_balance(labels)}; always guessing {larger} "
          f"would score {metrics['majority_accuracy']}")
    print("test " + ", ".join(f"{name} {value}" for name, value in metrics.items()))
    if metrics["accuracy"] <= metrics["majority_accuracy"]:
        print(f"warning: test accuracy {metrics['accuracy']} is no better than always guessing "
              f"{larger} ({metrics['majority_accuracy']}): let `make search` choose, or try a "
              "smaller train.batch_size, more train.epochs, or vectorize.num_words")


if __name__ == "__main__":
    run(main)
