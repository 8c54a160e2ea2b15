"""The two functions that `models/model.keras` calls by name: how it standardises a review.

This file stands alone: it imports only the standard library, Keras and
TensorFlow. To use the model outside this project, copy this file next to it:

    import keras, standardize  # registers the functions with Keras
    model = keras.saving.load_model("model.keras")
    model.predict(keras.ops.convert_to_tensor(["An unforgettable film"]))

They are the vectorize stage's tokenizer (stages/text/tokenize.py) written as
TensorFlow ops: the same characters become spaces, in the same order. The
constants below are that tokenizer's; tests/test_text_model.py checks that
both read every kind of text alike.
"""

import re
import sys
import unicodedata
from functools import cache

import keras
import tensorflow as tf

# `keras`: the Keras Tokenizer's defaults, lowercase and these characters to spaces.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
# `unicode`: HTML tags and character references first, then the typographic apostrophe
# read as "'", every Unicode punctuation mark, symbol, separator and control character
# but "'" to a space, and each character of scripts written without spaces a word.
MARKUP = r"</?[a-z][^<>]*>|&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
APOSTROPHE = "\u2019"
UNSPACED = [(0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
            (0xF900, 0xFAFF), (0x20000, 0x3134F)]


def is_separator(point: int) -> bool:
    category = unicodedata.category(chr(point))
    return point != ord("'") and (category[0] in "PSZ" or category == "Cc")


def ranges(points) -> list[tuple[int, int]]:
    """Consecutive code points, as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for point in points:
        if out and out[-1][1] == point - 1:
            out[-1] = (out[-1][0], point)
        else:
            out.append((point, point))
    return out


def re2_class(runs: list[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\x{{{a:x}}}" + ("" if a == b else f"-\\x{{{b:x}}}")
                         for a, b in runs) + "]"


PUNCTUATION = "[" + re.escape(FILTERS) + "]"


@cache
def separators() -> str:
    """Every code point `is_separator` names, as one RE2 class (built once, when needed)."""
    return re2_class(ranges(filter(is_separator, range(sys.maxunicode + 1))))


@keras.saving.register_keras_serializable(package="imdb_sentiment")
def standardize(reviews: tf.Tensor) -> tf.Tensor:
    """Lowercase (Unicode, as Python's `str.lower`), and each filtered character to a space."""
    return tf.strings.regex_replace(tf.strings.lower(reviews, encoding="utf-8"), PUNCTUATION, " ")


@keras.saving.register_keras_serializable(package="imdb_sentiment")
def standardize_unicode(reviews: tf.Tensor) -> tf.Tensor:
    """The tokenizer's `unicode` standardisation, the same character classes in RE2."""
    reviews = tf.strings.regex_replace(reviews, "(?i)" + MARKUP, " ")
    reviews = tf.strings.regex_replace(tf.strings.lower(reviews, encoding="utf-8"), APOSTROPHE, "'")
    reviews = tf.strings.regex_replace(reviews, separators(), " ")
    return tf.strings.regex_replace(reviews, re2_class(UNSPACED), r" \0 ")
