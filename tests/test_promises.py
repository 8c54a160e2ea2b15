"""What the README promises about the stages' outputs, each checked where it could break."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, environment, reproduced_project, tiny_network

from stages import split, vectorize
from stages.reviews import imdb
from stages.reviews.raw import pack_reviews
from stages.runner.files import save_arrays
from stages.vectors.sparse import load_vectors

SHARED_DATA = ROOT.parent / "shared" / "data"


def run_stage(module, monkeypatch, folder: Path, params: dict, *args: str) -> None:
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", [module.__name__, *args])
    module.main()


def save_raw(path: Path, reviews: list[str], labels: list[int]) -> None:
    text, offsets = pack_reviews(reviews)
    save_arrays(path, text=text, offsets=offsets, labels=np.array(labels, dtype=np.uint8))


@pytest.mark.parametrize("ngrams", [1, 2])
def test_vocabulary_comes_from_the_training_reviews_only(tmp_path, monkeypatch, ngrams):
    """A word (or pair) frequent in the test reviews and rare in the training ones stays out
    of vocab.json and so out of test.npz; the vocabulary has `num_words` entries."""
    words = [f"w{i}" for i in range(30)]
    train = [" ".join(words[: 5 + i % 25]) for i in range(40)] + ["zebra"]
    test = ["zebra zebra zebra w0", "zebra w1 zebra", "zebra"] * 4
    save_raw(tmp_path / "raw/train.npz", train, [0, 1] * 20 + [1])
    save_raw(tmp_path / "raw/test.npz", test, [0, 1] * 6)
    params = {"num_words": 20, "ngrams": ngrams, "mode": "multi_hot"}
    run_stage(vectorize, monkeypatch, tmp_path, {"vectorize": params}, "raw", "vectors")
    vocab = json.loads((tmp_path / "vectors/vocab.json").read_text())
    vocab = vocab if ngrams == 1 else vocab["terms"]
    assert len(vocab) == 20 and "zebra" not in vocab and "zebra zebra" not in vocab
    test_vectors, _ = load_vectors(tmp_path / "vectors/test.npz")
    assert test_vectors.num_words == 20
    assert np.diff(test_vectors.indptr)[2::3].tolist() == [0] * 4  # "zebra" alone: no known word
    assert [vocab[i] for i in test_vectors.take(np.array([0])).indices] == ["w0"]


def test_idf_weights_come_from_the_training_reviews_only(tmp_path, monkeypatch):
    """tf_idf's weights in vocab.json are ln(1 + N / (1 + df)) over the N training reviews:
    "rare" is in 1 of 8 training reviews but every test review, and keeps its training
    weight (test metrics would barely move if the test set leaked in; the weights would)."""
    train = ["rare common"] + ["common"] * 7
    test = ["rare common"] * 4
    save_raw(tmp_path / "raw/train.npz", train, [0, 1] * 4)
    save_raw(tmp_path / "raw/test.npz", test, [0, 1] * 2)
    params = {"num_words": 5, "ngrams": 1, "mode": "tf_idf"}
    run_stage(vectorize, monkeypatch, tmp_path, {"vectorize": params}, "raw", "vectors")
    vocab = json.loads((tmp_path / "vectors/vocab.json").read_text())
    idf = dict(zip(vocab["terms"], vocab["idf"]))
    assert idf == pytest.approx({"common": np.log(1 + 8 / 9), "rare": np.log(1 + 8 / 2)})


def test_split_sizes_and_stratification(tmp_path, monkeypatch):
    """val.npz has `val_size` rows, train.npz the rest; each part has the whole set's share
    of positive reviews, to within one review."""
    words = [f"w{i}" for i in range(12)]
    labels = [0] * 60 + [1] * 40  # ordered by label, like aclImdb
    save_raw(tmp_path / "raw/train.npz", [" ".join(words[i % 12:]) + " x" for i in range(100)],
             labels)
    save_raw(tmp_path / "raw/test.npz", ["w0 w1", "w2"], [0, 1])
    run_stage(vectorize, monkeypatch, tmp_path,
              {"vectorize": {"num_words": 10, "ngrams": 1, "mode": "multi_hot"}}, "raw", "vectors")
    run_stage(split, monkeypatch, tmp_path, {"split": {"val_size": 35, "seed": 5}},
              "vectors/train.npz", "split")
    (train_vectors, train_labels), (val_vectors, val_labels) = (
        load_vectors(tmp_path / f"split/{name}.npz") for name in ("train", "val"))
    assert (len(train_vectors), len(val_vectors)) == (65, 35)
    assert abs(val_labels.sum() - 35 * 0.4) <= 1 and abs(train_labels.sum() - 65 * 0.4) <= 1
    assert train_labels.sum() + val_labels.sum() == 40


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "aclImdb_train_test.tar.gz").is_file(),
                    reason="the dataset copy ../shared/data is not beside the project")
def test_archive_checksums_are_the_real_ones():
    assert imdb.ARCHIVES["aclImdb_train_test.tar.gz"] == imdb.sha256(
        SHARED_DATA / "aclImdb_train_test.tar.gz")
    # The official archive is not here; its published sha256 is in the copy's README.
    published = re.search(r"aclImdb_v1\.tar\.gz`.*?sha256\s+`([0-9a-f]{64})`",
                          (SHARED_DATA / "README.md").read_text(), re.S)[1]
    assert imdb.ARCHIVES["aclImdb_v1.tar.gz"] == published
    # The digest an extracted folder is checked by: that of the archive's reviews.
    files = imdb.review_files(SHARED_DATA / "aclImdb_train_test.tar.gz")
    assert len(files) == 50_000 and imdb.reviews_sha256(files) == imdb.REVIEWS_SHA256


# --- the outputs of a reproduced project --------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return reproduced_project(tmp_path_factory, "promises")


def scores(project) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The saved model's probabilities for test.npz, the labels, and model.evaluate's output."""
    from stages.model.network import sparse_batches
    from stages.model.saved import load_model, network_for_vectors

    vectors, labels = load_vectors(project.path / "data/vectors/test.npz")
    model = load_model(project.path / "models/model.keras")
    model, vectors = network_for_vectors(model, vectors, "")
    probabilities = model.predict(sparse_batches(vectors, None, 32), verbose=0)[:, 0]
    model.compile(loss=project.params["train"]["loss"], metrics=["accuracy"])
    evaluated = model.evaluate(sparse_batches(vectors, labels, 32), verbose=0)
    return probabilities, labels, evaluated


