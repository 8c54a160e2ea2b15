import json
import sys

import numpy as np
import pytest
import yaml
from conftest import TINY_PARAMS, tiny_network

from stages import predict
from stages.model.network import fit, sparse_batches
from stages.model.saved import portable, save_model, text_model
from stages.runner.process import StageError
from stages.text.encode import encode
from stages.text.tokenize import token_ids
from stages.text.vocab import Vocab, build_vocab


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model where the pipeline would leave it; the network it was built from, and its
    vocabulary."""
    from conftest import make_review

    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 40, dtype=np.uint8)
    texts = [make_review(rng, int(label)) for label in labels]
    reviews = token_ids(texts)
    vocab = build_vocab(reviews, 28)
    model = tiny_network(len(vocab))
    fit(model, sparse_batches(encode(reviews, Vocab(vocab)), labels, 16, seed=1), 10)
    (root / "models").mkdir()
    save_model(text_model(model, Vocab(vocab)), root / "models/model.keras")
    (root / "params.yaml").write_text(yaml.safe_dump(TINY_PARAMS))
    return root, model, vocab


@pytest.fixture
def run_predict(trained, monkeypatch, capsys):
    root, _, _ = trained
    monkeypatch.chdir(root)

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["predict", *args])
        predict.main()
        return capsys.readouterr().out

    return run


def test_prints_probability_and_label_per_review(run_predict, trained, tmp_path):
    _, model, vocab = trained
    (tmp_path / "reviews.txt").write_text("A superb, moving film!\nDull. A waste, the worst.\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder/one.txt").write_text("Brilliant and wonderful, loved it", encoding="utf-8")
    out = run_predict("Great! Loved it.", "Awful and boring", "-f", str(tmp_path / "reviews.txt"),
                      "-d", str(tmp_path / "folder"), "--json")
    results = json.loads(out)
    assert [r["label"] for r in results] == [
        "positive", "negative", "positive", "negative", "positive"]
    assert [r["source"] for r in results][2:] == [
        f"{tmp_path}/reviews.txt:1", f"{tmp_path}/reviews.txt:2", f"{tmp_path}/folder/one.txt"]
    # Same tokenizer, vocabulary and network as training: the network's output on that vector.
    vector = encode(token_ids(["Great! Loved it."]), Vocab(vocab)).dense()
    expected = model.predict(vector, verbose=0)
    assert results[0]["probability"] == pytest.approx(float(expected[0, 0]), abs=1e-4)

    table = run_predict("Great! Loved it.", "xyzzy")
    lines = table.splitlines()
    assert lines[0].split()[1] == "positive" and lines[0].endswith("Great! Loved it.")
    assert "no word of it is in the vocabulary" in lines[1]


def test_reads_stdin(run_predict, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Wonderful\nTerrible\n")))
    results = json.loads(run_predict("-f", "-", "--json"))
    assert [r["source"] for r in results] == ["-:1", "-:2"]


def test_blank_lines_are_skipped_and_counted(run_predict, monkeypatch, tmp_path, capsys):
    """A CRLF file with a blank line inside and one at the end, and stdin likewise: every
    review is scored, and stderr says how many blank lines were skipped."""
    import io

    (tmp_path / "crlf.txt").write_bytes(b"Wonderful\r\n\r\nTerrible\r\n \r\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\nGreat\n\n")))
    monkeypatch.setattr(sys, "argv", ["predict", "-f", str(tmp_path / "crlf.txt"), "-f", "-",
                                      "--json"])
    predict.main()
    out, err = capsys.readouterr()
    assert [r["source"].rsplit("/", 1)[-1] for r in json.loads(out)] == [
        "crlf.txt:1", "crlf.txt:3", "-:2"]
    assert err == "skipped 4 blank lines\n"


def test_the_model_is_checked_against_dvc_lock(run_predict, trained, monkeypatch, capsys):
    """A model file that is not the one dvc.lock names gets one warning line on stderr, and
    predict goes on; the model that dvc.lock names gets none."""
    import hashlib

    root, _, _ = trained
    md5 = hashlib.md5((root / "models/model.keras").read_bytes()).hexdigest()
    lock = root / "dvc.lock"
    try:
        for recorded, warned in ((md5, False), ("0" * 32, True)):
            lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train": {"outs": [
                {"path": "models/model.keras", "hash": "md5", "md5": recorded}]}}}))
            monkeypatch.setattr(sys, "argv", ["predict", "A fine film"])
            predict.main()
            out, err = capsys.readouterr()
            assert out.count("\n") == 1
            assert ("warning: models/model.keras is not the one dvc.lock names" in err) == warned
            assert ("`dvc checkout models/model.keras`" in err) == warned
    finally:
        lock.unlink()


@pytest.mark.parametrize("make_args, message", [
    (lambda tmp: [""], r"empty review \(argument 1\)"),
    (lambda tmp: ["fine", "   "], r"empty review \(argument 2\)"),
    (lambda tmp: [], "no reviews given"),
    (lambda tmp: ["-f", str(tmp / "missing.txt")], "cannot read .*missing.txt: No such file"),
    (lambda tmp: ["-f", str(tmp / "latin1.txt")], "latin1.txt is not UTF-8 text"),
    (lambda tmp: ["-f", str(tmp / "image.png")], "image.png is not text: it holds NUL bytes"),
    (lambda tmp: ["-d", str(tmp / "nothing")], "is not a folder with .txt files"),
    (lambda tmp: ["--model", str(tmp / "none.keras"), "good"],
     r"not found: train the model first with `dvc repro`"),
    (lambda tmp: ["--model", str(tmp / "junk.keras"), "good"],
     "cannot load .*junk.keras.*`dvc checkout .*junk.keras` puts back the committed one"),
])
def test_clear_errors(run_predict, tmp_path, make_args, message):
    (tmp_path / "latin1.txt").write_bytes("Très émouvant".encode("latin-1"))
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(StageError, match=message):
        run_predict(*make_args(tmp_path))


def test_a_model_that_does_not_read_raw_text_is_refused(run_predict, trained, tmp_path):
    """A model file of an older version of the pipeline: vectors in, not reviews."""
    _, network, _ = trained
    save_model(portable(network), tmp_path / "vectors.keras")
    with pytest.raises(StageError, match="does not read raw text.*dvc repro --force train"):
        run_predict("--model", str(tmp_path / "vectors.keras"), "good")


def test_reads_a_review_with_an_ngram_tf_idf_vocabulary(run_predict, tmp_path, capsys):
    """Word pairs and the training reviews' IDF weights, inside the saved model: the
    probability is the network's own on the vector vectorize would have made."""
    from conftest import make_review

    from stages.text.encode import count_terms, inverse_document_frequency, weigh

    rng = np.random.default_rng(1)
    labels = np.array([0, 1] * 40, dtype=np.uint8)
    reviews = token_ids([make_review(rng, int(label)) for label in labels])
    terms = build_vocab(reviews, 80, ngrams=2)
    counts = count_terms(reviews, terms, 2)
    vocab = Vocab(terms, 2, "tf_idf", inverse_document_frequency(counts))
    model = tiny_network(len(terms))
    fit(model, sparse_batches(weigh(counts, vocab), labels, 16, seed=1), 10)
    save_model(text_model(model, vocab), tmp_path / "model.keras")
    capsys.readouterr()  # the fit's epochs

    review = "Great! Loved it. Great, great film.<br /><br />The end."
    out = run_predict("--model", str(tmp_path / "model.keras"), "--json", review)
    results = json.loads(out)
    vectors = encode(token_ids([review]), vocab)
    assert any(" " in terms[j] for j in vectors.indices)  # a word pair of the vocabulary
    expected = model.predict(sparse_batches(vectors, None, 1), verbose=0)[0, 0]
    assert results[0]["probability"] == pytest.approx(float(expected), abs=1e-4)
    # Read as multi-hot instead (no counts, no IDF), the same review scores differently.
    as_multi_hot = model.predict(sparse_batches(encode(token_ids([review]), Vocab(terms, 2)),
                                                None, 1), verbose=0)[0, 0]
    assert abs(float(as_multi_hot) - float(expected)) > 1e-3
