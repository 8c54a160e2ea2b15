"""The vectorize stage's encoding as Keras layers, so that the saved model reads raw text.

`text_vectorizer(vocab)` is a `TextVectorization` layer that turns a batch of raw
reviews into the vectors vectorize makes: the same lowercasing and punctuation
(`standardize`, below, is `stages.text.tokenize` as TensorFlow ops), the same
split on whitespace, the same words and n-grams, the vocabulary's terms and, for
`tf_idf`, the training reviews' IDF weights. Its column 0 counts the terms that are
not in the vocabulary; column j + 1 is the vocabulary's term j.

To load `models/model.keras` elsewhere, import this module first: Keras then finds
`standardize` by its registered name.
"""

import re

import keras
import tensorflow as tf

from stages.text import APOSTROPHE, FILTERS, MARKUP, UNSPACED, Vocab, character_class, separators

# Every character the tokenizer turns into a space, as one RE2 character class.
PUNCTUATION = "[" + re.escape(FILTERS) + "]"


@keras.saving.register_keras_serializable(package="imdb_sentiment")
def standardize(reviews: tf.Tensor) -> tf.Tensor:
    """Lowercase (Unicode, as Python's `str.lower`), and each filtered character to a space."""
    return tf.strings.regex_replace(tf.strings.lower(reviews, encoding="utf-8"), PUNCTUATION, " ")


@keras.saving.register_keras_serializable(package="imdb_sentiment")
def standardize_unicode(reviews: tf.Tensor) -> tf.Tensor:
    """`stages.text.tokenize`'s `unicode` standardisation, the same character classes in RE2."""
    reviews = tf.strings.regex_replace(reviews, "(?i)" + MARKUP, " ")
    reviews = tf.strings.regex_replace(tf.strings.lower(reviews, encoding="utf-8"), APOSTROPHE, "'")
    reviews = tf.strings.regex_replace(reviews, character_class(separators(), r"\x{{{:x}}}"), " ")
    return tf.strings.regex_replace(reviews, character_class(UNSPACED, r"\x{{{:x}}}"), r" \0 ")


def text_vectorizer(vocab: Vocab) -> keras.layers.TextVectorization:
    """Sparse output for `multi_hot` and `count`; dense for `tf_idf`, which Keras 3.15's
    TextVectorization fails to weigh in sparse form."""
    return keras.layers.TextVectorization(
        standardize=standardize if vocab.standardize == "keras" else standardize_unicode,
        split="whitespace",
        ngrams=vocab.ngrams if vocab.ngrams > 1 else None,
        output_mode=vocab.mode, vocabulary=vocab.terms,
        idf_weights=None if vocab.idf is None else vocab.idf.astype("float32"),
        sparse=vocab.mode != "tf_idf", name="vectorize")
