"""Evaluate: the saved model on the test reviews — metrics, ROC and confusion data, and figures.

Writes `metrics.json` (loss, accuracy, precision, recall, F1, ROC AUC,
number of reviews), `roc.json` (the ROC curve, for `dvc plots`),
`predictions.csv` (actual and predicted label of every review, for DVC's
confusion-matrix template) and four PNGs: the notebook's two learning-curve
figures, the confusion matrix and the ROC curve.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from stages.common import (StageError, atomic_output, integer, load_params, number, run,
                           write_csv, write_json)
from stages.text import load_vectors

SCHEMA = {"threshold": number(0, 1, low_open=True, high_open=True), "batch_size": integer(1)}
NAMES = np.array(["neg", "pos"])
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
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((predicted == labels).mean()),
            "precision": precision, "recall": recall, "f1": f1}


def plot_history(history: np.ndarray, metric: str, path: Path) -> None:
    """The notebook's figure: training as dots ('bo'), validation as a line ('b')."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["epoch"], history[metric], "bo", label=f"Training {metric}")
    ax.plot(history["epoch"], history[f"val_{metric}"], "b", label=f"Validation {metric}")
    ax.set(title=f"Training and validation {metric}", xlabel="Epochs", ylabel=metric.capitalize())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    save_figure(fig, path)


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    counts = np.zeros((2, 2), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, f"{count:,}", ha="center", va="center",
                color="white" if count > counts.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=NAMES, yticklabels=NAMES,
           xlabel="Predicted", ylabel="Actual", title="Confusion matrix (test)")
    save_figure(fig, path)


def plot_roc(roc: list[dict], auc: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([p["fpr"] for p in roc], [p["tpr"] for p in roc], "b", label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], "k:", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test)")
    ax.legend(loc="lower right")
    save_figure(fig, path)


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the trained model (.keras)")
    parser.add_argument("test", type=Path, help="test.npz from vectorize")
    parser.add_argument("history", type=Path, help="history.csv from train")
    parser.add_argument("reports", type=Path, help="folder for metrics, plot data and figures")
    args = parser.parse_args()
    params = load_params("evaluate", SCHEMA)
    vectors, labels = load_vectors(args.test)

    from stages.batches import multi_hot_batches  # TensorFlow (3 s): once the input is sound
    import keras

    try:
        model = keras.saving.load_model(args.model)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise StageError(f"cannot load the model {args.model} ({error}); "
                         "run `dvc repro --force train`")
    if model.input_shape[-1] != vectors.num_words:
        raise StageError(f"the model takes {model.input_shape[-1]} words, the test vectors "
                         f"have {vectors.num_words}: run `dvc repro`")

    # The saved model itself scores the reviews, one dense batch at a time.
    scores = model.predict(multi_hot_batches(vectors, None, params["batch_size"]), verbose=0)[:, 0]
    # The loss the model was compiled with, averaged over reviews as model.evaluate does.
    loss_fn = keras.losses.get(model.loss)
    loss = float(np.mean(loss_fn(labels[:, None].astype("float32"), scores[:, None])))
    predicted = (scores > params["threshold"]).astype(labels.dtype)
    auc = roc_auc(labels, scores)
    metrics = {"loss": loss, **classification_metrics(labels, predicted), "roc_auc": auc}
    metrics = {name: round(value, 6) for name, value in metrics.items()}
    metrics["n_reviews"] = len(labels)
    roc = roc_curve(labels, scores)
    history = np.genfromtxt(args.history, delimiter=",", names=True)

    write_json(args.reports / "metrics.json", metrics)
    write_json(args.reports / "roc.json", {"roc": roc})
    write_csv(args.reports / "predictions.csv", ["actual", "predicted"],
              zip(NAMES[labels], NAMES[predicted]))
    figures = args.reports / "figures"
    plot_history(history, "loss", figures / "loss.png")
    plot_history(history, "accuracy", figures / "accuracy.png")
    plot_confusion(labels, predicted, figures / "confusion.png")
    plot_roc(roc, auc, figures / "roc.png")
    print("test " + ", ".join(f"{name} {value}" for name, value in metrics.items()))


if __name__ == "__main__":
    run(main)
