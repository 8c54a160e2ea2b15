"""`make search` shared by workers: one Optuna study in a real PostgreSQL server, each worker a
clone of one git remote (a bare repository) with its own workspace and DVC cache, the trials
shared through `dvc exp push` to that remote and a DVC folder remote.

Faults are made for real: a worker killed mid-trial, the database server switched off."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Project, default_signals, environment, make_project
from servers import PostgresServer, postgres_server
from test_search import SPACE, trial_lines

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data


@dataclass
class Team:
    root: Path
    db: PostgresServer
    origin: Path  # the git remote the workers share
    a: Project    # the machine that reproduced the project and pushed it

    def clone(self, name: str, pull: bool = True) -> Project:
        path = self.root / name
        subprocess.run(["git", "clone", "-q", str(self.origin), str(path)], check=True)
        project = Project(path)
        project.run("git", "config", "user.email", f"{name}@example.com")
        project.run("git", "config", "user.name", name)
        if pull:
            project.dvc("pull", "-q")
        return project


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    db = postgres_server(root / "postgres")
    try:
        origin = root / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
        a = make_project(root / "a")
        a.repro()
        (a.path / "search.yaml").write_text(yaml.safe_dump(SPACE))
        a.dvc("remote", "add", "--default", "storage", str(root / "dvc-storage"))
        a.commit("reproduced, with a search space and the team's DVC remote")
        a.run("git", "remote", "add", "origin", str(origin))
        a.run("git", "push", "-q", "origin", "HEAD")
        a.dvc("push", "-q")
        yield Team(root, db, origin, a)
    finally:
        db.remove()


def start_worker(project: Project, study: str, storage: str, trials: int,
                 *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stages.search", "--study", study, "--trials", str(trials),
         "--storage", storage, "--heartbeat", "1", *args],
        cwd=project.path, env=environment() | {"PYTHONUNBUFFERED": "1"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=default_signals)


def finish(worker: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    try:
        return worker.communicate(timeout=timeout)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)


def study_trials(storage: str, study: str) -> list:
    import optuna

    return optuna.load_study(study_name=study, storage=storage).get_trials()


def pushed(team: Team) -> set[str]:
    """The experiments on the git remote."""
    refs = subprocess.run(["git", "ls-remote", str(team.origin), "refs/exps/*"],
                          capture_output=True, text=True, check=True).stdout
    return {line.rsplit("/", 1)[1] for line in refs.splitlines()}


def outputs(project: Project) -> dict[str, bytes]:
    return {name: (project.path / name).read_bytes()
            for name in ("params.yaml", "models/model.keras", "reports/metrics.json")}


def test_two_workers_share_one_study_and_end_with_the_same_best(team):
    """Two workers at once, 6 trials in all: each trial runs once, on one worker; every one
    is on the git remote; both workers apply the same best, pulled where it ran elsewhere;
    a third clone gets that model with `dvc exp pull` + `dvc exp apply`, and no training."""
    workers = [team.clone(name) for name in ("w1", "w2")]
    running = [start_worker(w, "shared", team.db.url, 6) for w in workers]
    results = [finish(worker) for worker in running]
    for worker, (out, err) in zip(running, results):
        assert worker.returncode == 0, out + err

    trials = study_trials(team.db.url, "shared")
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials)
    names = [t.user_attrs["experiment"] for t in trials]
    assert names == [f"shared-{n}" for n in range(6)]
    tried = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(tried)) == 6, tried  # no values tried twice: each worker draws its own
    ran_on = {t.user_attrs["worker"].rsplit("/", 1)[1] for t in trials}
    assert ran_on == {"w1", "w2"}  # both worked
    for (out, _), w in zip(results, workers):  # each trial line once, on the worker that ran it
        mine = {t.number for t in trials if t.user_attrs["worker"].endswith(f"/{w.path.name}")}
        assert {int(line.split("/")[0]) - 1 for line in trial_lines(out)} == mine, out
    assert pushed(team) == set(names)

    best = max(trials, key=lambda t: t.value).user_attrs["experiment"]
    assert all(f"best: {best}," in out for out, _ in results), results
    first, second = (outputs(w) for w in workers)
    assert first == second
    assert yaml.safe_load(first["params.yaml"]) == yaml.safe_load(
        workers[0].run("git", "show", f"{exp_ref(team, best)}:params.yaml").stdout)
    ran_best = next(t for t in trials if t.user_attrs["experiment"] == best).user_attrs["worker"]
    for w, (out, _) in zip(workers, results):  # the other worker pulled it: no training
        assert (f"pulled {best}" in out) == (not ran_best.endswith(f"/{w.path.name}")), out
        assert json.loads(w.dvc("status", "--json").stdout) == {}

    third = team.clone("third")
    third.dvc("exp", "pull", "origin", best)
    third.dvc("exp", "apply", best)
    assert outputs(third)["models/model.keras"] == first["models/model.keras"]
    assert outputs(third)["params.yaml"] == first["params.yaml"]
    stale = json.loads(third.dvc("status", "--json").stdout)
    assert set(stale) == {"evaluate"}, stale  # everything up to the model came from the remote


def exp_ref(team: Team, name: str) -> str:
    [line] = [line for line in subprocess.run(
        ["git", "ls-remote", str(team.origin), f"refs/exps/*/{name}"], capture_output=True,
        text=True, check=True).stdout.splitlines()]
    return line.split()[0]


def read_until(worker: subprocess.Popen, done, seconds: float = 180) -> str:
    """The worker's output until `done(output)` holds."""
    seen, deadline = "", time.monotonic() + seconds
    while not done(seen):
        line = worker.stdout.readline()
        assert line and time.monotonic() < deadline, seen + worker.stderr.read()
        seen += line
    return seen


