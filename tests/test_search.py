"""`make search` on tiny data: seeded trials as DVC experiments that never read the test set,
the best applied and evaluated once, failures recorded, a bad space refused up front."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import default_signals, environment, make_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

SPACE = {"metric": "val_accuracy", "params": {
    "vectorize.num_words": [12, 28],
    "train.hidden_units": [[], [8]],
    "train.learning_rate": {"low": 0.001, "high": 0.1, "log": True},
    "train.log_count_ratio": [False, True],
    "train.epochs": 3,
}}


def tiny_search(tmp_path, name: str, space: dict = SPACE):
    """A reproduced tiny project with `space` as its search.yaml, committed."""
    project = make_project(tmp_path / name)
    ran, _ = project.repro()
    (project.path / "search.yaml").write_text(yaml.safe_dump(space))
    project.commit("reproduced, with a search space")
    return project


def search(project, *args: str, check: bool = True):
    return project.run(sys.executable, "-m", "stages.search", "--study", "s", *args, check=check)


def trial_lines(output: str) -> list[str]:
    """The per-trial lines without their elapsed time, which varies."""
    return [re.sub(r"\d\d:\d\d:\d\d", "", line) for line in output.splitlines()
            if re.match(r"\s*\d+/\d+  ", line)]


def experiments(project) -> dict[str, dict]:
    """name -> its params.yaml, for every experiment of the workspace's commit."""
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    return {exp["name"]: exp["data"]["params"]["params.yaml"]["data"]
            for row in shown for group in (row.get("experiments") or []) for exp in group["revs"]}


def test_a_seeded_search_is_reproducible_and_reads_no_test_review(tmp_path):
    """3 trials, twice from the same commit with the same seed: the same values, the same
    scores. Every trial is an experiment whose test reports are the commit's own (evaluate
    never ran); the workspace ends with the best trial's params, evaluated once, and
    `dvc status` clean."""
    first, second = tiny_search(tmp_path, "one"), tiny_search(tmp_path, "two")
    baseline = (first.path / "reports/metrics.json").read_text()
    runs = [search(project, "--trials", "3") for project in (first, second)]
    assert trial_lines(runs[0].stdout) == trial_lines(runs[1].stdout) != []
    assert len(trial_lines(runs[0].stdout)) == 3, runs[0].stdout
    trials = experiments(first)
    assert sorted(trials) == ["s-0", "s-1", "s-2"]
    for name in trials:  # the commit's test metrics, untouched
        shown = first.run("git", "show", f"{exp_ref(first, name)}:reports/metrics.json")
        assert shown.stdout == baseline, name
    best = re.search(r"best: (s-\d+)", runs[0].stdout)[1]
    params = yaml.safe_load((first.path / "params.yaml").read_text())
    assert params == trials[best]
    assert json.loads(first.dvc("status", "--json").stdout) == {}
    lock = yaml.safe_load((first.path / "dvc.lock").read_text())["stages"]
    model = [out["md5"] for out in lock["train"]["outs"] if out["path"] == "models/model.keras"]
    assert [dep["md5"] for dep in lock["evaluate"]["deps"]
            if dep["path"] == "models/model.keras"] == model  # evaluated: this model
    assert (first.path / "reports/metrics.json").read_text() != baseline


def exp_ref(project, name: str) -> str:
    """The commit of experiment `name`."""
    [line] = [line for line in project.run("git", "for-each-ref", "refs/exps").stdout.splitlines()
              if line.endswith(f"/{name}")]
    return line.split()[0]


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    """A validation part of all 48 training reviews leaves none to train on: those trials
    fail with the stage's message, and the others still run and pick the best."""
    space = {"params": {"split.val_size": [16, 48], "train.epochs": 2}}
    project = tiny_search(tmp_path, "failing", space)
    result = search(project, "--trials", "4", "--seed", "1")
    lines = trial_lines(result.stdout)
    failed = [line for line in lines if "failed:" in line]
    assert len(lines) == 4 and failed and len(failed) < 4, result.stdout
    assert all("split.val_size=48" in line for line in failed)
    assert "best: s-" in result.stdout
    assert yaml.safe_load((project.path / "params.yaml").read_text())["split"]["val_size"] == 16


@pytest.mark.parametrize("space, message", [
    ({"params": {"train.epoch": 3}}, "'train.epoch' is not a param a search can change: did you "
                                     "mean 'train.epochs'?"),
    ({"params": {"evaluate.threshold": [0.4, 0.6]}}, "'evaluate.threshold' is not a param a "
                                                     "search can change"),
    ({"params": {"train.dropout": {"low": 0.0, "high": 1.5}}},
     "train.dropout may be 1.5 nowhere: it must be a number in [0, 1)"),
    ({"params": {"train.dropout": 0.1}, "metric": "accuracy"}, "metric 'accuracy' must be one of"),
], ids=["unknown key", "the test set's stage", "out of range", "a test metric"])
def test_a_bad_space_is_refused_before_any_trial(tmp_path, space, message):
    project = make_project(tmp_path / "repo")
    (project.path / "bad.yaml").write_text(yaml.safe_dump(space))
    result = search(project, "--space", "bad.yaml", check=False)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert experiments(project) == {}


@pytest.mark.parametrize("after_trials", [0, 1])
def test_ctrl_c_leaves_the_best_so_far_or_the_workspace_as_it_was(tmp_path, after_trials):
    """Ctrl-C (SIGINT to the search's process group, as a terminal sends it) during a trial:
    with a finished trial, the workspace holds the best so far, evaluated; with none, the
    workspace is as it was. Either way `dvc status` is clean and the message says which."""
    project = tiny_search(tmp_path, f"stopped{after_trials}")
    before = project.run("git", "status", "--porcelain").stdout
    search = subprocess.Popen(
        [sys.executable, "-m", "stages.search", "--study", "s", "--trials", "5"],
        cwd=project.path, env=environment() | {"PYTHONUNBUFFERED": "1"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=default_signals)
    try:
        seen = ""
        while len(trial_lines(seen)) < after_trials or "searching" not in seen:
            seen += search.stdout.readline()
        time.sleep(3)  # the next trial is under way
        os.killpg(search.pid, signal.SIGINT)
        output = seen + search.communicate(timeout=180)[0]
    finally:
        if search.poll() is None:
            os.killpg(search.pid, signal.SIGKILL)
    assert search.returncode == 1, output
    if after_trials:
        assert "stopped: the workspace holds the best trial so far, s-0, evaluated" in output
        assert yaml.safe_load((project.path / "params.yaml").read_text()) == experiments(
            project)["s-0"]
    else:
        assert "stopped before any trial finished: the workspace is as it was" in output
        assert project.run("git", "status", "--porcelain").stdout == before
    assert "Traceback" not in output, output
    assert json.loads(project.dvc("status", "--json").stdout) == {}
