"""Reviews to multi-hot vectors: the tokenizer, the vocabulary and `MultiHot`.

Shared by the vectorize stage and by predict, so that a new review is read
exactly as the training reviews were. NumPy only: no TensorFlow import here.
"""

from dataclasses import dataclass
from itertools import chain

import numpy as np

from stages.common import StageError, check_labels, load_arrays, offsets, save_arrays

# The Keras Tokenizer's defaults: lowercase, these characters become spaces.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACES = bytes.maketrans(FILTERS.encode(), b" " * len(FILTERS))


def tokenize(review: str) -> list[bytes]:
    """Lowercase, punctuation to spaces, split on (ASCII) whitespace.

    The tokens are UTF-8 bytes: `bytes.translate` and `bytes.split` are about
    four times faster than their `str` forms, and every filtered character is
    ASCII, so no multi-byte character is cut.
    """
    return review.lower().encode("utf-8").translate(_TO_SPACES).split()


@dataclass
class TokenIds:
    """Tokenised reviews as integers: `ids` indexes `tokens`, review after review.

    Review i's tokens are `ids[offsets[i]:offsets[i + 1]]`; `tokens` lists each
    distinct token once, in order of first appearance, with its `counts`.
    """
    tokens: list[bytes]
    counts: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray


def token_ids(reviews: list[str]) -> TokenIds:
    tokenized = [tokenize(review) for review in reviews]
    starts = offsets(np.fromiter(map(len, tokenized), dtype=np.int64, count=len(tokenized)))
    tokens = list(dict.fromkeys(chain.from_iterable(tokenized)))  # in order of first appearance
    index = {token: i for i, token in enumerate(tokens)}
    # One C-level dict lookup per token: no Python loop over the ~6 million words.
    ids = np.fromiter(map(index.__getitem__, chain.from_iterable(tokenized)),
                      dtype=np.int32, count=int(starts[-1]))
    return TokenIds(tokens, np.bincount(ids, minlength=len(tokens)), ids, starts)


def build_vocab(train: TokenIds, num_words: int) -> list[str]:
    """The `num_words` most frequent tokens, most frequent first.

    Ties keep the order in which the tokens first appear, so the vocabulary
    is a pure function of the reviews.
    """
    ranked = np.argsort(-train.counts, kind="stable")[:num_words]
    return [train.tokens[i].decode("utf-8") for i in ranked]


@dataclass
class MultiHot:
    """Multi-hot vectors stored sparsely (CSR): only the positions of the 1s.

    Row i is 1 at the columns `indices[indptr[i]:indptr[i + 1]]` and 0 elsewhere.
    25,000 reviews take about 7 MB this way instead of 2 GB as dense float64.
    """
    indices: np.ndarray
    indptr: np.ndarray
    num_words: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dense(self) -> np.ndarray:
        """The float32 0/1 matrix, as the notebook's `vectorize_sequences` makes it."""
        out = np.zeros((len(self), self.num_words), dtype=np.float32)
        out[np.repeat(np.arange(len(self)), np.diff(self.indptr)), self.indices] = 1.0
        return out

    def take(self, rows: np.ndarray) -> "MultiHot":
        """The given rows, in that order."""
        lengths = np.diff(self.indptr)[rows]
        indptr = offsets(lengths)
        # Position in `indices` of every 1 of the selected rows, row after row.
        positions = np.arange(indptr[-1]) + np.repeat(self.indptr[rows] - indptr[:-1], lengths)
        return MultiHot(self.indices[positions], indptr, self.num_words)

    @staticmethod
    def concatenate(parts: list["MultiHot"]) -> "MultiHot":
        """The rows of every part, part after part."""
        indptr = offsets(np.concatenate([np.diff(part.indptr) for part in parts]))
        return MultiHot(np.concatenate([part.indices for part in parts]), indptr,
                        parts[0].num_words)


def multi_hot(reviews: TokenIds, vocab: list[str]) -> MultiHot:
    """Each review as the set of its words' vocabulary indices."""
    word_index = {word.encode("utf-8"): i for i, word in enumerate(vocab)}
    # Vocabulary index of each distinct token (-1: not in the vocabulary), then of each token.
    lookup = np.array([word_index.get(token, -1) for token in reviews.tokens] or [-1])
    ids = lookup[reviews.ids]
    rows = np.repeat(np.arange(len(reviews.offsets) - 1), np.diff(reviews.offsets))
    known = ids >= 0
    # One sort of row * num_words + id orders each row's ids and brings repeats together.
    keys = np.sort(rows[known] * len(vocab) + ids[known])
    keys = keys[np.diff(keys, prepend=-1) != 0]
    indptr = offsets(np.bincount(keys // len(vocab), minlength=len(reviews.offsets) - 1))
    index_type = np.min_scalar_type(max(len(vocab) - 1, 0))
    return MultiHot((keys % len(vocab)).astype(index_type), indptr, len(vocab))


def save_vectors(path, vectors: MultiHot, labels: np.ndarray) -> None:
    save_arrays(path, indices=vectors.indices, indptr=vectors.indptr,
                num_words=np.int64(vectors.num_words), labels=labels)


def load_vectors(path) -> tuple[MultiHot, np.ndarray]:
    """Read vectors written by `save_vectors`, checking that they hang together."""
    arrays = load_arrays(path, "indices", "indptr", "num_words", "labels")
    vectors = MultiHot(arrays["indices"], arrays["indptr"], int(arrays["num_words"]))
    indptr, labels = vectors.indptr, arrays["labels"]
    if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(vectors.indices)
            or (np.diff(indptr) < 0).any()):
        raise StageError(f"{path}: row offsets do not match the {len(vectors.indices)} "
                         "word ids; rebuild it with `dvc repro --force vectorize`")
    if len(labels) != len(vectors):
        raise StageError(f"{path}: {len(labels)} labels for {len(vectors)} reviews")
    if vectors.indices.size and int(vectors.indices.max()) >= vectors.num_words:
        raise StageError(f"{path}: word id {int(vectors.indices.max())} is not below "
                         f"num_words={vectors.num_words}")
    check_labels(labels, str(path))
    return vectors, labels
