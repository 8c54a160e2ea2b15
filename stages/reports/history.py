"""Train's per-epoch history: what train records, and how evaluate reads it back.

`models/history.json` is {"epochs": N, "history": {column: [one value per epoch]}}:
the learning curves of the validated fit, and the number of epochs the saved
model was trained for.
"""

import json
from pathlib import Path

from stages.runner.files import write_json
from stages.runner.process import StageError

HISTORY = ["loss", "accuracy", "val_loss", "val_accuracy"]  # what train records, per epoch


def save_history(path: Path, history: dict, epochs: int) -> None:
    write_json(path, {"epochs": epochs, "history": {key: history[key] for key in HISTORY}})


def load_history(path: Path) -> dict:
    """What `save_history` wrote, checked."""
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
