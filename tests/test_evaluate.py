import itertools

import numpy as np
import pytest

from stages.evaluate import classification_metrics, roc_auc, roc_curve


def brute_force_auc(labels, scores):
    pairs = list(itertools.product(scores[labels == 1], scores[labels == 0]))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_roc_auc_counts_ordered_pairs_with_ties_as_half():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.integers(0, 20, 200) / 20  # many ties
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_roc_curve_runs_from_origin_to_corner_and_never_falls():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 5000)
    scores = np.clip(labels * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = roc_curve(labels, scores, points=50)
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0, 0) and (roc[-1]["fpr"], roc[-1]["tpr"]) == (1, 1)
    assert 45 <= len(roc) <= 51
    assert all(a["fpr"] <= b["fpr"] and a["tpr"] <= b["tpr"] for a, b in zip(roc, roc[1:]))
    fpr, tpr = np.array([p["fpr"] for p in roc]), np.array([p["tpr"] for p in roc])
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(
        roc_auc(labels, scores), abs=0.01)


def test_classification_metrics():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    predicted = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    metrics = classification_metrics(labels, predicted)
    assert metrics == pytest.approx({"accuracy": 6 / 8, "precision": 3 / 4, "recall": 3 / 4,
                                     "f1": 3 / 4, "recall_negative": 3 / 4,
                                     "balanced_accuracy": 3 / 4, "majority_accuracy": 1 / 2})
    assert classification_metrics(labels, np.zeros(8, int))["precision"] == 0.0


def test_imbalanced_metrics_show_a_model_that_always_says_negative():
    labels = np.array([0] * 9 + [1])
    always_negative = classification_metrics(labels, np.zeros(10, int))
    assert always_negative["accuracy"] == always_negative["majority_accuracy"] == 0.9
    assert always_negative["balanced_accuracy"] == 0.5
    assert always_negative["recall"] == 0.0 and always_negative["recall_negative"] == 1.0
    one_right = classification_metrics(labels, np.array([0] * 8 + [1, 1]))
    assert one_right["balanced_accuracy"] == pytest.approx((8 / 9 + 1) / 2)
    assert classification_metrics(1 - labels, np.ones(10, int))["majority_accuracy"] == 0.9
