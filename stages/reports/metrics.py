"""The test metrics evaluate reports: ROC AUC and curve, and the confusion matrix's rates."""

import numpy as np

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
