"""The model as a registered artifact: its versions and stages are GTO's git tags on a
shared git remote (a bare repository), and `dvc artifacts get` fetches a version from a DVC
folder remote into an empty folder, as an application would; the workflow that checks a
version when a stage is assigned to it runs its steps against the same remotes."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Project, environment, reproduced_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

GTO = str(Path(sys.executable).parent / "gto")
REVIEWS = ["A wonderful, moving film with brilliant acting.",
           "Dull, boring, the worst film I have seen."]
SCORE = """
import keras, standardize  # standardize registers the functions the model calls
model = keras.saving.load_model("model.keras")
print(model.predict(keras.ops.convert_to_tensor({reviews!r}), verbose=0))
"""


@dataclass
class Registry:
    origin: Path              # the git remote, with the tags
    storage: Path             # the DVC remote
    project: Project          # where the versions were trained and registered
    models: dict[str, str]    # version -> the md5 of its model, as dvc.lock records it


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Two versions of the tiny model: v1.0.0 (3 epochs) and v1.1.0 (2 epochs); prod was
    assigned to the first, then moved to the second. Everything is pushed."""
    root = tmp_path_factory.mktemp("registry")
    origin, storage = root / "origin.git", root / "storage"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "symbolic-ref", "HEAD", "refs/heads/main"],
                   check=True)
    project = reproduced_project(tmp_path_factory, "registered")
    project.run("git", "branch", "-M", "main")
    project.dvc("remote", "add", "--default", "storage", str(storage))
    (project.path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci/remote", project.path / ".ci/remote")  # for the workflow's steps
    project.commit("the team's DVC remote")
    project.run("git", "remote", "add", "origin", str(origin))
    models = {}
    for version, epochs in (("v1.0.0", None), ("v1.1.0", 2)):
        if epochs:
            project.set_param("train.epochs", epochs)
            project.repro()
            project.commit(f"{epochs} epochs")
        project.dvc("push", "-q")  # a version others fetch is on the remote first
        project.run(GTO, "register", "imdb-sentiment", "--version", version)
        project.run(GTO, "assign", "imdb-sentiment", "--version", version, "--stage", "prod")
        models[version] = project.locked_md5("train", "models/model.keras")
    project.run("git", "push", "-q", "--tags", "origin", "main")
    return Registry(origin, storage, project, models)


def artifacts_get(folder: Path, *args: str) -> subprocess.CompletedProcess:
    folder.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "dvc", "artifacts", "get", *args],
                          cwd=folder, env=environment(), text=True, capture_output=True)


def test_prod_moves_to_the_second_version_and_the_first_stays_at_hand(registry, tmp_path):
    """From an empty folder and the git remote's URL alone: `--stage prod` gets the second
    version's model, `--rev v1.0.0` the first's, each the bytes dvc.lock names at the
    tagged commit; with standardize.py beside it, it scores reviews in a Python that has
    nothing of the project."""
    tags = subprocess.run(["git", "ls-remote", "--tags", str(registry.origin)],
                          capture_output=True, text=True, check=True).stdout
    assert set(re.findall(r"refs/tags/([^\s^]+)\n", tags)) == {
        "imdb-sentiment@v1.0.0", "imdb-sentiment#prod#1",
        "imdb-sentiment@v1.1.0", "imdb-sentiment#prod#2"}
    first, second = registry.models["v1.0.0"], registry.models["v1.1.0"]
    assert first != second
    for version, model in registry.models.items():  # dvc.lock at the tag names that model
        lock = yaml.safe_load(registry.project.run(
            "git", "show", f"imdb-sentiment@{version}:dvc.lock").stdout)
        assert [out["md5"] for out in lock["stages"]["train"]["outs"]
                if out["path"] == "models/model.keras"] == [model]

    app = tmp_path / "app"
    prod = artifacts_get(app, str(registry.origin), "imdb-sentiment", "--stage", "prod")
    assert prod.returncode == 0, prod.stderr
    assert "Downloaded 1 file(s) to 'model.keras'" in prod.stdout
    assert md5(app / "model.keras") == second
    old = artifacts_get(app, str(registry.origin), "imdb-sentiment", "--rev", "v1.0.0",
                        "-o", "v1.0.0.keras")
    assert old.returncode == 0, old.stderr
    assert md5(app / "v1.0.0.keras") == first
    assert sorted(path.name for path in app.iterdir()) == ["model.keras", "v1.0.0.keras"]

    subprocess.run([sys.executable, "-m", "dvc", "get", str(registry.origin),
                    "stages/model/standardize.py"], cwd=app, env=environment(), check=True,
                   capture_output=True)
    scored = subprocess.run([sys.executable, "-c", SCORE.format(reviews=REVIEWS)], cwd=app,
                            env=environment(), text=True, capture_output=True)
    assert scored.returncode == 0, scored.stderr
    probabilities = [float(p) for p in re.findall(r"[\d.]+(?:e-?\d+)?", scored.stdout)]
    assert len(probabilities) == 2 and all(0 <= p <= 1 for p in probabilities)


