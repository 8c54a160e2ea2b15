"""Reviews to vectors: the tokenizer, the n-gram vocabulary, and sparse `Vectors`.

In the order a review goes through them:
1. `tokenize`: a review's words (the Keras Tokenizer's lowercasing and
   punctuation), and `token_ids`: every token numbered;
2. `build_vocab`: the `num_words` most frequent terms of the training reviews
   (words, and with n-grams word pairs and triples, as `ngram_keys` numbers them);
3. `encode` (`count_terms`, then `weigh`): each review as a row over the
   vocabulary. With the defaults, row i has a 1 in column j when review i
   contains word j: the notebook's `vectorize_sequences`, stored sparse
   (`Vectors`; `Vectors.dense()` is the notebook's matrix).

Shared by the vectorize stage and the tests; NumPy only, no TensorFlow here.
"""

import json
import os
import re
import sys
import unicodedata
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from itertools import chain, count
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from stages.common import StageError, check_labels, load_arrays, offsets, save_arrays

# The Keras Tokenizer's defaults: lowercase, these characters become spaces.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACES = bytes.maketrans(FILTERS.encode(), b" " * len(FILTERS))


STANDARDIZE = ("keras", "unicode")

# `unicode`: HTML tags and character references, dropped before anything else.
APOSTROPHE = "\u2019"  # typographic, read as "'": "don’t" is "don't"
MARKUP = r"</?[a-z][^<>]*>|&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
# Scripts written without spaces between words (Chinese, Japanese kana and kanji):
# each character is a token of its own; `vectorize.ngrams: 2` adds character pairs.
UNSPACED = [(0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
            (0xF900, 0xFAFF), (0x20000, 0x3134F)]


@cache
def separators() -> list[tuple[int, int]]:
    """Code point ranges that `unicode` turns into spaces: every punctuation mark, symbol,
    separator and control character of Python's Unicode tables, except the apostrophe
    (which stays inside words, as in the Keras Tokenizer: "don't")."""
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        if unicodedata.category(chr(point))[0] in "PSZ" or unicodedata.category(chr(point)) == "Cc":
            if point == ord("'"):
                continue
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    return ranges


def character_class(ranges: list[tuple[int, int]], escape: str) -> str:
    """A regular-expression class of these ranges, each code point written as `escape`."""
    return "[" + "".join(escape.format(a) + ("" if a == b else "-" + escape.format(b))
                         for a, b in ranges) + "]"


@cache
def unicode_patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    return (re.compile(MARKUP, re.IGNORECASE),
            re.compile(character_class(separators(), r"\U{:08x}")),
            re.compile(character_class(UNSPACED, r"\U{:08x}")))


def tokenize(review: str, standardize: str = "keras") -> list[bytes]:
    """A review's words, as UTF-8 bytes (benchmarks/README.md: why bytes).

    `keras`, the notebook's: lowercase, the Keras Tokenizer's ASCII punctuation
    (`FILTERS`) to spaces, split on whitespace. Every filtered character is
    ASCII, so the fast `bytes.translate` cuts no multi-byte character.
    `unicode`, for text beyond English IMDB reviews: HTML tags and references
    (`<br />`, `&amp;`, `&#039;`) to spaces, lowercase, every Unicode
    punctuation mark, symbol and space ("¡", "“", "—", "\u00a0") but the
    apostrophe (’ read as ') to a space, and
    each character of `UNSPACED` scripts a word of its own:

    >>> tokenize("¡Genial! “Ça marche” — <br />5&amp;5", "unicode")
    [b'genial', b'\xc3\xa7a', b'marche', b'5', b'5']
    """
    if standardize == "keras":
        return review.lower().encode("utf-8").translate(_TO_SPACES).split()
    markup, separator, unspaced = unicode_patterns()
    review = markup.sub(" ", review).lower().replace(APOSTROPHE, "'")
    review = separator.sub(" ", review)
    return unspaced.sub(r" \g<0> ", review).encode("utf-8").split()


@dataclass
class TokenIds:
    """Tokenised reviews as integers: `ids` indexes `tokens`, review after review.

    Review i's tokens are `ids[offsets[i]:offsets[i + 1]]`; `tokens` lists each
    distinct token once, in order of first appearance, with its `counts`. The ids
    are in memory (`ids`) or, for a corpus of any size, in the file `ids_file`
    (int32, native order), read a chunk of reviews at a time.
    """
    tokens: list[bytes]
    counts: np.ndarray
    ids: np.ndarray | None
    offsets: np.ndarray
    ids_file: str | None = None

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, starts) of `size` reviews at a time; starts are relative to the chunk."""
        with open(self.ids_file, "rb") if self.ids_file else nullcontext() as file:
            for first in range(0, len(self.offsets) - 1, size):
                starts = self.offsets[first:first + size + 1]
                a, b = int(starts[0]), int(starts[-1])
                ids = (self.ids[a:b] if file is None else
                       np.frombuffer(os.pread(file.fileno(), (b - a) * 4, a * 4), dtype=np.int32))
                yield ids, starts - a

    def all_ids(self) -> np.ndarray:
        """Every id at once (n-gram counting needs them together)."""
        if self.ids is not None:
            return self.ids
        return np.fromfile(self.ids_file, dtype=np.int32)


def token_ids(reviews: Iterable[str] | Iterable[list[str]], standardize: str = "keras",
              chunk: int = 2000, ids_file: str | None = None) -> TokenIds:
    """Number the tokens of these reviews (a list, or chunks of reviews as lists).

    With `ids_file`, the ids are written there, a chunk at a time, instead of
    being kept: memory then holds one chunk of reviews and the distinct tokens.
    """
    if isinstance(reviews, list) and (not reviews or isinstance(reviews[0], str)):
        texts = reviews
        reviews = (texts[first:first + chunk] for first in range(0, len(texts), chunk))
    index: dict[bytes, int] = {}  # token -> id, in order of first appearance
    lengths, ids, counts = [], [], np.zeros(0, dtype=np.int64)
    with open(ids_file, "wb") if ids_file else nullcontext() as out:
        for part in reviews:
            tokenized = [tokenize(review, standardize) for review in part]
            lengths += map(len, tokenized)
            flat = list(chain.from_iterable(tokenized))
            index.update(zip([token for token in dict.fromkeys(flat) if token not in index],
                             count(len(index))))
            # One C-level dict lookup per token: no Python loop over the millions of words.
            part_ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int32, count=len(flat))
            counts = np.pad(counts, (0, len(index) - len(counts)))
            counts += np.bincount(part_ids, minlength=len(index))
            if out is None:
                ids.append(part_ids)
            else:
                out.write(part_ids.tobytes())
    starts = offsets(np.array(lengths, dtype=np.int64))
    if ids_file:
        return TokenIds(list(index), counts, None, starts, ids_file)
    return TokenIds(list(index), counts, np.concatenate(ids) if ids else np.zeros(0, np.int32),
                    starts)


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


@dataclass
class Vectors:
    """Review vectors stored sparsely (CSR): only the nonzero entries.

    Row i has `values[indptr[i]:indptr[i + 1]]` at the columns
    `indices[indptr[i]:indptr[i + 1]]`, 0 elsewhere; with `values` None every
    stored entry is 1 (multi-hot). 25,000 multi-hot reviews take about 7 MB
    this way instead of 2 GB as dense float64.
    """
    indices: np.ndarray
    indptr: np.ndarray
    num_words: int
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dense(self) -> np.ndarray:
        """The float32 matrix; for multi-hot, as the notebook's `vectorize_sequences` makes it."""
        out = np.zeros((len(self), self.num_words), dtype=np.float32)
        out[np.repeat(np.arange(len(self)), np.diff(self.indptr)), self.indices] = (
            1.0 if self.values is None else self.values)
        return out

    def take(self, rows: np.ndarray, chunk: int = 10_000) -> "Vectors":
        """The given rows, in that order (a chunk of rows at a time: the positions
        gathered, 8 bytes per entry, never span the whole matrix)."""
        parts = []
        for first in range(0, len(rows), chunk):
            part = rows[first:first + chunk]
            lengths = np.diff(self.indptr)[part]
            indptr = offsets(lengths)
            # Position in `indices` of every entry of these rows, row after row.
            positions = np.arange(indptr[-1]) + np.repeat(self.indptr[part] - indptr[:-1], lengths)
            parts.append(Vectors(self.indices[positions], indptr, self.num_words,
                                 None if self.values is None else self.values[positions]))
        if not parts:
            return Vectors(self.indices[:0], np.zeros(1, dtype=np.int64), self.num_words,
                           None if self.values is None else self.values[:0])
        return Vectors.concatenate(parts)

    @staticmethod
    def concatenate(parts: list["Vectors"]) -> "Vectors":
        """The rows of every part, part after part."""
        indptr = offsets(np.concatenate([np.diff(part.indptr) for part in parts]))
        values = None if parts[0].values is None else np.concatenate([p.values for p in parts])
        return Vectors(np.concatenate([part.indices for part in parts]), indptr,
                       parts[0].num_words, values)


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


