"""Vectorize: the vocabulary of the training reviews, and every review as a vector over it.

The vocabulary is the `num_words` most frequent words — and, with
`ngrams: 2` or 3, word pairs and triples — of the *training* reviews only
(the test set must not leak into it). Column j of a vector is vocabulary
term j: 1 when the review contains it (`multi_hot`, the notebook's
encoding), how many times (`count`), or that count times the term's inverse
document frequency in the training reviews (`tf_idf`). `vocab.json` keeps
the terms, most frequent first, and what predict needs to read a new review
the same way.
"""

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from stages.reviews.raw import review_chunks
from stages.runner.command import run
from stages.runner.files import load_arrays, write_json
from stages.runner.params import choice, integer, load_params
from stages.text.encode import count_terms, inverse_document_frequency, weigh
from stages.text.tokenize import STANDARDIZE, TokenIds, token_ids
from stages.text.vocab import MODES, Vocab, build_vocab
from stages.vectors.sparse import save_vectors

SCHEMA = {"num_words": integer(1), "ngrams": integer(1, 3), "mode": choice(*MODES),
          "standardize": choice(*STANDARDIZE, default="keras")}


def read_token_ids(path: Path, standardize: str, ids_file: Path) -> tuple[TokenIds, np.ndarray]:
    """The reviews of a load output, tokenised a chunk at a time, their ids in `ids_file`."""
    return (token_ids(review_chunks(path, 2000), standardize, ids_file=str(ids_file)),
            load_arrays(path, "labels")["labels"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="folder with train.npz and test.npz from load")
    parser.add_argument("out", type=Path, help="folder for vocab.json, train.npz, test.npz")
    args = parser.parse_args()
    params = load_params("vectorize", SCHEMA)

    # Two passes over the reviews, streamed: tokenise (the token ids go to temporary
    # files), then count the vocabulary's terms. Tokenising is pure Python: train and
    # test each get a core (a second process).
    counts = params["mode"] != "multi_hot"
    with ProcessPoolExecutor(max_workers=1) as pool, tempfile.TemporaryDirectory() as tmp:
        test_job = pool.submit(read_token_ids, args.raw / "test.npz", params["standardize"],
                               Path(tmp) / "test.ids")
        train_tokens, train_labels = read_token_ids(args.raw / "train.npz", params["standardize"],
                                                    Path(tmp) / "train.ids")
        test_tokens, test_labels = test_job.result()
        terms = build_vocab(train_tokens, params["num_words"], params["ngrams"])
        test_job = pool.submit(count_terms, test_tokens, terms, params["ngrams"], counts=counts)
        train_counts = count_terms(train_tokens, terms, params["ngrams"], counts=counts)
        test_counts = test_job.result()
    if len(terms) < params["num_words"]:
        print(f"warning: the training reviews have only {len(terms)} distinct terms, "
              f"fewer than num_words={params['num_words']}")

    # IDF from the training reviews only, like the vocabulary; predict reads it back.
    idf = inverse_document_frequency(train_counts) if params["mode"] == "tf_idf" else None
    vocab = Vocab(terms, params["ngrams"], params["mode"], idf, params["standardize"])
    train, test = weigh(train_counts, vocab), weigh(test_counts, vocab)

    write_json(args.out / "vocab.json", vocab.to_json())
    save_vectors(args.out / "train.npz", train, train_labels)
    save_vectors(args.out / "test.npz", test, test_labels)
    for name, vectors in (("train", train), ("test", test)):
        terms_each = len(vectors.indices) / max(len(vectors), 1)
        print(f"{name}: {len(vectors)} reviews, {terms_each:.0f} distinct vocabulary terms each "
              "on average")


if __name__ == "__main__":
    run(main)