def test_a_worker_killed_mid_trial_loses_nothing(team):
    """One worker is killed (SIGKILL, as a machine switched off) during its second trial.
    Its heartbeat stops: the other worker fails that trial, runs its values again and
    completes the study; the killed trial's experiment is pushed nowhere."""
    victim, survivor = team.clone("k1"), team.clone("k2")
    storage = team.db.url
    dying = start_worker(victim, "killed", storage, 5)
    read_until(dying, lambda seen: len(trial_lines(seen)) == 1)
    going = start_worker(survivor, "killed", storage, 5)
    time.sleep(2)  # the victim's next trial is under way
    [cut] = [t for t in study_trials(storage, "killed")
             if t.state.name == "RUNNING" and t.user_attrs["worker"].endswith("/k1")]
    os.killpg(dying.pid, signal.SIGKILL)
    dying.wait()
    out, err = finish(going)
    assert going.returncode == 0, out + err

    trials = study_trials(storage, "killed")
    assert trials[cut.number].state.name == "FAIL"
    [again] = [t for t in trials if t.system_attrs.get("failed_trial") == cut.number]
    assert again.state.name == "COMPLETE" and again.params == cut.params
    assert again.user_attrs["worker"].endswith("/k2")
    others = [t for t in trials if t.number != cut.number]
    assert len(others) == 5 and all(t.state.name == "COMPLETE" for t in others)
    names = {t.user_attrs["experiment"] for t in others}
    assert {n for n in pushed(team) if n.startswith("killed-")} == names
    assert cut.user_attrs["experiment"] not in pushed(team)
    place = cut.number + 1
    assert re.search(rf"^\s+{place}/5  again, its first worker gone: val_accuracy", out, re.M), out


@pytest.mark.parametrize("case", ["no server", "another commit", "changed params"])
def test_a_worker_that_cannot_join_says_why_in_one_line(team, tmp_path, case):
    """Nothing listens at STORAGE: one line naming it. A clone at another commit, or with
    other params, is refused by a study that another worker started: its trials would not
    compare. No trial runs."""
    storage = team.db.url
    if case == "no server":
        from servers import free_port

        storage = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
        expected = f"cannot open the study in --storage {storage}: connection"
    else:
        starter = team.clone(f"starter-{case.split()[0]}")
        out, err = finish(start_worker(starter, f"join-{case.split()[0]}", storage, 1))
        assert "best: " in out, out + err
        expected = (f"study join-{case.split()[0]} searches from commit" if case == "another commit"
                    else "params.yaml or search space differs from the one the study started")
    late = team.clone(f"late-{case.split()[0]}")
    if case == "another commit":
        late.set_param("train.epochs", 2)
        late.commit("two epochs")
    elif case == "changed params":
        late.set_param("train.epochs", 2)
    before = late.run("git", "status", "--porcelain").stdout
    out, err = finish(start_worker(late, f"join-{case.split()[0]}", storage, 2))
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert trial_lines(out) == []
    assert late.run("git", "status", "--porcelain").stdout == before


