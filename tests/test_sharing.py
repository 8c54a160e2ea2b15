"""Sharing the pipeline between machines, on real servers: a team of clones of one git
remote (a bare repository), each with its own workspace and DVC cache, and a DVC remote
served by sshd (read and write) and by a plain HTTP server (read-only).

The tiny project is reproduced once, on machine A; everything the others have, they
get from the remotes."""

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Project, environment, make_project, reproduced_project
from servers import HTTPServer, SSHServer, ssh_server

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data


def committed_remote_settings() -> dict[str, str]:
    """The options of the project's own default remote (.dvc/config), its url aside."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc/config")
    name = config["core"]["remote"]
    return {key: value for key, value in config[f"'remote \"{name}\"'"].items() if key != "url"}


def use_remote(project: Project, url: str, keyfile: Path | None = None) -> None:
    """Make `url` the default remote `storage`, with the project's committed settings; the
    key stays in the machine's own config.local, as a user's would."""
    project.dvc("remote", "add", "--force", "--default", "storage", url)
    for key, value in committed_remote_settings().items():
        project.dvc("remote", "modify", "storage", key, value)
    if keyfile:
        project.dvc("remote", "modify", "--local", "storage", "keyfile", str(keyfile))


def files(project: Project) -> dict[str, str]:
    """sha256 of every file the pipeline reads or writes: the dataset and every output."""
    found = {}
    for folder in ("data", "models", "reports"):
        for path in sorted((project.path / folder).rglob("*")):
            if path.is_file() and path.name != ".gitignore" and path.suffix != ".dvc":
                found[path.relative_to(project.path).as_posix()] = hashlib.sha256(
                    path.read_bytes()).hexdigest()
    return found


def predicts(project: Project) -> None:
    result = project.run("python", "-m", "stages.predict", "--json", "A wonderful, moving film")
    [answer] = json.loads(result.stdout)
    assert answer["label"] in ("positive", "negative") and 0 <= answer["probability"] <= 1


@dataclass
class Team:
    root: Path
    ssh: SSHServer
    http: HTTPServer
    storage: Path  # the DVC remote's folder, on the server
    origin: Path   # the shared git remote
    a: Project     # the machine that reproduced the pipeline

    def clone(self, name: str, keyfile: bool = True) -> Project:
        path = self.root / name
        subprocess.run(["git", "clone", "-q", "-b", "main", str(self.origin), str(path)],
                       check=True)
        project = Project(path)
        project.run("git", "config", "user.email", f"{name}@example.com")
        project.run("git", "config", "user.name", name)
        if keyfile:
            project.dvc("remote", "modify", "--local", "storage", "keyfile", str(self.ssh.key))
        assert not (path / ".dvc/cache").exists()  # a new machine: nothing cached
        return project


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("team")
    ssh = ssh_server(root / "sshd")
    storage = root / "storage"
    storage.mkdir()
    http = HTTPServer(root / "http", serve=storage).start()
    try:
        origin = root / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
        a = reproduced_project(tmp_path_factory, "machine_a")
        a.run("git", "branch", "-M", "main")
        use_remote(a, ssh.url(storage), ssh.key)
        shutil.copy(ROOT / "Makefile", a.path / "Makefile")  # `make repro`, as a teammate runs it
        a.commit("the team's DVC remote")
        a.run("git", "remote", "add", "origin", str(origin))
        a.run("git", "push", "-q", "origin", "main")
        a.dvc("push")
        a.dvc("push", "--run-cache")
        yield Team(root, ssh, http, storage, origin, a)
    finally:
        http.stop()
        ssh.stop()


def test_a_fresh_clone_pulls_every_output_and_has_nothing_to_run(team):
    b = team.clone("b")
    assert "data/external/aclImdb/train/pos/0_" not in " ".join(files(b))
    b.dvc("pull")
    assert files(b) == files(team.a)
    assert json.loads(b.dvc("status", "--json").stdout) == {}
    assert b.repro()[0] == []
    predicts(b)  # the model and vocabulary are there: no training needed
    assert b.run("git", "status", "--porcelain").stdout == ""


def test_the_committed_dvc_config_survives_dvc_remote_modify(tmp_path):
    """`dvc remote modify` rewrites .dvc/config and drops its comments: the explanation of
    the project's remote lives in docs/sharing.md, and the file comes back byte for byte."""
    project = make_project(tmp_path / "repo")
    shutil.copy(ROOT / ".dvc/config", project.path / ".dvc/config")
    before = (project.path / ".dvc/config").read_text()
    project.dvc("remote", "modify", "storage", "url", "ssh://you@server.example.com/srv/dvc")
    # back to the folder beside the repository (a path from where the command runs)
    project.dvc("remote", "modify", "storage", "url", "../imdb-sentiment-storage")
    assert (project.path / ".dvc/config").read_text() == before
    sharing = (ROOT / "docs/sharing.md").read_text()
    assert "verify = true" in sharing and "folder beside the repository" in " ".join(
        sharing.split())