def read_outputs(project) -> tuple[dict, list[str], list[dict]]:
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    with open(project.path / "reports/predictions.csv") as file:
        predicted = [row["predicted"] for row in csv.DictReader(file)]
    roc = json.loads((project.path / "reports/roc.json").read_text())["roc"]
    return metrics, predicted, roc


def check_agreement(metrics, predicted, roc, probabilities, labels, threshold):
    assert predicted == ["pos" if p > threshold else "neg" for p in probabilities]
    guessed = np.array(predicted) == "pos"
    tp = int((guessed & (labels == 1)).sum())
    assert metrics["accuracy"] == pytest.approx(float((guessed == labels).mean()), abs=1e-6)
    assert metrics["precision"] == pytest.approx(tp / max(guessed.sum(), 1), abs=1e-6)
    assert metrics["recall"] == pytest.approx(tp / labels.sum(), abs=1e-6)
    assert metrics["n_reviews"] == len(labels) == len(predicted)
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0, 0) and (roc[-1]["fpr"], roc[-1]["tpr"]) == (1, 1)
    fpr, tpr = np.array([p["fpr"] for p in roc]), np.array([p["tpr"] for p in roc])
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(metrics["roc_auc"],
                                                                             abs=1e-5)


@pytest.mark.slow
def test_metrics_agree_with_predictions_roc_and_model_evaluate(project):
    probabilities, labels, (loss, accuracy) = scores(project)
    metrics, predicted, roc = read_outputs(project)
    check_agreement(metrics, predicted, roc, probabilities, labels, 0.5)
    assert metrics["loss"] == pytest.approx(loss, abs=1e-5)
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.slow
def test_threshold_changes_labels_precision_and_recall(project):
    probabilities, labels, _ = scores(project)
    before_metrics, before_predicted, _ = read_outputs(project)
    params = project.params
    # Between two of the model's probabilities, far from 0.5: some labels must change.
    threshold = float(np.round(np.quantile(probabilities, 0.8), 3))
    assert (probabilities > threshold).sum() < (probabilities > 0.5).sum()
    project.set_param("evaluate.threshold", threshold)
    try:
        ran, _ = project.repro()
        assert ran == ["evaluate"]
        metrics, predicted, roc = read_outputs(project)
        check_agreement(metrics, predicted, roc, probabilities, labels, threshold)
        assert predicted != before_predicted
        assert metrics["recall"] < before_metrics["recall"]
        assert metrics["roc_auc"] == before_metrics["roc_auc"]  # the ranking is the same
        review = ["--json", "Great, wonderful, brilliant film"]
        result = predict(project, *review)
        assert result.returncode == 0, result.stderr
        [answer] = json.loads(result.stdout)
        assert answer["label"] == ("positive" if answer["probability"] > threshold else "negative")
        project.set_param("evaluate.threshold", max(min(answer["probability"] - 0.01, 0.99), 0.01))
        assert json.loads(predict(project, *review).stdout)[0]["label"] == "positive"
        project.set_param("evaluate.threshold", min(answer["probability"] + 0.01, 0.999))
        assert json.loads(predict(project, *review).stdout)[0]["label"] == "negative"
    finally:
        project.write_params(params)
    assert project.repro()[0] == ["evaluate"]  # its PNGs are git-kept: not in the run-cache
    assert read_outputs(project)[0] == before_metrics


