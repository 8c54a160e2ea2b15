"""Predict: the sentiment of new reviews with the trained model.

    python -m stages.predict "An unforgettable film" "Two hours I want back"
    python -m stages.predict --file reviews.txt      # one review per line; - reads stdin
    python -m stages.predict --dir my_reviews/       # every .txt file, one review each
    python -m stages.predict --json ...              # for machines

models/model.keras reads the raw reviews itself: its first layer is the
vectorize stage's encoding (the tokenizer's standardisation, the vocabulary's
words or n-grams, its mode, and for tf_idf the training reviews' IDF weights),
so each review is read exactly as the training reviews were. A review is
positive when its probability is above `evaluate.threshold` of params.yaml.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from stages import evaluate
from stages.reviews.labels import CLASSES
from stages.runner.command import run
from stages.runner.dvc_lock import warn_if_not_locked
from stages.runner.params import load_params
from stages.runner.process import StageError


def read_text(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as error:
        raise StageError(f"cannot read {name}: {error.strerror}")
    if b"\0" in data:
        raise StageError(f"{name} is not text: it holds NUL bytes at byte {data.index(0)} "
                         "(a binary file, or UTF-16); give a UTF-8 text file")
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        raise StageError(f"{name} is not UTF-8 text ({error.reason} at byte {error.start}); "
                         f"convert it first, e.g. iconv -f LATIN1 -t UTF-8 {name}")


def read_reviews(texts: list[str], files: list[str], folders: list[Path]) -> list[tuple[str, str]]:
    """(where it came from, review) for every review given, in order. Blank lines of a file
    (or stdin) are skipped, and counted; an empty argument or file is an error."""
    reviews = [(f"argument {i + 1}", text) for i, text in enumerate(texts)]
    blank = 0
    for name in files:
        lines = read_text(name).splitlines()
        reviews += [(f"{name}:{i + 1}", line) for i, line in enumerate(lines) if line.strip()]
        blank += sum(1 for line in lines if not line.strip())
    for folder in folders:
        paths = sorted(folder.glob("*.txt"))
        if not paths:
            raise StageError(f"{folder} is not a folder with .txt files")
        reviews += [(str(path), read_text(str(path))) for path in paths]
    if blank:
        print(f"skipped {blank} blank line{'s' * (blank > 1)}", file=sys.stderr)
    if not reviews:
        raise StageError("no reviews given: pass texts, --file or --dir (see --help)")
    empty = [source for source, text in reviews if not text.strip()]
    if empty:
        raise StageError(f"empty review ({', '.join(empty[:5])}): every review needs some text")
    return reviews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reviews", nargs="*", help="review texts")
    parser.add_argument("-f", "--file", action="append", default=[],
                        help="a UTF-8 text file of one review per line (- for stdin)")
    parser.add_argument("-d", "--dir", action="append", default=[], type=Path,
                        help="a folder of .txt files, one review each")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    args = parser.parse_args()
    cutoff = load_params("evaluate", evaluate.SCHEMA)["threshold"]  # evaluate's block
    reviews = read_reviews(args.reviews, args.file, args.dir)
    if not args.model.is_file():
        raise StageError(f"{args.model} not found: train the model first with `dvc repro` "
                         "(or fetch it with `dvc pull`)")

    warn_if_not_locked(args.model)
    from stages.model.network import tf  # TensorFlow: once the input is sound
    from stages.model.saved import load_model

    model = load_model(args.model)
    texts = tf.constant([text for _, text in reviews])
    probabilities = model.predict(texts, batch_size=256, verbose=0)[:, 0].astype(float)
    # The vectorizer's column 0 counts terms outside the vocabulary; the others are known.
    vectors = model.layers[0](texts)
    if isinstance(vectors, tf.SparseTensor):
        rows, columns = vectors.indices.numpy().T
        known = np.bincount(rows[columns > 0], minlength=len(reviews))
    else:
        known = np.count_nonzero(vectors.numpy()[:, 1:], axis=1)

    results = [{"source": source, "review": text,
                "probability": round(p, 4), "label": CLASSES[int(p > cutoff)],
                "known_words": int(n)}
               for (source, text), p, n in zip(reviews, probabilities, known)]
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for result in results:
        text = " ".join(result["review"].split())
        text = text if len(text) <= 60 else text[:57] + "..."
        note = "" if result["known_words"] else "  (no word of it is in the vocabulary)"
        print(f"{result['probability']:.4f}  {result['label']:<8}  {text}{note}")


if __name__ == "__main__":
    run(main)
