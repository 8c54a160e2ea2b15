"""The saved model reads raw text: the vectorize stage's encoding as its first layer.

Its probabilities must be those of the network on the vectorize stage's vectors, for
every mode and n-gram length, on reviews that exercise each step of the tokenizer; it
must load with one import, and export to a SavedModel that TensorFlow alone can serve.
(That train saves it to the same bytes on every run is test_robustness's to check.)"""

import ast
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, tiny_network

from stages.model.network import SparseReviews, keras, sparse_batches, tf
from stages.model.saved import load_model, network_for_vectors, save_model, text_model
from stages.text.encode import (
    count_terms,
    inverse_document_frequency,
    log_count_ratio,
    weigh,
)
from stages.text.tokenize import token_ids
from stages.text.vocab import Vocab, build_vocab

# Each line exercises one step of the tokenizer; the vocabulary comes from them, so a step
# done otherwise would give another vector, and another probability.
TRAINING = [
    "A great film! Great, GREAT acting; truly great.",          # case, punctuation
    "I don't like it, but I didn't hate it: it's fine.",       # apostrophes stay in words
    "Boring.<br /><br />Utterly boring.<br />The end",          # <br /> becomes the word br
    "Ça commence bien. L'ÉTÉ était naïve, très naïve.",         # non-ASCII letters, lowercased
    "İstanbul ΑΣ σ ÆØÅ Straße",                                  # Unicode's own case rules
    "not bad. not good, not bad at all (not good)",              # n-grams across punctuation
    "tabs\tand\nnewlines\rand\x0bvertical\x0cfeeds",            # ASCII whitespace, all of it
    "x-ray x_ray x/ray x.ray x@ray x#ray x$ray x%ray",           # every filtered character...
    "x&ray x*ray x+ray x=ray x?ray x[ray]x{ray}x|ray x~ray x^ray x`ray x\\ray",
    "é — “quoted” ¡Genial! 100% 3.5/5",                          # ...and some that are not
    "Fish &amp; chips &#039;n&#x27; <b>bold</b> &eacute;t&eacute; a < b > c",  # HTML
    "今日は良い天気です。とても良い！ 好看的电影",                      # written without spaces
    "カタカナのテレビ ひらがな",                                       # katakana and hiragana too
    "LOUD<BR />Tags<B>bold</B>&AMP;",                               # tags in capitals
    "don’t « ça » 5€ ½ nbsp\u00a0here\u2028line\u3000wide",          # Unicode punctuation, spaces
]
TEST = TRAINING + [
    "",                                # empty
    "   ",                             # blank
    "!!! ... ???",                     # punctuation only
    "unheard-of words only: zyxw vutsr",  # out of the vocabulary
    "great not bad don't br naïve",    # known words, in new order: new n-grams
]


def random_network(num_words: int, seed: int) -> keras.Sequential:
    """The notebook's network with random weights, biases included: no zero hides a term."""
    network = tiny_network(num_words)
    rng = np.random.default_rng(seed)
    network.set_weights([rng.normal(0, 0.5, w.shape) for w in network.get_weights()])
    return network


def vocabulary(mode: str, ngrams: int, standardize: str = "keras") -> Vocab:
    tokens = token_ids(TRAINING, standardize)
    terms = build_vocab(tokens, 10_000, ngrams)
    idf = inverse_document_frequency(count_terms(tokens, terms, ngrams))
    return Vocab(terms, ngrams, mode, idf if mode == "tf_idf" else None, standardize)


def as_evaluate_scores(model: keras.Sequential, vocab: Vocab, texts: list[str]) -> np.ndarray:
    """What evaluate computes: the model's network on the vectorize stage's vectors."""
    vectors = weigh(count_terms(token_ids(texts, vocab.standardize), vocab.terms, vocab.ngrams),
                    vocab)
    network, vectors = network_for_vectors(model, vectors, "the test reviews")
    return network.predict(sparse_batches(vectors, None, 8), verbose=0)[:, 0]


@pytest.mark.parametrize("standardize", ["keras", "unicode"])
@pytest.mark.parametrize("ngrams", [1, 2, 3])
@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_raw_text_in_gives_the_pipelines_probabilities(mode, ngrams, standardize, tmp_path):
    vocab = vocabulary(mode, ngrams, standardize)
    save_model(text_model(random_network(len(vocab.terms), seed=ngrams), vocab),
               tmp_path / "model.keras")
    model = load_model(tmp_path / "model.keras")
    from_text = model.predict(tf.constant(TEST), verbose=0)[:, 0]
    expected = as_evaluate_scores(model, vocab, TEST)
    np.testing.assert_allclose(from_text, expected, rtol=0, atol=1e-6)
    assert np.ptp(expected) > 0.1  # the reviews score differently: the test can tell


def words(text: str) -> list[str]:
    from stages.text.tokenize import tokenize
    return [word.decode() for word in tokenize(text, "unicode")]


def test_unicode_reads_any_language_as_its_words():
    from stages.text.tokenize import tokenize
    assert words("¡Genial! “Ça” — marche…") == ["genial", "ça", "marche"]
    assert words("Fish &amp; chips<br />don’t &#039;x&#039;") == ["fish", "chips", "don't", "x"]
    assert words("良い天気") == ["良", "い", "天", "気"]
    assert words("<B>Bold</B> a < b") == ["bold", "a", "b"]
    assert tokenize("¡Genial! <br />", "keras") == [b"\xc2\xa1genial", b"br"]  # the notebook's


