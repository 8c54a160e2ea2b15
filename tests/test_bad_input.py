"""Bad params and bad data, through `dvc repro`: a clear error, a non-zero exit, no
half-written output; and once the input is fixed, a plain `dvc repro` recovers."""

import json
import sys

import pytest
from conftest import reproduced_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

OUTPUTS = {
    "load": ["data/raw/train.npz", "data/raw/test.npz"],
    "vectorize": ["data/vectors/vocab.json", "data/vectors/train.npz"],
    "split": ["data/split/train.npz", "data/split/val.npz"],
    "train": ["models/model.keras", "models/history.json"],
    "curves": ["reports/history.csv", "reports/train.json"],
    "evaluate": ["reports/metrics.json", "reports/roc.json", "reports/figures/roc.png"],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return reproduced_project(tmp_path_factory, "bad_input")


def leftovers(project):
    """Temporary files of atomic writes, anywhere in the project."""
    return [p for p in project.path.rglob(".*.tmp*") if ".dvc" not in p.parts]


def check_failure(project, stage, message, *repro_args):
    ran, result = project.repro(*repro_args, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert ran[-1] == stage, output
    assert f"error: {message}" in output or message in output, output
    assert leftovers(project) == []
    for path in OUTPUTS[stage]:
        assert not (project.path / path).exists(), path
    return output


PARAM_CASES = [
    ("load", "source", "imdb", "'load.source' is 'imdb' in params.yaml; it must be one of 'aclimdb', 'csv', 'folder', 'keras'"),
    ("vectorize", "num_words", 0, "'vectorize.num_words' is 0 in params.yaml; it must be an integer >= 1"),
    ("vectorize", "ngrams", 0, "'vectorize.ngrams' is 0 in params.yaml; it must be an integer >= 1 and <= 3"),
    ("vectorize", "ngrams", 4, "'vectorize.ngrams' is 4 in params.yaml; it must be an integer >= 1 and <= 3"),
    ("vectorize", "mode", "binary", "'vectorize.mode' is 'binary' in params.yaml; it must be one of 'multi_hot', 'count', 'tf_idf'"),
    ("vectorize", "mode", "tf-idf", "'vectorize.mode' is 'tf-idf'"),
    ("split", "val_size", 0, "'split.val_size' is 0"),
    ("split", "val_size", 48, "split.val_size=48 is 48 of the 48 training reviews; it must leave at least one on each side: set it to a count between 1 and 47"),
    ("split", "val_size", 0.999, "split.val_size=0.999 gives 48 of the 48 training reviews"),
    ("split", "seed", -1, "'split.seed' is -1"),
    ("train", "epoch", 3, "unknown param 'train.epoch' in params.yaml: did you mean 'train.epochs'?"),
    ("train", "epochs", 0, "'train.epochs' is 0"),
    ("train", "learning_rate", -0.1, "'train.learning_rate' is -0.1 in params.yaml; it must be a number in (0, 10]"),
    ("train", "loss", "hinge", "'train.loss' is 'hinge' in params.yaml; it must be one of 'binary_crossentropy', 'mse'"),
    ("train", "activation", "relu6", "'train.activation' is 'relu6'"),
    ("train", "optimizer", "adagrad", "'train.optimizer' is 'adagrad'"),
    ("train", "hidden_units", [16, 0], "'train.hidden_units' is [16, 0] in params.yaml; it must be a list of integers >= 1"),
    ("train", "batch_size", "512", "'train.batch_size' is '512'"),
    ("train", "dropout", 1.0, "'train.dropout' is 1.0 in params.yaml; it must be a number in [0, 1)"),
    ("train", "refit", "sometimes", "'train.refit' is 'sometimes' in params.yaml; it must be true or false"),
    ("train", "monitor", "loss", "'train.monitor' is 'loss'"),
    ("evaluate", "threshold", 1.5, "'evaluate.threshold' is 1.5 in params.yaml; it must be a number in (0, 1)"),
]


@pytest.mark.parametrize("block, key, value, message", PARAM_CASES,
                         ids=[f"{b}.{k}={v}" for b, k, v, _ in PARAM_CASES])
def test_bad_param(project, block, key, value, message):
    before = project.params
    project.set_param(f"{block}.{key}", value)
    try:
        check_failure(project, block, message)
    finally:
        project.write_params(before)
    # Fixed: restored from the run-cache, but for the stages with git-kept PNGs, which run
    # again where the failed stage was one of them (DVC removed its outputs before running).
    ran, _ = project.repro()
    assert ran == (["evaluate"] if block == "evaluate" else [])
    assert json.loads(project.dvc("status", "--json").stdout) == {}


def test_missing_params_block(project):
    before = project.params
    project.write_params({k: v for k, v in before.items() if k != "split"})
    try:
        ran, result = project.repro(check=False)  # DVC itself checks the params it tracks
        assert result.returncode != 0 and ran == []
        assert "Parameters 'split' are missing from 'params.yaml'" in result.stderr
        direct = project.run(sys.executable, "-m", "stages.split", "data/vectors/train.npz",
                             "data/split", check=False)
        assert direct.returncode == 1
        assert "params.yaml has no 'split:' block; add it with the keys val_size, seed" in direct.stderr
    finally:
        project.write_params(before)
    assert project.repro()[0] == []


def test_missing_dataset(project):
    """DVC itself stops at a missing input: it names it, and runs nothing."""
    dataset = project.path / "data/external/aclImdb"
    dataset.rename(project.path / "data/moved")
    try:
        ran, result = project.repro(check=False)
        assert result.returncode != 0 and ran == []
        assert "missing data 'source': data/external/aclImdb" in result.stderr
    finally:
        (project.path / "data/moved").rename(dataset)
    assert project.repro()[0] == []


def test_dataset_that_is_not_imdb(project):
    project.set_param("load.source", "aclimdb")  # the tiny reviews are not the IMDB dataset
    try:
        check_failure(project, "load", "does not hold the IMDB reviews unaltered")
    finally:
        project.set_param("load.source", "folder")
    assert project.repro()[0] == []
