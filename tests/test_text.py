import json

import numpy as np
import pytest

from stages.runner.files import save_arrays
from stages.runner.process import StageError
from stages.text.encode import (
    count_terms,
    encode,
    inverse_document_frequency,
    log_count_ratio,
    weigh,
)
from stages.text.tokenize import token_ids, tokenize
from stages.text.vocab import Vocab, build_vocab
from stages.vectors.sparse import Vectors, load_vectors, save_vectors


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
    with pytest.raises(StageError, match="3 values for 4 word ids"):
        load_vectors(broken(values=np.ones(3, dtype=np.float32)))


# --- n-grams, counts and TF-IDF, checked by hand on a tiny corpus ----------------------

CORPUS = ["Good movie. Not bad", "bad movie", "not good, not bad!"]


def test_log_count_ratio_by_hand():
    """NBSVM's ratio: 1 + positive reviews containing a term over the positives' total,
    against the same for negatives, in logs."""
    counts = count_terms(token_ids(CORPUS), ["not", "bad", "good", "movie"], 1)
    labels = np.array([1, 0, 1])  # "not" in both positives; "bad" in all three; "movie" in 1 and 2
    # p = 1 + [2, 2, 2, 1] (sum 11); q = 1 + [0, 1, 0, 1] (sum 6)
    expected = np.log((np.array([3, 3, 3, 2]) / 11) / (np.array([1, 2, 1, 2]) / 6))
    np.testing.assert_allclose(log_count_ratio(counts, labels), expected, rtol=1e-6)


def test_ngrams_stay_inside_a_review_and_see_through_punctuation():
    vocab = build_vocab(token_ids(CORPUS), 100, ngrams=2)
    assert "movie not" in vocab  # "movie. Not": punctuation is dropped before pairing
    assert "good not" in vocab  # "good, not"
    assert "bad bad" not in vocab  # the end of review 1 and the start of review 2
    assert set(vocab) == {"good", "movie", "not", "bad", "good movie", "movie not", "not bad",
                          "bad movie", "not good", "good not"}
    trigrams = build_vocab(token_ids(["a b c", "d e", "f"]), 100, ngrams=3)
    assert trigrams == ["a", "b", "c", "d", "e", "f", "a b", "b c", "d e", "a b c"]
    # An empty review between two others joins nothing.
    assert "a b" not in build_vocab(token_ids(["x a", "", "b y"]), 100, ngrams=2)


def test_ranking_by_count_then_shorter_then_first_seen():
    vocab = build_vocab(token_ids(CORPUS), 100, ngrams=2)
    # not, bad: 3 times; good, movie, "not bad": 2 (words before pairs); then pairs seen once,
    # in the order they first appear.
    assert vocab == ["not", "bad", "good", "movie", "not bad",
                     "good movie", "movie not", "bad movie", "not good", "good not"]
    assert build_vocab(token_ids(CORPUS), 5, ngrams=2) == vocab[:5]
    # "a b" occurs as often as "c" and before it, but is longer: it ranks after.
    assert build_vocab(token_ids(["a b", "a b", "c", "c"]), 4, ngrams=2) == ["a", "b", "c", "a b"]
    # With ngrams 1, the notebook's vocabulary: words only, most frequent first.
    assert build_vocab(token_ids(CORPUS), 100) == ["not", "bad", "good", "movie"]


def test_counts_and_tf_idf_by_hand():
    train = token_ids(CORPUS)
    terms = ["not", "bad", "good", "movie", "not bad"]
    counts = count_terms(train, terms, 2)
    np.testing.assert_array_equal(counts.dense(), [[1, 1, 1, 1, 1],
                                                   [0, 1, 0, 1, 0],
                                                   [2, 1, 1, 0, 1]])
    # Reviews containing each term: 2, 3, 2, 2, 2 of 3; Keras's idf = ln(1 + 3 / (1 + df)).
    idf = inverse_document_frequency(counts)
    np.testing.assert_allclose(idf, np.log([2, 1.75, 2, 2, 2]))
    tf_idf = Vocab(terms, 2, "tf_idf", idf)
    np.testing.assert_allclose(weigh(counts, tf_idf).dense()[2],
                               [2 * np.log(2), np.log(1.75), np.log(2), 0, np.log(2)], rtol=1e-6)
    # A new review is read with the training reviews' idf, in every mode.
    new = token_ids(["Not bad... not BAD at all"])
    np.testing.assert_array_equal(encode(new, Vocab(terms, 2, "count")).dense(), [[2, 2, 0, 0, 2]])
    np.testing.assert_array_equal(encode(new, Vocab(terms, 2)).dense(), [[1, 1, 0, 0, 1]])
    np.testing.assert_allclose(encode(new, tf_idf).dense(),
                               [[2 * np.log(2), 2 * np.log(1.75), 0, 0, 2 * np.log(2)]],
                               rtol=1e-6)


