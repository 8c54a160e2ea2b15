"""Each review as a row over the vocabulary: term counts, then weighed by the mode.

`encode` is `count_terms` (how many times each review contains each term,
words and n-grams alike, a few thousand reviews at a time) then `weigh`:
1 for every term present (`multi_hot`, the notebook's `vectorize_sequences`),
the count (`count`), or count × idf (`tf_idf`).
"""

from dataclasses import dataclass
from itertools import chain

import numpy as np

from stages.reviews.raw import offsets
from stages.text.tokenize import TokenIds
from stages.text.vocab import Vocab, ngram_keys
from stages.vectors.sparse import Vectors


@dataclass
class TermColumns:
    """Where each token and n-gram of the reviews goes: the lookup `count_terms` uses.

    `word_columns[token id]` is the column of that word (-1: none). For longer
    terms, the tokens they are made of get their own ids (`ngram_ids[token id]`,
    -1: in no such term), and `ngram_columns[n]` holds the `ngram_keys` of the
    vocabulary's n-word terms, sorted, with their columns.
    """
    word_columns: np.ndarray
    ngram_ids: np.ndarray
    base: int
    ngram_columns: dict[int, tuple[np.ndarray, np.ndarray]]
    num_words: int

    @staticmethod
    def of(tokens: list[bytes], terms: list[str], ngrams: int) -> "TermColumns":
        words = [term.encode("utf-8").split(b" ") for term in terms]
        column = {term[0]: j for j, term in enumerate(words) if len(term) == 1}
        word_columns = np.array([column.get(token, -1) for token in tokens] or [-1])
        token_index = {token: i for i, token in enumerate(dict.fromkeys(chain.from_iterable(
            term for term in words if len(term) > 1)))}
        base = max(len(token_index), 1)
        ngram_ids = np.array([token_index.get(token, -1) for token in tokens] or [-1])
        ngram_columns = {}
        for n in range(2, ngrams + 1):
            columns = np.array([j for j, term in enumerate(words) if len(term) == n],
                               dtype=np.int64)
            # The terms of n words, one after another, are n-grams of their own: a key each.
            term_ids = np.array([token_index[t] for j in columns for t in words[j]],
                                dtype=np.int64)
            keys, _ = ngram_keys(term_ids, np.arange(0, len(term_ids) + 1, n), n, base)
            order = np.argsort(keys)
            ngram_columns[n] = keys[order], columns[order]
        return TermColumns(word_columns, ngram_ids, base, ngram_columns, len(terms))


def count_chunk(lookup: TermColumns, ids: np.ndarray, starts: np.ndarray,
                counts: bool) -> Vectors:
    """The term counts of a few thousand reviews (`ids`, review i from `starts[i]`)."""
    width = max(lookup.num_words, 1)  # cells are row × width + column
    columns = lookup.word_columns[ids]
    rows = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    cells = [rows[columns >= 0] * width + columns[columns >= 0]]  # one per occurrence
    for n, (term_keys, term_columns) in lookup.ngram_columns.items():
        keys, positions = ngram_keys(lookup.ngram_ids[ids], starts, n, lookup.base)
        at = np.minimum(np.searchsorted(term_keys, keys), max(len(term_keys) - 1, 0))
        hit = term_keys[at] == keys if len(term_keys) else np.zeros(len(keys), dtype=bool)
        rows = np.searchsorted(starts, positions[hit], side="right") - 1
        cells.append(rows * width + term_columns[at[hit]])
    # One sort orders each row's columns and brings repeats together.
    cells, times = np.unique(np.concatenate(cells), return_counts=True)
    return Vectors((cells % width).astype(np.min_scalar_type(width - 1)),
                   offsets(np.bincount(cells // width, minlength=len(starts) - 1)),
                   lookup.num_words, times.astype(np.float32) if counts else None)


def count_terms(reviews: TokenIds, terms: list[str], ngrams: int, chunk: int = 5000,
                counts: bool = True) -> Vectors:
    """How many times each review contains each term: `values` are the counts (with
    `counts=False`, None: the columns only, as multi-hot needs). A few thousand reviews
    at a time, so that the temporary arrays stay small."""
    lookup = TermColumns.of(reviews.tokens, terms, ngrams)
    parts = [count_chunk(lookup, np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), counts)]
    parts += [count_chunk(lookup, ids, starts, counts) for ids, starts in reviews.chunks(chunk)]
    return Vectors.concatenate(parts)


def inverse_document_frequency(train_counts: Vectors) -> np.ndarray:
    """Keras's TextVectorization idf: log(1 + reviews / (1 + reviews containing the term))."""
    containing = np.bincount(train_counts.indices, minlength=train_counts.num_words)
    return np.log(1 + len(train_counts) / (1 + containing))


def log_count_ratio(vectors: Vectors, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Each term's log-count ratio in these labelled reviews, as NBSVM weighs its features
    (Wang & Manning 2012): log((p / |p|₁) / (q / |q|₁)), where p is `alpha` plus the number
    of positive reviews containing the term, q the same for negative ones. Positive for a
    term more frequent in positive reviews, negative for one more frequent in negative ones."""
    row_labels = np.repeat(labels, np.diff(vectors.indptr))
    containing = [alpha + np.bincount(vectors.indices[row_labels == label],
                                      minlength=vectors.num_words) for label in (1, 0)]
    p, q = (count / count.sum() for count in containing)
    return np.log(p / q).astype(np.float32)


def weigh(counts: Vectors, vocab: Vocab) -> Vectors:
    """Counts as the vocabulary's mode wants them: 1s, counts, or count × idf."""
    if vocab.mode == "multi_hot":
        return Vectors(counts.indices, counts.indptr, counts.num_words)
    if vocab.mode == "count":
        return counts
    return Vectors(counts.indices, counts.indptr, counts.num_words,
                   (counts.values * vocab.idf[counts.indices]).astype(np.float32))


def encode(reviews: TokenIds, vocab: Vocab) -> Vectors:
    """Each review as a vector over the vocabulary, as vectorize made the training ones."""
    return weigh(count_terms(reviews, vocab.terms, vocab.ngrams), vocab)
