"""Labels: 0 is negative, 1 positive; their names; and splits that keep their balance."""

import numpy as np

from stages.runner.process import StageError

# Label 0 and label 1, as words and as aclImdb's folders (and the reports) name them.
CLASSES = ("negative", "positive")
SHORT_NAMES = ("neg", "pos")


def stratified_split(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (rest, held out), each in shuffled order: `size` rows held out, with the
    same share of positive labels as all the rows, to within one row."""
    order = np.random.default_rng(seed).permutation(len(labels))
    positives = order[labels[order] == 1]
    negatives = order[labels[order] == 0]
    held_positives = round(size * len(positives) / len(labels))
    held = np.zeros(len(labels), dtype=bool)
    held[positives[:held_positives]] = True
    held[negatives[:size - held_positives]] = True
    return order[~held[order]], order[held[order]]


def held_out_count(size: int | float, rows: int, param: str, what: str) -> int:
    """A count or fraction param as a number of rows, leaving at least one on each side."""
    count = size if isinstance(size, int) else round(size * rows)
    if not 0 < count < rows:
        raise StageError(f"{param}={size} {'is' if isinstance(size, int) else 'gives'} "
                         f"{count} of the {rows} {what}; it must leave at least one on each "
                         f"side: set it to a count between 1 and {rows - 1}, or a fraction "
                         "such as 0.2")
    return count


def describe_balance(labels: np.ndarray) -> str:
    """The class balance as a phrase, as load, split and evaluate print it:
    "12 negative, 13 positive (52.0% positive)"."""
    positives = int(labels.sum())
    return (f"{len(labels) - positives} negative, {positives} positive "
            f"({positives / max(len(labels), 1):.1%} positive)")


def check_labels(labels: np.ndarray, where: str) -> None:
    """Labels must be 0 (negative) or 1 (positive), with both present."""
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise StageError(f"{where}: labels must be 0 or 1, found "
                         f"{sorted(set(labels.tolist()))[:5]}")
    if len(np.unique(labels)) < 2:
        raise StageError(f"{where}: all {labels.size} reviews have the same label; "
                         "a sentiment model needs both positive and negative reviews")
