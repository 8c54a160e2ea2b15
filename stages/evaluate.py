"""Evaluate: the saved model on the test reviews, and the reports of its training.

Writes every report that is kept in git, for `dvc metrics diff` and `dvc plots diff`:
- of the test reviews: `metrics.json` (loss, accuracy, precision, recall, F1,
  the negative class's recall, balanced accuracy, the accuracy of always guessing
  the larger class, ROC AUC, number of reviews), `roc.json` (the ROC curve),
  `predictions.csv` (actual
  and predicted label of every review, for DVC's confusion-matrix template) and
  two PNGs, the confusion matrix and the ROC curve;
- of the training, from train's history: `history.csv` (the learning curves),
  `train.json` (the validation metrics of the saved epoch) and the notebook's
  two PNGs, loss and accuracy.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stages import figures
from stages.common import (
    CLASSES,
    HISTORY,
    SHORT_NAMES,
    StageError,
    balance,
    integer,
    load_params,
    threshold,
    write_bytes,
    write_csv,
    write_json,
)
from stages.process import run
from stages.text import load_vectors

SCHEMA = {"threshold": threshold(), "batch_size": integer(1)}
ROC_POINTS = 200


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random
    negative (Mann–Whitney U, ties counted half)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based ranks, ties averaged
    ranks = mean_rank[inverse]
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def roc_curve(labels: np.ndarray, scores: np.ndarray, points: int = ROC_POINTS) -> list[dict]:
    """About `points` (fpr, tpr, threshold) corners of the ROC curve, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    tp = np.cumsum(labels)[last_of_tie]
    fp = np.cumsum(1 - labels)[last_of_tie]
    tpr = np.r_[0, tp / max(labels.sum(), 1)]
    fpr = np.r_[0, fp / max(len(labels) - labels.sum(), 1)]
    thresholds = np.r_[1.0, scores[last_of_tie]]
    keep = np.unique(np.linspace(0, len(tpr) - 1, points + 1).round().astype(int))
    return [{"fpr": round(float(fpr[i]), 6), "tpr": round(float(tpr[i]), 6),
             "threshold": round(float(thresholds[i]), 6)} for i in keep]


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """Precision, recall and F1 of the positive class; `recall_negative` is the negative
    class's recall, `balanced_accuracy` the mean of the two recalls, and
    `majority_accuracy` what always guessing the larger class would score: on
    imbalanced data, the accuracy a model has to beat."""
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    recall_negative = tn / (tn + fp) if tn + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((predicted == labels).mean()),
            "precision": precision, "recall": recall, "f1": f1,
            "recall_negative": recall_negative,
            "balanced_accuracy": (recall + recall_negative) / 2,
            "majority_accuracy": float(max(labels.mean(), 1 - labels.mean()))}


def load_history(path: Path) -> dict:
    """train's history.json: {"epochs": N, "history": {column: [one value per epoch]}}."""
    try:
        trained = json.loads(path.read_text())
        history, epochs = trained["history"], trained["epochs"]
        if not all(len(history[key]) == len(history["loss"]) for key in HISTORY) or not (
                1 <= epochs <= len(history["loss"])):
            raise ValueError("its columns or epochs disagree")
    except FileNotFoundError:
        raise StageError(f"{path} not found: run `dvc repro` to build it")
    except (ValueError, KeyError, TypeError) as error:
        raise StageError(f"{path} is not a training history from train ({error!r}); "
                         "run `dvc repro --force train`")
    return trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the trained model (.keras)")
    parser.add_argument("history", type=Path, help="history.json from train")
    parser.add_argument("test", type=Path, help="test.npz from vectorize")
    parser.add_argument("reports", type=Path, help="folder for metrics, plot data and figures")
    args = parser.parse_args()
    params = load_params("evaluate", SCHEMA)
    vectors, labels = load_vectors(args.test)
    trained = load_history(args.history)
    history, epochs = trained["history"], trained["epochs"]

    with figures.artist() as artist:
        from stages.network import keras, load_model, sparse_batches, vector_network

        model = load_model(args.model)
        # The saved model's network scores the test vectors, one sparse batch at a time
        # (the whole model, vectorizer first, would read the raw reviews to the same scores).
        network, vectors = vector_network(model, vectors, str(args.test))
        scores = network.predict(sparse_batches(vectors, None, params["batch_size"]),
                                 verbose=0)[:, 0]
        # The loss the model was compiled with, averaged over reviews as model.evaluate does.
        loss_fn = keras.losses.get(model.loss)
        loss = float(np.mean(loss_fn(labels[:, None].astype("float32"), scores[:, None])))
        predicted = (scores > params["threshold"]).astype(labels.dtype)
        auc = roc_auc(labels, scores)
        roc = roc_curve(labels, scores)
        drawn = {"confusion": artist.submit(figures.confusion_png, labels, predicted),
                 "roc": artist.submit(figures.roc_png, roc, auc),
                 **{metric: artist.submit(figures.history_png, history, metric)
                    for metric in ("loss", "accuracy")}}

        metrics = {"loss": loss, **classification_metrics(labels, predicted), "roc_auc": auc}
        metrics = {name: round(value, 6) for name, value in metrics.items()}
        metrics["n_reviews"] = len(labels)
        write_json(args.reports / "metrics.json", metrics)
        write_json(args.reports / "roc.json", {"roc": roc})
        names = np.array(SHORT_NAMES)
        write_csv(args.reports / "predictions.csv", ["actual", "predicted"],
                  zip(names[labels], names[predicted]))
        write_csv(args.reports / "history.csv", ["epoch"] + HISTORY,
                  ([epoch + 1] + [history[key][epoch] for key in HISTORY]
                   for epoch in range(len(history["loss"]))))
        write_json(args.reports / "train.json", {
            "epochs": epochs,
            "val_loss": round(history["val_loss"][epochs - 1], 6),
            "val_accuracy": round(history["val_accuracy"][epochs - 1], 6),
        })
        for name, png in drawn.items():
            write_bytes(args.reports / "figures" / f"{name}.png", png.result())
    larger = CLASSES[int(labels.mean() > 0.5)]
    print(f"test: {len(labels)} reviews, {balance(labels)}; always guessing {larger} "
          f"would score {metrics['majority_accuracy']}")
    print("test " + ", ".join(f"{name} {value}" for name, value in metrics.items()))


if __name__ == "__main__":
    run(main)
