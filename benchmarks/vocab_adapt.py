"""The vocabulary of the training reviews two ways: vectorize's (token_ids + build_vocab)
against Keras's TextVectorization.adapt, with the same standardisation.

    python benchmarks/vocab_adapt.py     # after `dvc repro`: reads data/raw/train.npz

Prints the time of each, for words and for words and pairs, and how far the two
vocabularies agree: which terms, and which at the same column.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.model.network import keras, tf  # noqa: E402
from stages.model.standardize import standardize  # noqa: E402
from stages.reviews.raw import review_chunks  # noqa: E402
from stages.text.tokenize import token_ids  # noqa: E402
from stages.text.vocab import build_vocab  # noqa: E402

NUM_WORDS = 10_000


def main() -> None:
    reviews = [review for chunk in review_chunks("data/raw/train.npz", 5000) for review in chunk]
    for ngrams in (1, 2):
        start = time.perf_counter()
        ours = build_vocab(token_ids(reviews), NUM_WORDS, ngrams)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        layer = keras.layers.TextVectorization(
            max_tokens=NUM_WORDS + 1, standardize=standardize, split="whitespace",
            ngrams=ngrams if ngrams > 1 else None, output_mode="multi_hot")
        layer.adapt(tf.data.Dataset.from_tensor_slices(reviews).batch(1000))
        adapt_s = time.perf_counter() - start
        theirs = layer.get_vocabulary()[1:]  # its column 0 is the out-of-vocabulary count
        print(f"ngrams={ngrams}: build_vocab {ours_s:.2f} s, adapt {adapt_s:.2f} s; "
              f"terms in common {len(set(ours) & set(theirs))}/{NUM_WORDS}, "
              f"at the same column {sum(a == b for a, b in zip(ours, theirs))}")


if __name__ == "__main__":
    main()