def make_repro(project: Project) -> tuple[list[str], str]:
    """The Quick start's `make repro` in `project` (its setup, the environment, is the
    tests'): the stages that ran, and the output."""
    result = project.run("make", "--no-print-directory", "-o", "setup", "repro")
    output = result.stdout + result.stderr
    return [line.split("'")[1] for line in output.splitlines()
            if line.startswith("Running stage '")], output


@pytest.mark.parametrize("server", ["ssh", "folder"])
def test_a_teammates_make_repro_fetches_the_commits_outputs_and_runs_nothing(team, server):
    b = team.clone(f"make-{server}", keyfile=server == "ssh")
    if server == "folder":  # the remote's folder, reached as a mounted share would be
        b.dvc("remote", "modify", "--local", "storage", "url", str(team.storage))
    ran, output = make_repro(b)
    assert ran == [] and "dvc repro --pull" in output, output
    assert files(b) == files(team.a)
    assert json.loads(b.dvc("status", "--json").stdout) == {}
    assert b.run("git", "status", "--porcelain").stdout == ""
    predicts(b)


def test_make_repro_computes_only_what_the_remote_lacks(team, tmp_path):
    """A remote without the model (nor its history): train runs, nothing else; its model is
    the committed one, byte for byte."""
    partial = tmp_path / "partial"
    shutil.copytree(team.storage, partial)
    for path in ("models/model.keras", "models/history.json"):
        md5 = team.a.locked_md5("train", path)
        (partial / "files/md5" / md5[:2] / md5[2:]).unlink()
    b = team.clone("make-partial", keyfile=False)
    b.dvc("remote", "modify", "--local", "storage", "url", str(partial))
    ran, output = make_repro(b)
    assert ran == ["train"], output
    assert files(b) == files(team.a)
    assert b.run("git", "status", "--porcelain").stdout == ""


def test_make_repro_with_no_remote_reachable_computes_everything(team):
    """The remote's server is down, and the dataset was copied in by hand: `make repro`
    computes every stage whose outputs are not in git, as it would with no remote, and
    gets the committed outputs."""
    from servers import free_port

    b = team.clone("make-offline", keyfile=False)
    b.dvc("remote", "modify", "--local", "storage", "url",
          f"ssh://{team.ssh.user}@127.0.0.1:{free_port()}/nowhere")
    dataset = "data/external/aclImdb"
    shutil.copytree(team.a.path / dataset, b.path / dataset)
    ran, output = make_repro(b)
    assert ran == ["load", "vectorize", "split", "train"], output  # curves' and evaluate's
    assert files(b) == files(team.a)                                # inputs come out the same
    assert b.run("git", "status", "--porcelain").stdout == ""


def test_a_read_only_http_remote_serves_newcomers_and_refuses_pushes(team):
    c = team.clone("c", keyfile=False)
    c.dvc("remote", "add", "--local", "web", team.http.url)
    c.dvc("remote", "default", "--local", "web")
    c.dvc("pull")
    assert files(c) == files(team.a)
    assert c.repro()[0] == []
    predicts(c)

    c.set_param("train.epochs", 1)
    assert c.repro()[0] == ["train", "curves", "evaluate"]
    pushed = c.dvc("push", check=False)
    assert pushed.returncode != 0
    assert "failed to push" in pushed.stderr and "501" in pushed.stderr, pushed.stderr
    c.run("git", "checkout", "--", ".")
    c.dvc("checkout", "-q")


def test_the_run_cache_travels_so_a_value_run_elsewhere_is_not_trained_again(team):
    a = team.a
    a.set_param("train.epochs", 2)
    assert a.repro()[0] == ["train", "curves", "evaluate"]
    two_epochs = files(a)
    a.dvc("push", "--run-cache")
    a.run("git", "checkout", "--", ".")
    a.dvc("checkout", "-q")

    b = team.clone("b_run_cache")
    b.dvc("pull", "--run-cache")
    b.set_param("train.epochs", 2)
    # --pull: the run-cache entries came with `pull --run-cache`, the outputs they name
    # come from the remote as they are needed. Curves and evaluate run again: their outputs
    # are kept in git, and DVC pushes no output kept in git.
    ran, result = b.repro("--pull")
    assert ran == ["curves", "evaluate"]
    assert "Stage 'train' is cached - skipping run" in result.stdout
    assert files(b) == two_epochs