def load_vocab(path: Path) -> Vocab:
    """Read the vocabulary vectorize wrote, in either of its forms."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise StageError(f"{path} is not valid JSON ({error}); run `dvc repro vectorize`")
    return Vocab.from_json(data, str(path))


def save_vectors(path, vectors: Vectors, labels: np.ndarray) -> None:
    """Multi-hot vectors store no values: their files stay those of the notebook's encoding."""
    values = {} if vectors.values is None else {"values": vectors.values}
    save_arrays(path, indices=vectors.indices, indptr=vectors.indptr,
                num_words=np.int64(vectors.num_words), labels=labels, **values)


def load_vectors(path) -> tuple[Vectors, np.ndarray]:
    """Read vectors written by `save_vectors`, checking that they hang together."""
    arrays = load_arrays(path, "indices", "indptr", "num_words", "labels", optional=["values"])
    values = arrays.get("values")
    vectors = Vectors(arrays["indices"], arrays["indptr"], int(arrays["num_words"]), values)
    indptr, labels = vectors.indptr, arrays["labels"]
    if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(vectors.indices)
            or (np.diff(indptr) < 0).any()):
        raise StageError(f"{path}: row offsets do not match the {len(vectors.indices)} "
                         "word ids; rebuild it with `dvc repro --force vectorize`")
    if values is not None and len(values) != len(vectors.indices):
        raise StageError(f"{path}: {len(values)} values for {len(vectors.indices)} word ids; "
                         "rebuild it with `dvc repro --force vectorize`")
    if len(labels) != len(vectors):
        raise StageError(f"{path}: {len(labels)} labels for {len(vectors)} reviews")
    if vectors.indices.size and int(vectors.indices.max()) >= vectors.num_words:
        raise StageError(f"{path}: word id {int(vectors.indices.max())} is not below "
                         f"num_words={vectors.num_words}")
    check_labels(labels, str(path))
    return vectors, labels
