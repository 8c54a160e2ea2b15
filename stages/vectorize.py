"""Vectorize: the vocabulary of the training reviews, and every review as a multi-hot vector.

The vocabulary is the `num_words` most frequent tokens of the *training*
reviews only (the test set must not leak into it); `vocab.json` lists them,
most frequent first, and predict reuses it with the same tokenizer. Vector
column j is 1 when the review contains vocabulary word j, however often.
"""

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from stages.common import integer, load_arrays, load_params, run, unpack_reviews, write_json
from stages.text import TokenIds, build_vocab, multi_hot, save_vectors, token_ids

SCHEMA = {"num_words": integer(1)}


def read_token_ids(path: Path) -> tuple[TokenIds, np.ndarray]:
    arrays = load_arrays(path, "text", "offsets", "labels")
    return token_ids(unpack_reviews(arrays["text"], arrays["offsets"])), arrays["labels"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="folder with train.npz and test.npz from load")
    parser.add_argument("out", type=Path, help="folder for vocab.json, train.npz, test.npz")
    args = parser.parse_args()
    params = load_params("vectorize", SCHEMA)

    # Tokenising is pure Python: train and test each get a core (a second process).
    with ProcessPoolExecutor(max_workers=1) as pool:
        test_job = pool.submit(read_token_ids, args.raw / "test.npz")
        train_tokens, train_labels = read_token_ids(args.raw / "train.npz")
        test_tokens, test_labels = test_job.result()
        vocab = build_vocab(train_tokens, params["num_words"])
        test_job = pool.submit(multi_hot, test_tokens, vocab)
        train = multi_hot(train_tokens, vocab)
        test = test_job.result()
    if len(vocab) < params["num_words"]:
        print(f"warning: the training reviews have only {len(vocab)} distinct words, "
              f"fewer than num_words={params['num_words']}")

    write_json(args.out / "vocab.json", vocab)
    save_vectors(args.out / "train.npz", train, train_labels)
    save_vectors(args.out / "test.npz", test, test_labels)
    for name, vectors in (("train", train), ("test", test)):
        words = len(vectors.indices) / max(len(vectors), 1)
        print(f"{name}: {len(vectors)} reviews, {words:.0f} distinct vocabulary words each on average")


if __name__ == "__main__":
    run(main)