def test_an_older_commit_brings_back_its_model(team):
    a = team.a
    first = files(a)
    a.set_param("train.epochs", 2)
    a.repro()
    second = files(a)
    assert second["models/model.keras"] != first["models/model.keras"]
    a.commit("two epochs")
    a.dvc("push")
    a.run("git", "push", "-q", "origin", "main")

    d = team.clone("d")
    d.dvc("pull")
    assert files(d) == second
    d.run("git", "checkout", "-q", "HEAD~1")
    d.dvc("pull")
    assert files(d) == first and d.repro()[0] == []
    d.run("git", "checkout", "-q", "main")
    d.dvc("checkout")  # both versions are in d's cache now
    assert files(d) == second


def experiment(project: Project, *settings: str) -> str:
    result = project.dvc("exp", "run", *(arg for s in settings for arg in ("-S", s)))
    return re.search(r"Ran experiment\(s\): ([\w-]+)", result.stdout)[1]


def test_experiments_from_two_machines_meet_in_a_third(team):
    team.a.run("git", "pull", "-q", "origin", "main")
    e = team.clone("e")
    e.dvc("pull")
    name_a = experiment(team.a, "train.epochs=1")
    model_a = files(team.a)["models/model.keras"]
    team.a.dvc("exp", "push", "origin", name_a)
    name_e = experiment(e, "train.learning_rate=0.005")
    model_e = files(e)["models/model.keras"]
    e.dvc("exp", "push", "origin", name_e)

    f = team.clone("f")
    for name in (name_a, name_e):
        f.dvc("exp", "pull", "origin", name)
    shown = json.loads(f.dvc("exp", "show", "--json").stdout)
    found = {exp["name"]: exp for row in shown for exp in (row.get("experiments") or [])
             for exp in exp["revs"]}
    assert {name_a, name_e} <= set(found)
    for name in (name_a, name_e):
        metrics = found[name]["data"]["metrics"]["reports/metrics.json"]["data"]
        assert 0 <= metrics["accuracy"] <= 1
    for name, model in ((name_a, model_a), (name_e, model_e)):
        f.dvc("exp", "apply", name)  # from the DVC remote through `exp pull`: nothing trains
        assert files(f)["models/model.keras"] == model
        predicts(f)
    for machine in (team.a, e):  # back to main, for the tests after this one
        machine.run("git", "checkout", "--", ".")
        machine.dvc("checkout", "-q")


def test_the_sweep_workflow_runs_its_matrix_against_the_remote(team):
    """.github/workflows/sweep.yml: valid, one job per item of its input, and each job's
    steps, run here as the runner would run them, push an experiment that a third
    machine then pulls with its model."""
    path = ROOT / ".github/workflows/sweep.yml"
    subprocess.run([shutil.which("check-jsonschema", path=os.path.dirname(sys.executable)),
                    "--builtin-schema", "vendor.github-workflows", str(path)], check=True)
    workflow = yaml.safe_load(path.read_text())
    assert "workflow_dispatch" in workflow[True]  # YAML reads the key `on` as True
    job = workflow["jobs"]["experiment"]
    assert job["strategy"]["matrix"]["settings"] == "${{ fromJSON(inputs.sweep) }}"
    sweep = json.loads(workflow[True]["workflow_dispatch"]["inputs"]["sweep"]["default"])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for settings in sweep:  # each names a param that exists: `-S` refuses new keys
        for setting in settings.split():
            block, key = setting.split("=")[0].split(".")
            assert key in params[block], setting
    steps = [step["run"] for step in job["steps"] if "run" in step]
    remote_steps = [run for run in steps if ".ci/remote" in run]
    assert [re.search(r"\.ci/remote (\w+(?: \w+)?)", run)[1] for run in remote_steps] == [
        "pull", "exp run", "exp push"]

    env = {"DVC_REMOTE_URL": team.ssh.url(team.storage),
           "DVC_SSH_KEY": team.ssh.key.read_text()}
    pushed = []
    for settings in sweep[:2]:
        runner = team.clone(f"runner-{len(pushed)}", keyfile=False)
        (runner.path / ".ci").mkdir()
        shutil.copy(ROOT / ".ci/remote", runner.path / ".ci/remote")
        for run in remote_steps:
            result = subprocess.run(["bash", "-e", "-c", run], cwd=runner.path, text=True,
                                    capture_output=True, env=environment() | env |
                                    {"SETTINGS": settings})
            assert result.returncode == 0, result.stdout + result.stderr
        pushed.append(runner.dvc("exp", "list", "--name-only").stdout.split())
    assert all(len(names) == 1 for names in pushed)

    g = team.clone("g")
    listed = g.dvc("exp", "list", "origin", "--name-only").stdout.split()
    assert {names[0] for names in pushed} <= set(listed)
    g.dvc("exp", "pull", "origin", pushed[0][0])
    g.dvc("exp", "apply", pushed[0][0])
    predicts(g)
