"""Reviews to tokens: the tokenizer, and every token of a corpus numbered.

`tokenize` reads a review as the Keras Tokenizer does by default (lowercase,
ASCII punctuation to spaces, split on whitespace), or, with `unicode`, as
text in any language. `token_ids` numbers the tokens of many reviews, a
chunk at a time, for the vocabulary (stages.text.vocab) and the vectors
(stages.text.encode).

Why not Keras's `TextVectorization.adapt`, which builds a vocabulary too? It
breaks ties between equally frequent terms in no documented order, where
`build_vocab` breaks them by length, then by first appearance, so that the
vocabulary is a pure function of the reviews; it holds the corpus in
TensorFlow, where `token_ids` streams it from disk; and it is slower on n-grams
(benchmarks/README.md has the figures). The saved model reads new reviews with
the same rules written as TensorFlow ops (stages/model/standardize.py), and
tests/test_text_model.py keeps the two equal, on IMDB-like and on multilingual
text, for every mode and n-gram length.
"""

import os
import re
import sys
import unicodedata
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from itertools import chain, count
from typing import Iterable, Iterator

import numpy as np

from stages.reviews.raw import offsets

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