@pytest.mark.parametrize("hidden_units", [[], [8, 8]], ids=["linear", "hidden"])
@pytest.mark.parametrize("mode, ngrams", [("multi_hot", 1), ("tf_idf", 2)])
@pytest.mark.parametrize("ratio", [False, True], ids=["plain", "log-count ratio"])
def test_linear_and_nb_weighted_models_read_text_as_they_trained(hidden_units, mode, ngrams,
                                                                  ratio):
    """With no hidden layer (logistic regression) and with each term scaled by its log-count
    ratio, the saved model on raw text gives the probabilities of the network on the scaled
    training batches, and evaluate's (the ratios folded into the kernel), to 1e-6."""
    vocab = vocabulary(mode, ngrams)
    vectors = weigh(count_terms(token_ids(TEST), vocab.terms, ngrams), vocab)
    labels = np.arange(len(TEST)) % 2
    scale = log_count_ratio(vectors, labels) if ratio else None
    network = tiny_network(len(vocab.terms), hidden_units=hidden_units)
    rng = np.random.default_rng(3)
    network.set_weights([rng.normal(0, 0.5, w.shape) for w in network.get_weights()])
    trained = network.predict(SparseReviews(vectors).batches(8, scale=scale), verbose=0)[:, 0]
    model = text_model(network, vocab, scale)
    assert [isinstance(layer, keras.layers.Rescaling) for layer in model.layers[1:2]] == [ratio]
    raw = model.predict(tf.constant(TEST), verbose=0)[:, 0]
    np.testing.assert_allclose(raw, trained, atol=1e-6)
    np.testing.assert_allclose(as_evaluate_scores(model, vocab, TEST), trained, atol=1e-6)


def test_each_kana_and_kanji_is_a_word_of_its_own():
    """Japanese and Chinese are written without spaces: `unicode` makes each hiragana,
    katakana and CJK character a token, in vectorize and in the saved model alike."""
    from stages.model.standardize import standardize_unicode
    from stages.text.tokenize import tokenize

    text = "テレビ ひらがな 電影"
    expected = list("テレビひらがな電影")
    assert [t.decode() for t in tokenize(text, "unicode")] == expected
    model_tokens = standardize_unicode(tf.constant([text])).numpy()[0].decode().split()
    assert model_tokens == expected


def test_a_tokenizer_that_strips_punctuation_would_be_caught(tmp_path):
    """The control: Keras's default standardisation (punctuation deleted, apostrophes too)
    gives other probabilities on the same reviews, by far more than the tolerance."""
    vocab = vocabulary("multi_hot", 2)
    model = text_model(random_network(len(vocab.terms), seed=0), vocab)
    default = keras.layers.TextVectorization(output_mode="multi_hot", ngrams=2, sparse=True,
                                             vocabulary=vocab.terms)
    network, _ = network_for_vectors(model, weigh(count_terms(token_ids([""]), vocab.terms, 2),
                                             vocab), "")
    stripped = network.predict(default(tf.constant(TEST)), verbose=0)[:, 0]
    assert np.abs(stripped - as_evaluate_scores(model, vocab, TEST)).max() > 1e-3


REVIEWS = ["A wonderful, moving film.", "Dull, and the worst acting I have seen."]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    vocab = vocabulary("count", 2)
    model = text_model(random_network(len(vocab.terms), seed=7), vocab)
    save_model(model, folder / "model.keras")
    expected = model.predict(tf.constant(REVIEWS), verbose=0)[:, 0]
    return folder, expected


def outside_the_project(code: str, cwd) -> subprocess.CompletedProcess:
    """Python without this project on its path (-I: no PYTHONPATH, no current folder)."""
    return subprocess.run([sys.executable, "-I", "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_it_loads_with_keras_and_one_small_file(saved):
    """stages/model/standardize.py, copied alone next to the model, is all a Python without
    this project needs to load it and score reviews as predict does; without it, Keras
    cannot find the standardisation the model calls."""
    folder, expected = saved
    shutil.copy(ROOT / "stages/model/standardize.py", folder / "standardize.py")
    code = f"""
import importlib.util, sys
assert importlib.util.find_spec("stages") is None, "the project is importable"
sys.path.insert(0, ".")  # the folder of the model and its one file
import keras, standardize
model = keras.saving.load_model("model.keras")
print(model.predict(keras.ops.convert_to_tensor({REVIEWS!r}), verbose=0)[:, 0].tolist())
"""
    result = outside_the_project(code, folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(eval(result.stdout.strip().splitlines()[-1]), expected, atol=1e-6)
    without = outside_the_project(code.replace("import keras, standardize", "import keras"), folder)
    assert without.returncode != 0 and "standardize" in without.stderr


def test_the_models_one_file_imports_nothing_of_the_project():
    """standardize.py imports the standard library, Keras and TensorFlow only, and holds the
    tokenizer's own character classes: the saved model reads text as vectorize did."""
    from stages.model import standardize
    from stages.text import tokenize

    tree = ast.parse((ROOT / "stages/model/standardize.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"keras", "tensorflow"}, imported
    for name in ("FILTERS", "MARKUP", "APOSTROPHE", "UNSPACED"):
        assert getattr(standardize, name) == getattr(tokenize, name), name
    assert standardize.separators() == tokenize.character_class(tokenize.separators(),
                                                                r"\x{{{:x}}}")


def test_the_serving_export_needs_tensorflow_alone(saved):
    folder, expected = saved
    load_model(folder / "model.keras").export(str(folder / "serving"), verbose=False)
    code = f"""
import importlib.util
assert importlib.util.find_spec("stages") is None, "the project is importable"
import tensorflow as tf
served = tf.saved_model.load("serving")
print(served.serve(tf.constant({REVIEWS!r}))[:, 0].numpy().tolist())
"""
    result = outside_the_project(code, folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(eval(result.stdout.strip().splitlines()[-1]), expected, atol=1e-6)
