"""The PNG figures, drawn with matplotlib: train's learning curves, evaluate's
confusion matrix and ROC curve.

A module of its own so that evaluate can draw in a second process while
TensorFlow loads in the first; matplotlib is imported only when a figure is drawn.
"""

from pathlib import Path

import numpy as np

from stages.common import atomic_output

NAMES = ("neg", "pos")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def warm_up() -> None:
    """Import matplotlib ahead of the first figure (in a worker process, say)."""
    pyplot()


def plot_history(history_csv: Path, metric: str, path: Path) -> None:
    """The notebook's figure: training as dots ('bo'), validation as a line ('b')."""
    from matplotlib.ticker import MaxNLocator

    history = np.genfromtxt(history_csv, delimiter=",", names=True)
    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.plot(history["epoch"], history[metric], "bo", label=f"Training {metric}")
    ax.plot(history["epoch"], history[f"val_{metric}"], "b", label=f"Validation {metric}")
    ax.set(title=f"Training and validation {metric}", xlabel="Epochs", ylabel=metric.capitalize())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    save_figure(fig, path)


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    counts = np.zeros((2, 2), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    fig, ax = pyplot().subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, f"{count:,}", ha="center", va="center",
                color="white" if count > counts.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=NAMES, yticklabels=NAMES,
           xlabel="Predicted", ylabel="Actual", title="Confusion matrix (test)")
    save_figure(fig, path)


def plot_roc(roc: list[dict], auc: float, path: Path) -> None:
    fig, ax = pyplot().subplots(figsize=(4.5, 4.5))
    ax.plot([p["fpr"] for p in roc], [p["tpr"] for p in roc], "b", label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], "k:", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test)")
    ax.legend(loc="lower right")
    save_figure(fig, path)


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    pyplot().close(fig)