def test_an_unregistered_name_gets_dvcs_error(registry, tmp_path):
    result = artifacts_get(tmp_path / "app", str(registry.origin), "imdb-sentimnt",
                           "--stage", "prod")
    assert result.returncode != 0
    assert "Unable to find artifact 'imdb-sentimnt @ prod'" in result.stderr, result.stderr
    assert list((tmp_path / "app").iterdir()) == []


def expand(text: str, outputs: dict[str, str], runner_temp: Path) -> str:
    """The workflow's expressions that its steps use, as GitHub fills them."""
    text = text.replace("${{ runner.temp }}", str(runner_temp))
    return re.sub(r"\$\{\{ steps\.assigned\.outputs\.(\w+) \}\}",
                  lambda match: outputs[match[1]], text)


def test_the_model_workflow_checks_the_version_a_stage_tag_assigns(registry, tmp_path):
    """.github/workflows/model.yml: valid, run by a pushed prod tag; its steps, run here at
    the first prod tag in a fresh clone with the remote given as the runner gets it, fetch
    v1.0.0 (the version that tag assigns, not the latest), load it and score two reviews."""
    path = ROOT / ".github/workflows/model.yml"
    subprocess.run([shutil.which("check-jsonschema", path=os.path.dirname(sys.executable)),
                    "--builtin-schema", "vendor.github-workflows", str(path)], check=True)
    workflow = yaml.safe_load(path.read_text())
    assert workflow[True] == {"push": {"tags": ["imdb-sentiment#prod#*"]}}
    steps = [step for step in workflow["jobs"]["check"]["steps"]
             if "run" in step and "make setup" not in step["run"]]
    assert [step["name"].split()[0] for step in steps] == ["The", "Fetch", "Load", "Deploy"]

    runner = tmp_path / "runner"
    subprocess.run(["git", "clone", "-q", "-b", "imdb-sentiment#prod#1", str(registry.origin),
                    str(runner)], check=True, capture_output=True)
    temp, output = tmp_path / "temp", tmp_path / "github_output"
    temp.mkdir()
    moved = registry.storage.with_name("storage-elsewhere")  # only DVC_REMOTE_URL reaches it
    registry.storage.rename(moved)
    try:
        outputs, log = {}, ""
        for step in steps:
            output.write_text("")
            env = environment() | {"GITHUB_REF_NAME": "imdb-sentiment#prod#1",
                                   "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output),
                                   "DVC_REMOTE_URL": str(moved)}
            env |= {key: expand(value, outputs, temp) for key, value in step.get("env", {}).items()}
            cwd = Path(expand(step.get("working-directory", str(runner)), outputs, temp))
            result = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                                    env=env, text=True, capture_output=True)
            log += result.stdout + result.stderr
            assert result.returncode == 0, log
            outputs |= dict(line.split("=", 1) for line in output.read_text().splitlines())
    finally:
        moved.rename(registry.storage)
    assert outputs == {"version": "v1.0.0", "stage": "prod"}
    assert md5(temp / "app/model.keras") == registry.models["v1.0.0"]
    scores = re.findall(r"^(\d\.\d{4})  (.+)$", log, re.M)
    assert [review for _, review in scores] == REVIEWS, log
    assert "imdb-sentiment v1.0.0 passed its check for prod" in log