@pytest.mark.slow
def test_evaluate_warns_when_the_model_is_no_better_than_the_majority(project, tmp_path):
    """A threshold so high that every review is called negative: accuracy equals always
    guessing the larger class, and evaluate says so in one line naming `make search`."""
    before = project.params
    try:
        for threshold, warned in ((0.5, False), (0.9999, True)):
            project.set_param("evaluate.threshold", threshold)
            result = subprocess.run(
                [sys.executable, "-m", "stages.evaluate", "models/model.keras",
                 "data/vectors/test.npz", str(tmp_path / "reports")], cwd=project.path,
                env=environment(), capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            lines = [line for line in result.stdout.splitlines() if line.startswith("warning")]
            assert len(lines) == warned, result.stdout
            assert not warned or "no better than always guessing" in lines[0] and \
                "`make search`" in lines[0]
    finally:
        project.write_params(before)


@pytest.mark.slow
def test_plots_diff_renders_both_revisions(project):
    project.set_param("train.epochs", 2)
    try:
        assert project.repro()[0] == ["train", "curves", "evaluate"]
        project.commit("two epochs")
        shown = json.loads(project.dvc("plots", "diff", "HEAD~1", "HEAD", "--json").stdout)
        assert not shown.get("errors")
        for plot in ["reports/history.csv"]:
            [drawn] = shown["data"][plot]
            assert drawn["revisions"] == ["HEAD~1", "HEAD"]
            last_epochs = {row["rev"]: row["epoch"] for row in drawn["content"]["data"]["values"]}
            assert last_epochs == {"HEAD~1": "3", "HEAD": "2"}  # each revision's own curve
    finally:
        project.run("git", "reset", "-q", "--hard", "HEAD~1")
        project.dvc("checkout", "-q")
    assert project.repro()[0] == []


# --- clear errors from the command line -----------------------------------------------------

def predict(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.predict", *args], cwd=project.path,
                          env=environment(), capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("make_args, message", [
    (lambda tmp: ["--model", str(tmp / "none.keras"), "Fine"],
     "none.keras not found: train the model first with `dvc repro`"),
    (lambda tmp: ["Fine", "  "], "empty review (argument 2): every review needs some text"),
    (lambda tmp: ["--dir", str(tmp / "folder")], "latin1.txt is not UTF-8 text"),
    (lambda tmp: ["--file", str(tmp / "folder")], "cannot read"),
], ids=["missing model", "empty review", "non-UTF-8 file", "unreadable file"])
def test_predict_errors_on_the_command_line(project, tmp_path, make_args, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder/good.txt").write_text("A fine film")
    (tmp_path / "folder/latin1.txt").write_bytes("Très émouvant".encode("latin-1"))
    result = predict(project, *make_args(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line


@pytest.mark.slow
def test_predict_prints_only_its_answer(project):
    result = predict(project, "A wonderful film", "Dull and awful")
    assert result.returncode == 0 and result.stderr == ""  # no TensorFlow banner
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["positive", "negative"]


@pytest.mark.slow
@pytest.mark.parametrize("model, message", [
    ("junk", "cannot load the model"),
    ("other size", "the model knows 20 terms but data/vectors/test.npz has 28"),
], ids=["corrupt model", "input size mismatch"])
def test_evaluate_rejects_a_bad_model_and_writes_nothing(project, tmp_path, model, message):
    path = tmp_path / "model.keras"
    if model == "junk":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        from stages.model.saved import save_model, text_model
        from stages.text.vocab import Vocab

        network = tiny_network(20)
        save_model(text_model(network, Vocab([f"word{i}" for i in range(20)])), path)
    result = subprocess.run([sys.executable, "-m", "stages.evaluate", str(path),
                             "data/vectors/test.npz", str(tmp_path / "out")],
                            cwd=project.path, env=environment(), capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))


@pytest.mark.slow
def test_the_saved_model_reads_the_raw_test_reviews_as_evaluate_scored_them(project):
    """models/model.keras on the raw test reviews (data/raw/test.npz) gives the
    probabilities evaluate computed from the vectorize stage's vectors."""
    from stages.model.network import tf
    from stages.model.saved import load_model
    from stages.reviews.raw import unpack_reviews
    from stages.runner.files import load_arrays

    probabilities, _, _ = scores(project)
    raw = load_arrays(project.path / "data/raw/test.npz", "text", "offsets")
    reviews = unpack_reviews(raw["text"], raw["offsets"])
    model = load_model(project.path / "models/model.keras")
    from_text = model.predict(tf.constant(reviews), verbose=0)[:, 0]
    np.testing.assert_allclose(from_text, probabilities, rtol=0, atol=1e-6)