def test_tf_idf_is_what_keras_text_vectorization_computes():
    from stages.model.network import keras  # quiets TensorFlow's start-up lines

    layer = keras.layers.TextVectorization(ngrams=2, output_mode="tf_idf",
                                           standardize="lower_and_strip_punctuation")
    layer.adapt(CORPUS)
    keras_vocab = layer.get_vocabulary()[1:]  # index 0: the out-of-vocabulary slot
    ours = Vocab(keras_vocab, 2, "tf_idf",
                 inverse_document_frequency(count_terms(token_ids(CORPUS), keras_vocab, 2)))
    new = ["Not bad... not BAD at all", "a good movie"]
    np.testing.assert_allclose(encode(token_ids(new), ours).dense(),
                               np.asarray(layer(new))[:, 1:], rtol=1e-6)


def test_vocabulary_file_keeps_what_predict_needs(tmp_path):
    plain = Vocab(["a", "b"])
    assert plain.to_json() == ["a", "b"]  # the notebook's encoding: the file it always was
    tf_idf = Vocab(["a", "a b"], 2, "tf_idf", np.array([0.5, 1.25]))
    data = json.loads(json.dumps(tf_idf.to_json()))
    assert data == {"ngrams": 2, "mode": "tf_idf", "terms": ["a", "a b"], "idf": [0.5, 1.25]}
    back = Vocab.from_json(data, "vocab.json")
    assert (back.terms, back.ngrams, back.mode) == (["a", "a b"], 2, "tf_idf")
    np.testing.assert_array_equal(back.idf, [0.5, 1.25])
    assert Vocab.from_json(["a", "b"], "vocab.json") == plain
    with pytest.raises(StageError, match="is not a vocabulary written by vectorize"):
        Vocab.from_json({"terms": ["a"]}, "vocab.json")
    for broken in ({"idf": [0.5]}, {"mode": "binary"}, {"terms": "a"}, {"ngrams": 4}):
        with pytest.raises(StageError, match="do not hang together"):
            Vocab.from_json(data | broken, "vocab.json")
    with pytest.raises(StageError, match="do not hang together"):
        Vocab.from_json(["a", 2], "vocab.json")
    with pytest.raises(StageError, match="is not a vocabulary written by vectorize"):
        Vocab.from_json({"terms": ["a"], "ngrams": 1, "mode": "tf_idf", "idf": ["x"]}, "vocab.json")


def test_multi_hot_files_store_no_values(tmp_path):
    """The notebook's encoding writes exactly the arrays it always did, so the committed
    dvc.lock and every cache stay valid; counts and TF-IDF add their values."""
    reviews = token_ids(CORPUS)
    labels = np.array([1, 0, 1], dtype=np.uint8)
    for mode, names in (("multi_hot", ["indices", "indptr", "num_words", "labels"]),
                        ("count", ["indices", "indptr", "num_words", "labels", "values"])):
        save_vectors(tmp_path / f"{mode}.npz", encode(reviews, Vocab(["not", "bad"], 1, mode)),
                     labels)
        with np.load(tmp_path / f"{mode}.npz") as arrays:
            assert arrays.files == names
        loaded, _ = load_vectors(tmp_path / f"{mode}.npz")
        assert (loaded.values is None) == (mode == "multi_hot")


def test_reading_in_chunks_changes_nothing(reviews):
    texts = reviews[0] + ["", "x"]
    whole = token_ids(texts)
    chunked = token_ids(texts, chunk=3)
    assert chunked.tokens == whole.tokens
    for name in ("counts", "ids", "offsets"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
    terms = build_vocab(whole, 50, ngrams=3)
    np.testing.assert_array_equal(count_terms(whole, terms, 3, chunk=3).dense(),
                                  count_terms(whole, terms, 3).dense())
