"""Predict: the sentiment of new reviews with the trained model.

    python -m stages.predict "An unforgettable film" "Two hours I want back"
    python -m stages.predict --file reviews.txt      # one review per line; - reads stdin
    python -m stages.predict --dir my_reviews/       # every .txt file, one review each
    python -m stages.predict --json ...              # for machines

Each review is read exactly as the training reviews were: the same tokenizer,
the vocabulary of the vectorize stage (data/vectors/vocab.json: its words or
n-grams, its mode, and for tf_idf the training reviews' IDF weights), and
models/model.keras itself; a review is positive when its probability is
above `evaluate.threshold` of params.yaml.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from stages.common import StageError, load_params, run
from stages.evaluate import SCHEMA as EVALUATE_SCHEMA
from stages.text import encode, load_vocab, token_ids


def read_text(name: str) -> str:
    try:
        return sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise StageError(f"{name} is not UTF-8 text ({error.reason} at byte {error.start}); "
                         f"convert it first, e.g. iconv -f LATIN1 -t UTF-8 {name}")
    except OSError as error:
        raise StageError(f"cannot read {name}: {error.strerror}")


def read_reviews(texts: list[str], files: list[str], folders: list[Path]) -> list[tuple[str, str]]:
    """(where it came from, review) for every review given, in order."""
    reviews = [(f"argument {i + 1}", text) for i, text in enumerate(texts)]
    for name in files:
        reviews += [(f"{name}:{i + 1}", line) for i, line in enumerate(read_text(name).splitlines())]
    for folder in folders:
        paths = sorted(folder.glob("*.txt"))
        if not paths:
            raise StageError(f"{folder} is not a folder with .txt files")
        reviews += [(str(path), read_text(str(path))) for path in paths]
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
    parser.add_argument("--vocab", type=Path, default=Path("data/vectors/vocab.json"))
    args = parser.parse_args()
    threshold = load_params("evaluate", EVALUATE_SCHEMA)["threshold"]
    reviews = read_reviews(args.reviews, args.file, args.dir)
    for path in (args.model, args.vocab):
        if not path.is_file():
            raise StageError(f"{path} not found: train the model first with `dvc repro`")

    vocab = load_vocab(args.vocab)

    from stages.network import load_model, sparse_batches  # TensorFlow: once input is sound

    model = load_model(args.model, len(vocab.terms), str(args.vocab))
    # The training reviews' tokenizer, vocabulary, n-grams and weights (IDF included).
    vectors = encode(token_ids([text for _, text in reviews]), vocab)
    batches = sparse_batches(vectors, None, batch_size=256)
    probabilities = model.predict(batches, verbose=0)[:, 0].astype(float)

    results = [{"source": source, "review": text,
                "probability": round(p, 4), "label": "positive" if p > threshold else "negative",
                "known_words": int(n)}
               for (source, text), p, n in zip(reviews, probabilities, np.diff(vectors.indptr))]
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
