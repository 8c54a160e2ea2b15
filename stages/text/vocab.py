"""The vocabulary: the most frequent words and n-grams of the training reviews.

`build_vocab` ranks every word, word pair and triple (`ngram_keys` numbers an
n-gram as one integer, so that NumPy sorts and counts them) and keeps the
`num_words` most frequent. `Vocab` is what vectorize writes to `vocab.json`:
the terms, how they were counted (`mode`, `ngrams`, `standardize`) and, for
`tf_idf`, each term's inverse document frequency.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.runner.process import StageError
from stages.text.tokenize import STANDARDIZE, TokenIds


def ngram_keys(ids: np.ndarray, starts: np.ndarray, n: int, base: int):
    """Every run of `n` consecutive tokens inside one review, as (key, position).

    The key reads the n token ids as the digits of one number in `base`
    (more than any id), so that an n-gram is one integer NumPy can sort and
    count. N-grams never cross from one review to the next, and any with a
    negative id (a token to ignore) is left out. For example, with the tokens
    numbered the(0) film(1) was(2) not(3) bad(4), so base 5:

    >>> ids = np.array([0, 1, 2, 3, 4,  3, 4])   # "the film was not bad", "not bad"
    >>> keys, at = ngram_keys(ids, np.array([0, 5, 7]), 2, 5)
    >>> keys.tolist()                             # 0·5+1 "the film", 1·5+2 "film was", …
    [1, 7, 13, 19, 19]
    >>> at.tolist()                               # where each pair starts; none at 4
    [0, 1, 2, 3, 5]

    `digits(19, 2, 5)` reads "not bad" back: [3, 4].
    """
    if base ** n >= 2 ** 63:
        raise StageError(f"{base} distinct tokens are too many for n-grams of {n} "
                         "(their keys would overflow 64 bits); lower vectorize.ngrams")
    starting = max(len(ids) - n + 1, 0)  # positions an n-gram can start at
    keys = ids[:starting].astype(np.int64)
    inside = keys >= 0
    for k in range(1, n):
        keys = keys * base + ids[k:k + starting]
        inside &= ids[k:k + starting] >= 0
        # The n-gram starting k tokens before a review's end would run into the next one.
        ends = starts[1:] - k
        inside[ends[(ends >= 0) & (ends < starting)]] = False
    at = np.flatnonzero(inside)
    return keys[at], at


def build_vocab(train: TokenIds, num_words: int, ngrams: int = 1) -> list[str]:
    """The `num_words` most frequent n-grams (n = 1 .. `ngrams`) of the training reviews.

    Frequency is the number of times an n-gram occurs in all the reviews
    together. Ties go to the shorter n-gram, then to the one seen first, so
    the vocabulary is a pure function of the reviews. An n-gram is its words
    joined by single spaces ("not bad"), as Keras's `TextVectorization` writes it.
    """
    base = max(len(train.tokens), 1)
    ranked = []  # (count, n, first position, key) of every distinct n-gram
    for n in range(1, ngrams + 1):
        if n == 1:  # a word's key is its token id, numbered in order of first appearance
            unique = first = np.arange(len(train.tokens))
            counts = train.counts
        else:
            keys, _ = ngram_keys(train.all_ids(), train.offsets, n, base)
            unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        ranked.append((counts, np.full(len(unique), n), first, unique))
    counts, lengths, first, keys = (np.concatenate(column) for column in zip(*ranked))
    best = np.lexsort((first, lengths, -counts))[:num_words]  # the last key sorts first
    return [" ".join(train.tokens[token].decode("utf-8")
                     for token in digits(int(keys[i]), int(lengths[i]), base)) for i in best]


def digits(key: int, n: int, base: int) -> list[int]:
    """The n token ids that `ngram_keys` packed into `key`."""
    out = []
    for _ in range(n):
        key, digit = divmod(key, base)
        out.append(digit)
    return out[::-1]


MODES = ("multi_hot", "count", "tf_idf")


@dataclass
class Vocab:
    """What vectorize learnt from the training reviews, and predict needs to read a new one.

    `terms` are the vocabulary's words and n-grams, column j of a vector being
    `terms[j]`; `idf` (tf_idf only) the inverse document frequency of each;
    `standardize` how `tokenize` read the reviews.
    """
    terms: list[str]
    ngrams: int = 1
    mode: str = "multi_hot"
    idf: np.ndarray | None = None
    standardize: str = "keras"

    def to_json(self):
        """The notebook's encoding is a plain list of words; others say how they were built."""
        if (self.ngrams, self.mode, self.standardize) == (1, "multi_hot", "keras"):
            return self.terms
        return {"ngrams": self.ngrams, "mode": self.mode, "terms": self.terms,
                **({} if self.standardize == "keras" else {"standardize": self.standardize}),
                **({} if self.idf is None else {"idf": self.idf.tolist()})}

    @staticmethod
    def from_json(data, source: str) -> "Vocab":
        try:
            vocab = Vocab(data) if isinstance(data, list) else Vocab(
                data["terms"], data["ngrams"], data["mode"],
                None if data["mode"] != "tf_idf" else np.array(data["idf"], dtype=np.float64),
                data.get("standardize", "keras"))
        except (KeyError, TypeError, ValueError) as error:
            raise StageError(f"{source} is not a vocabulary written by vectorize ({error!r}); "
                             "run `dvc repro vectorize`")
        if (not isinstance(vocab.terms, list) or not all(isinstance(t, str) for t in vocab.terms)
                or vocab.ngrams not in (1, 2, 3) or vocab.mode not in MODES
                or vocab.standardize not in STANDARDIZE
                or (vocab.idf is not None and vocab.idf.shape != (len(vocab.terms),))):
            raise StageError(f"{source}: its terms, ngrams, mode or idf weights do not hang "
                             "together; run `dvc repro --force vectorize`")
        return vocab


def load_vocab(path: Path) -> Vocab:
    """Read the vocabulary vectorize wrote, in either of its forms."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise StageError(f"{path} is not valid JSON ({error}); run `dvc repro vectorize`")
    return Vocab.from_json(data, str(path))
