import numpy as np
import pytest

from stages.common import StageError, save_arrays
from stages.text import (Vectors, Vocab, build_vocab, encode, load_vectors, save_vectors,
                         token_ids, tokenize)


def test_tokenize_follows_the_keras_tokenizer_defaults():
    review = "This film... was GREAT!<br /><br />Didn't you (really) love it? 10/10 Émile"
    assert tokenize(review) == [w.encode() for w in [
        "this", "film", "was", "great", "br", "br", "didn't", "you", "really", "love", "it",
        "10", "10", "émile"]]
    assert tokenize("   ") == []


def test_token_ids_number_tokens_in_order_of_first_appearance():
    ids = token_ids(["b a c a", "", "C d! a b"])
    assert ids.tokens == [b"b", b"a", b"c", b"d"]
    assert ids.counts.tolist() == [2, 3, 2, 1]
    assert ids.ids.tolist() == [0, 1, 2, 1, 2, 3, 1, 0]
    assert ids.offsets.tolist() == [0, 4, 4, 8]


def test_vocab_is_most_frequent_first_with_ties_in_first_seen_order():
    train = token_ids(["b a c a", "c d a b"])
    assert build_vocab(train, 10) == ["a", "b", "c", "d"]
    assert build_vocab(train, 2) == ["a", "b"]


def naive_multi_hot(tokenized, vocab):
    """The notebook's vectorize_sequences, written the slow, obvious way."""
    index = {word: i for i, word in enumerate(vocab)}
    out = np.zeros((len(tokenized), len(vocab)), dtype=np.float32)
    for row, tokens in enumerate(tokenized):
        for token in tokens:
            if token.decode() in index:
                out[row, index[token.decode()]] = 1.0
    return out


def test_multi_hot_matches_the_dense_encoding(reviews):
    texts = reviews[0] + ["", "unknownword only"]
    tokenized = [tokenize(t) for t in texts]
    vocab = build_vocab(token_ids(texts[:30]), 12)
    vectors = encode(token_ids(texts), Vocab(vocab))
    assert len(vectors) == len(tokenized) and vectors.num_words == 12
    assert vectors.indices.dtype == np.uint8
    np.testing.assert_array_equal(vectors.dense(), naive_multi_hot(tokenized, vocab))
    rows = np.array([5, 0, 41, 7, 7])
    np.testing.assert_array_equal(vectors.take(rows).dense(),
                                  naive_multi_hot(tokenized, vocab)[rows])


def test_concatenate_stacks_rows():
    vectors = encode(token_ids(["a b", "c", "", "a c d"]), Vocab(["a", "b", "c", "d"]))
    first, second = vectors.take(np.array([0, 1])), vectors.take(np.array([2, 3]))
    both = Vectors.concatenate([first, second])
    np.testing.assert_array_equal(both.dense(), vectors.dense())
    np.testing.assert_array_equal(both.indptr, vectors.indptr)


def test_vectors_round_trip_and_are_checked(tmp_path):
    vectors = encode(token_ids(["a b", "b c"]), Vocab(["a", "b", "c"]))
    labels = np.array([0, 1], dtype=np.uint8)
    save_vectors(tmp_path / "v.npz", vectors, labels)
    loaded, loaded_labels = load_vectors(tmp_path / "v.npz")
    np.testing.assert_array_equal(loaded.dense(), vectors.dense())
    assert loaded_labels.tolist() == [0, 1]

    def broken(**change):
        arrays = dict(indices=vectors.indices, indptr=vectors.indptr, num_words=np.int64(3),
                      labels=labels) | change
        save_arrays(tmp_path / "bad.npz", **arrays)
        return tmp_path / "bad.npz"

    with pytest.raises(StageError, match="labels must be 0 or 1"):
        load_vectors(broken(labels=np.array([0, 2], dtype=np.uint8)))
    with pytest.raises(StageError, match="same label"):
        load_vectors(broken(labels=np.array([1, 1], dtype=np.uint8)))
    with pytest.raises(StageError, match="3 labels for 2 reviews"):
        load_vectors(broken(labels=np.array([0, 1, 1], dtype=np.uint8)))
    with pytest.raises(StageError, match="not below num_words=2"):
        load_vectors(broken(num_words=np.int64(2)))
    with pytest.raises(StageError, match="row offsets"):
        load_vectors(broken(indptr=np.array([0, 1, 9])))
