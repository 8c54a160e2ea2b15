"""The PNG figures, drawn with matplotlib: the learning curves of train's history (the
curves stage's), the confusion matrix and the ROC curve of the test reviews (evaluate's).

Each function returns the PNG's bytes, for the stage to write with its other
outputs once everything has succeeded. evaluate draws its two in a second
process (`drawing_process`), on the other core, while TensorFlow loads and
scores in the stage's own; curves, which loads no TensorFlow, draws its own.
"""

import io
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import numpy as np

from stages.reviews.labels import SHORT_NAMES
from stages.runner.process import ignore_signals


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


@contextmanager
def drawing_process():
    """A second process that draws: `pool.submit(history_png, ...)` and the like.

    Start it before TensorFlow loads: on Linux the process is forked, and
    forking a process in which TensorFlow's threads run is unsafe. It
    imports matplotlib straight away, while the stage goes on.
    """
    with ProcessPoolExecutor(max_workers=1, initializer=ignore_signals) as pool:
        pool.submit(load_matplotlib)  # starts the process
        yield pool


def load_matplotlib() -> None:
    pyplot()


def history_png(history: dict[str, list[float]], metric: str) -> bytes:
    """The notebook's figure: training as dots ('bo'), validation as a line ('b')."""
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history[metric]) + 1)
    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.plot(epochs, history[metric], "bo", label=f"Training {metric}")
    ax.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {metric}")
    ax.set(title=f"Training and validation {metric}", xlabel="Epochs", ylabel=metric.capitalize())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return png(fig)


def confusion_png(labels: np.ndarray, predicted: np.ndarray) -> bytes:
    counts = np.zeros((2, 2), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    fig, ax = pyplot().subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, f"{count:,}", ha="center", va="center",
                color="white" if count > counts.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=SHORT_NAMES, yticklabels=SHORT_NAMES,
           xlabel="Predicted", ylabel="Actual", title="Confusion matrix (test)")
    return png(fig)


def roc_png(roc: list[dict], auc: float) -> bytes:
    fig, ax = pyplot().subplots(figsize=(4.5, 4.5))
    ax.plot([p["fpr"] for p in roc], [p["tpr"] for p in roc], "b", label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], "k:", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test)")
    ax.legend(loc="lower right")
    return png(fig)


def png(fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # no version stamp
    pyplot().close(fig)
    return buffer.getvalue()
