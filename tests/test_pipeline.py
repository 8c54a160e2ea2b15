"""The pipeline under DVC itself, in a temporary git repository, on tiny reviews."""

import ast
import hashlib
import json
import re

import pytest
import yaml
from conftest import ROOT, reproduced_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return reproduced_project(tmp_path_factory, "pipeline")


def test_outputs_are_complete(project):
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert set(metrics) == {"loss", "accuracy", "precision", "recall", "f1", "recall_negative",
                            "balanced_accuracy", "majority_accuracy", "roc_auc", "n_reviews"}
    assert metrics["n_reviews"] == 48
    history = (project.path / "reports/history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(history) == 4
    for figure in ("loss", "accuracy", "confusion", "roc"):
        assert (project.path / f"reports/figures/{figure}.png").read_bytes()[:4] == b"\x89PNG"
    assert (project.path / "models/model.keras").stat().st_size > 0
    status = project.dvc("status", "--json").stdout
    assert json.loads(status) == {}


def test_nothing_reruns_without_a_change(project):
    ran, result = project.repro()
    assert ran == [] and "Data and pipelines are up to date" in result.stdout


REPORTING = ("curves", "evaluate")  # the stages that write git-kept PNGs


@pytest.mark.parametrize("param, value, expected", [
    ("train.epochs", 5, ["train", "curves", "evaluate"]),
    ("split.val_size", 12, ["split", "train", "curves", "evaluate"]),
    ("vectorize.num_words", 20, ["vectorize", "split", "train", "curves", "evaluate"]),
    ("vectorize.ngrams", 2, ["vectorize", "split", "train", "curves", "evaluate"]),
    ("vectorize.mode", "tf_idf", ["vectorize", "split", "train", "curves", "evaluate"]),
    ("evaluate.threshold", 0.7, ["evaluate"]),
])
def test_a_param_reruns_only_its_stage_and_those_after(project, param, value, expected):
    before = project.params
    metrics = (project.path / "reports/metrics.json").read_text()
    project.set_param(param, value)
    try:
        ran, _ = project.repro()
        assert ran == expected
    finally:
        project.write_params(before)
    # Changed back: DVC restores the data stages from its run-cache. Curves and evaluate,
    # which keep the README's PNGs in git as plain outputs, run again (DVC's run-cache
    # skips such a stage) and write back the committed bytes.
    ran, result = project.repro()
    assert ran == [stage for stage in expected if stage in REPORTING]
    assert all(f"Stage '{stage}' is cached - skipping run" in result.stdout
               for stage in expected if stage not in REPORTING)
    assert (project.path / "reports/metrics.json").read_text() == metrics
    assert project.run("git", "status", "--porcelain").stdout == ""


def test_metrics_and_params_diff_across_commits(project):
    project.set_param("train.epochs", 1)
    project.set_param("train.learning_rate", 0.001)
    try:
        ran, _ = project.repro()
        assert ran == ["train", "curves", "evaluate"]
        metrics = json.loads(project.dvc("metrics", "diff", "HEAD", "--json").stdout)
        accuracy = metrics["reports/metrics.json"]["accuracy"]
        assert accuracy["new"] != accuracy["old"] and accuracy["diff"] != 0
        assert metrics["reports/train.json"]["epochs"] == {"old": 3, "new": 1, "diff": -2}
        params = json.loads(project.dvc("params", "diff", "HEAD", "--json").stdout)
        assert params["params.yaml"]["train.epochs"] == {"old": 3, "new": 1, "diff": -2}
        table = project.dvc("metrics", "diff", "HEAD", "--md").stdout
        assert re.search(r"\| reports/metrics.json +\| accuracy +\|", table)
    finally:
        project.run("git", "checkout", "--", ".")
        project.dvc("checkout", "-q")
    assert project.repro()[0] == []


def test_plots_show_draws_each_plot_once(project):
    """Every chart is drawn once, by the stage that writes its data; the learning curves hold
    training and validation of loss and accuracy. The README's PNGs of the same charts are
    git-kept outputs, not DVC plots."""
    shown = json.loads(project.dvc("plots", "show", "--json").stdout)["data"]
    assert sorted(shown) == ["reports/history.csv", "reports/predictions.csv",
                             "reports/roc.json"]
    assert all(len(drawn) == 1 for drawn in shown.values())
    [curves] = shown["reports/history.csv"]
    assert curves["content"]["title"]["text"] == "Learning curves"
    folded = curves["content"]["transform"][0]["fold"]
    assert folded == ["loss", "val_loss", "accuracy", "val_accuracy"]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    owners = {next(iter(plot)) if isinstance(plot, dict) else plot: name
              for name, stage in stages.items() for plot in stage.get("plots", [])}
    # Every git-kept report comes from curves or evaluate: train's outputs are all cached,
    # so that its run-cache entries can be restored on another machine.
    assert set(owners.values()) == {"curves", "evaluate"}
    pictures = {next(iter(out)): name for name, stage in stages.items()
                for out in stage.get("outs", []) if isinstance(out, dict)
                and next(iter(out)).endswith(".png")}
    assert pictures == {"reports/figures/loss.png": "curves",
                        "reports/figures/accuracy.png": "curves",
                        "reports/figures/confusion.png": "evaluate",
                        "reports/figures/roc.png": "evaluate"}
    assert all("cache" not in out for out in stages["train"]["outs"])
    assert "reports/history.csv" not in stages["evaluate"]["deps"]
    assert "models/history.json" not in stages["evaluate"]["deps"]  # nor anything of training
    project.dvc("plots", "show", "-o", "plots_out")
    assert "Learning curves" in (project.path / "plots_out/index.html").read_text()


def test_each_stage_declares_exactly_the_code_it_imports():
    """dvc.yaml must list every stages/ module a stage imports (directly or not), and no
    other: a missed one would let a code change go unnoticed by `dvc repro`. The packages'
    `__init__.py` files hold a docstring only, so they need no listing."""
    def imported(path):
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages"):
                package = node.module.replace(".", "/")
                for alias in node.names:  # `from stages.a import b`: module b, or a name of a
                    module = f"{package}/{alias.name}.py"
                    yield module if (ROOT / module).is_file() else f"{package}.py"

    for init in (ROOT / "stages").rglob("__init__.py"):
        [docstring] = ast.parse(init.read_text()).body
        assert isinstance(docstring, ast.Expr), init
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        code, todo = set(), [f"stages/{name}.py"]
        while todo:
            path = todo.pop()
            if path not in code:
                code.add(path)
                todo.extend(imported(path))
        assert {dep for dep in stage["deps"] if dep.startswith("stages/")} == code, name


def test_committed_lock_records_the_current_code():
    """dvc.lock was reproduced after the last change to a stage's code: otherwise a fresh
    clone's `dvc repro` reruns that stage and rewrites the lock."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(lock) == set(stages)
    for name, stage in lock.items():
        cmd = re.sub(r"\$\{(\w+)\.(\w+)\}", lambda m: str(params[m[1]][m[2]]), stages[name]["cmd"])
        assert stage["cmd"] == cmd, name
        for dep in stage["deps"]:
            if dep["path"].startswith("stages/"):
                md5 = hashlib.md5((ROOT / dep["path"]).read_bytes()).hexdigest()
                assert md5 == dep["md5"], f"{name}: {dep['path']} changed; run `dvc repro`"


def test_experiments_in_temporary_workspaces_find_the_dataset(project):
    """`dvc exp run --temp` and queued experiments run in a copy of the repository, where
    only what git or DVC tracks exists: the dataset reaches it as a DVC-tracked input."""
    ran = project.dvc("exp", "run", "--temp", "-S", "train.epochs=1")
    assert "Ran experiment(s)" in ran.stdout, ran.stdout + ran.stderr
    project.dvc("exp", "run", "--queue", "-S", "train.epochs=2")
    queued = project.dvc("exp", "run", "--run-all")
    assert "Ran experiment(s)" in queued.stdout + queued.stderr, queued.stdout + queued.stderr
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    epochs = sorted(exp["data"]["params"]["params.yaml"]["data"]["train"]["epochs"]
                    for row in shown for group in (row.get("experiments") or [])
                    for exp in group["revs"]
                    if exp["data"]["metrics"]["reports/metrics.json"]["data"]["accuracy"] >= 0)
    assert epochs == [1, 2]
    project.dvc("exp", "remove", "--all-commits")
    assert project.run("git", "status", "--porcelain", "-uno").stdout == ""  # workspace as it was