def test_a_database_lost_mid_search_stops_the_worker_with_its_trials_pushed(team, tmp_path):
    """The database server is switched off after two trials: the worker stops with one line
    that names the database and the trials it pushed, which are on the git remote; the
    workspace is as it was."""
    db = postgres_server(tmp_path / "postgres")
    try:
        project = team.clone("lost")
        before = project.run("git", "status", "--porcelain").stdout
        worker = start_worker(project, "lost", db.url, 20)
        read_until(worker, lambda seen: len(trial_lines(seen)) == 2)
        db.stop()
        out, err = finish(worker, timeout=120)
    finally:
        db.remove()
    assert worker.returncode == 1, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"error: lost the study's database, {db.url}: " in err, err
    names = re.search(r"finished trials are on origin: ([\w, -]+)\.", err)[1].split(", ")
    assert {"lost-0", "lost-1"} <= set(names) <= pushed(team)
    assert project.run("git", "status", "--porcelain").stdout == before
    assert json.loads(project.dvc("status", "--json").stdout) == {}


def test_the_search_workflow_runs_its_workers_against_one_study(team, tmp_path):
    """.github/workflows/search.yml: valid; its plan makes one matrix entry per worker and
    refuses a bad count; each worker's steps, run here at once in two fresh clones as two
    runners would run them, search one study and report the same best."""
    path = ROOT / ".github/workflows/search.yml"
    subprocess.run([shutil.which("check-jsonschema", path=os.path.dirname(sys.executable)),
                    "--builtin-schema", "vendor.github-workflows", str(path)], check=True)
    workflow = yaml.safe_load(path.read_text())
    [plan] = workflow["jobs"]["plan"]["steps"]
    for workers, expected in (("2", "workers=[1,2]\nstudy=search-77\n"), ("0", None)):
        output = tmp_path / f"plan-{workers}"
        result = subprocess.run(["bash", "-eo", "pipefail", "-c", plan["run"]], text=True,
                                capture_output=True, env=environment() | {
                                    "WORKERS": workers, "STUDY": "", "GITHUB_RUN_ID": "77",
                                    "GITHUB_OUTPUT": str(output)})
        if expected:
            assert output.read_text() == expected, result.stdout + result.stderr
        else:
            assert result.returncode == 1 and "workers must be a whole number" in result.stdout
    job = workflow["jobs"]["worker"]
    assert job["strategy"]["matrix"]["worker"] == "${{ fromJSON(needs.plan.outputs.workers) }}"
    assert job["env"]["SEARCH_STORAGE"] == "${{ secrets.SEARCH_STORAGE }}"
    steps = [step["run"] for step in job["steps"]
             if ".ci/remote" in step.get("run", "") or "stages.search" in step.get("run", "")]
    assert len(steps) == 2

    env = environment() | {"DVC_REMOTE_URL": str(team.root / "dvc-storage"), "TRIALS": "4",
                           "STUDY": "search-77", "SEARCH_STORAGE": team.db.url}
    runners = []
    for n in (1, 2):
        runner = team.clone(f"runner-{n}", pull=False)
        (runner.path / ".ci").mkdir()
        shutil.copy(ROOT / ".ci/remote", runner.path / ".ci/remote")
        script = "\n".join(f"( {run} )" for run in steps)
        temp = tmp_path / f"runner-{n}"  # each runner's own RUNNER_TEMP
        temp.mkdir()
        summary = temp / "summary"
        runners.append((summary, subprocess.Popen(
            ["bash", "-eo", "pipefail", "-c", script], cwd=runner.path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            env=env | {"GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(temp)})))
    summaries = []
    for summary, process in runners:
        output, _ = finish(process)
        assert process.returncode == 0, output
        summaries.append(summary.read_text())
    assert summaries[0] == summaries[1] and summaries[0].startswith("best: search-77-")
    assert {n for n in pushed(team) if n.startswith("search-77-")} == {
        f"search-77-{n}" for n in range(4)}
