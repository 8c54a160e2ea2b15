"""The linear peer: scikit-learn's usual text recipe on the pipeline's own train/test split.

    make benchmark-peer       # after `dvc repro`; installs scikit-learn first

TF-IDF of words and word pairs (the 100,000 most frequent, sublinear term
frequency) and logistic regression (C=4), fitted on the training reviews
of data/raw/train.npz and scored on data/raw/test.npz: the reviews the load
stage wrote, whatever load.source is, so the figures compare with
reports/metrics.json. scikit-learn is a benchmark-only dependency, outside
the pipeline's lock (pyproject.toml's `benchmark` extra).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from stages.reviews.raw import unpack_reviews  # noqa: E402
from stages.runner.files import load_arrays  # noqa: E402


def reviews(path: str) -> tuple[list[str], np.ndarray]:
    arrays = load_arrays(path, "text", "offsets", "labels")
    return unpack_reviews(arrays["text"], arrays["offsets"]), arrays["labels"]


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    (train, train_labels), (test, test_labels) = reviews("data/raw/train.npz"), reviews(
        "data/raw/test.npz")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), max_features=100_000, sublinear_tf=True)
    model = LogisticRegression(C=4, max_iter=1000)
    model.fit(vectorizer.fit_transform(train), train_labels)
    predicted = model.predict(vectorizer.transform(test))
    accuracy = float((predicted == test_labels).mean())
    recalls = [float((predicted[test_labels == c] == c).mean()) for c in (0, 1)]
    majority = float(max(test_labels.mean(), 1 - test_labels.mean()))
    print(f"TF-IDF words + pairs, logistic regression: {len(train)} training, {len(test)} test "
          f"reviews; test accuracy {accuracy:.4f}, balanced accuracy {np.mean(recalls):.4f}, "
          f"majority {majority:.4f}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
