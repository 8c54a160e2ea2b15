"""Curves: the learning curves and validation metrics of train's history.

Reads only train's `history.json`, which holds no test review: the reports of
the training, kept in git for `dvc metrics diff` and `dvc plots diff`, are
`history.csv` (loss and accuracy per epoch, training and validation),
`train.json` (the validation metrics of the epoch the saved model stands
for) and the notebook's two PNGs, loss and accuracy. A search compares its
trials by these, running the pipeline up to this stage; only the model it
picks goes on to evaluate and the test reviews.
"""

import argparse
from pathlib import Path

from stages.reports import figures
from stages.reports.history import HISTORY, load_history
from stages.runner.command import run
from stages.runner.files import write_bytes, write_csv, write_json


def validation_metrics(history: dict, epochs: int) -> dict:
    """The validation loss and accuracy of epoch `epochs` (1-based)."""
    return {"epochs": epochs,
            "val_loss": round(history["val_loss"][epochs - 1], 6),
            "val_accuracy": round(history["val_accuracy"][epochs - 1], 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path, help="history.json from train")
    parser.add_argument("reports", type=Path, help="folder for the curves and train.json")
    args = parser.parse_args()
    trained = load_history(args.history)
    history = trained["history"]

    write_csv(args.reports / "history.csv", ["epoch"] + HISTORY,
              ([epoch + 1] + [history[key][epoch] for key in HISTORY]
               for epoch in range(len(history["loss"]))))
    write_json(args.reports / "train.json", validation_metrics(history, trained["epochs"]))
    for metric in ("loss", "accuracy"):
        write_bytes(args.reports / "figures" / f"{metric}.png",
                    figures.history_png(history, metric))


if __name__ == "__main__":
    run(main)
