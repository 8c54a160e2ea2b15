"""The README's first DVC session, command by command, on a tiny project: the text cannot rot."""

import hashlib
import re
import shlex
import shutil
import sys

import pytest
import yaml
from conftest import ROOT, Project, reproduced_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data


def session() -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) for every `$ ` line of the README's walkthrough."""
    readme = (ROOT / "README.md").read_text()
    text = readme.split("## Your first DVC session", 1)[1].split("\n## ", 1)[0]
    steps = []
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


# Lines that must come out as the README shows them, in its order: DVC's messages
# and git's file lists. Numbers, tables and training logs differ on the tiny data.
MESSAGE = re.compile(r"^(Stage '\w+' didn't change, skipping|Running stage '\w+':|"
                     r"'[\w/.]+' didn't change, skipping|"
                     r"Data and pipelines are up to date\.|Reproducing experiment '[\w-]+'|"
                     r"Ran experiment\(s\): [\w-]+|Experiment results have been applied.*|"
                     r"Updating lock file 'dvc.lock'|To track the changes with git, run:|"
                     r"\tgit add dvc.lock|Use `dvc push` to send your updates to remote storage\.|"
                     r"\s+modified:\s+\w+|train:|\tchanged deps:|\t\tparams.yaml:|"
                     r"Switched to a new branch '[\w-]+'|"
                     r" M [\w/.]+|[AM] {7}[\w/.]+)$")
README_DATASET, TINY_DATASET = "data/external/aclImdb.tar.gz", "data/external/aclImdb"
README_EXPERIMENT = "gamey-areg"


def assert_in_order(expected: list[str], output: list[str], command: str) -> None:
    """Each expected line is in the output, after the one before it."""
    at = 0
    for line in expected:
        try:
            at = output.index(line, at) + 1
        except ValueError:
            raise AssertionError(f"{command}: {line!r} not found, in this order, in\n"
                                 + "\n".join(output)) from None


def dag_boxes(lines: list[str]) -> list[str]:
    return re.findall(r"\| ([\w/.]+) \|", "\n".join(lines))


def metric_rows(lines: list[str]) -> list[tuple[str, ...]]:
    """(path, metric) of each row of a `dvc metrics diff` table."""
    return [tuple(line.split()[:2]) for line in lines[1:] if line]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = reproduced_project(tmp_path_factory, "walkthrough")
    project.run("git", "branch", "-M", "main")
    shutil.copy(ROOT / ".dvc/config", project.path / ".dvc/config")  # the default remote
    project.commit("the project's DVC config")
    return project


def test_the_first_dvc_session_runs_as_written(project):
    steps = session()
    commands = [command for command, _ in steps]
    assert commands[:3] == ["git switch -c first-session", "dvc dag", "dvc status"]
    assert commands[-2] == "git switch -q main && dvc checkout"
    assert "dvc exp run -S train.epochs=8" in commands and "git checkout -q HEAD~1" in commands
    assert "dvc push" in commands
    # each commit that the second clone checks out is pushed before it does
    assert commands.index("git commit -qam 'Train for 8 epochs' && dvc push") < commands.index(
        "cd ../imdb-elsewhere && git pull -q && dvc pull")
    name, dvc_status_seen = None, 0
    for command, shown in steps:
        if name:
            command = command.replace(README_EXPERIMENT, name)
        args = shlex.split(command)
        if args[0] == "dvc":
            args = [sys.executable, "-m", "dvc", *args[1:]]
        if "&&" in command:
            result = project.run("bash", "-c", command)
        else:
            result = project.run(*args)
        # (A folder, as the tiny dataset is, is listed with a trailing /.)
        output = [line.rstrip().removesuffix("/") for line in
                  (result.stdout + result.stderr).splitlines()]
        if command == "dvc exp run -S train.epochs=8" and name is None:
            name = re.search(r"Reproducing experiment '([\w-]+)'", "\n".join(output))[1]
            # params.yaml is in the form DVC writes back: the experiment changed one line.
            diff = project.run("git", "diff", "-U0", "params.yaml").stdout.splitlines()
            changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            values = [line.split("#")[0].rstrip() for line in changed]
            assert values == ["-  epochs: 6", "+  epochs: 8"]
        expected = [line.replace(README_DATASET, TINY_DATASET)
                        .replace(README_EXPERIMENT, name or "")
                    for line in shown if MESSAGE.match(line)]
        assert_in_order(expected, output, command)
        if command == "dvc dag":  # the same boxes, top to bottom
            assert [box.replace(README_DATASET, TINY_DATASET) for box in dag_boxes(shown)] == \
                dag_boxes(output)
        if command == "dvc metrics diff":
            # Each file's rows in DVC's order (which metrics changed, and which file DVC
            # lists first, depend on the data).
            assert ("reports/train.json", "epochs") in metric_rows(output)
            for path in {row[0] for row in metric_rows(output)}:
                actual = [row for row in metric_rows(output) if row[0] == path]
                assert [row for row in metric_rows(shown) if row in actual] == actual
        if command == "dvc metrics show":  # the columns shown, before the cut
            header = shown[0].split()
            assert output[0].split()[:len(header) - 1] == header[:-1] and header[-1] == "…"
        if command.startswith("python -m stages.predict"):
            # The same reviews, a line each (the tiny vocabulary may know none of their words,
            # which predict then notes after the review).
            assert len(output) == len(shown)
            for printed, readme_line in zip(output, shown):
                assert printed.split(None, 2)[2].startswith(readme_line.split(None, 2)[2])
        if command == "dvc status":
            dvc_status_seen += 1
            if dvc_status_seen == 1:  # the prose: "set `epochs: 6` under `train:`"
                project.set_param("train.epochs", 6)
    assert name, "the walkthrough never ran an experiment"
    # "Share it": the second clone pulled the model its commit names, and trained nothing;
    # it then followed to the 8-epoch commit, whose outputs had been pushed first.
    elsewhere = Project(project.path.parent / "imdb-elsewhere")
    model = hashlib.md5((elsewhere.path / "models/model.keras").read_bytes()).hexdigest()
    assert model == elsewhere.locked_md5("train", "models/model.keras")
    assert elsewhere.dvc("status").stdout.strip() == "Data and pipelines are up to date."
    assert elsewhere.params["train"]["epochs"] == 8
    assert elsewhere.run("git", "status", "--porcelain").stdout == ""
    # The round trip: main is as it was, its model the one its dvc.lock names.
    assert project.run("git", "status", "--porcelain").stdout == ""
    assert project.run("git", "branch", "--show-current").stdout.strip() == "main"
    assert project.params["train"]["epochs"] == 3
    model = hashlib.md5((project.path / "models/model.keras").read_bytes()).hexdigest()
    assert model == project.locked_md5("train", "models/model.keras")
    assert "first-session" in project.run("git", "branch").stdout

    # What the prose says next: keep the experiment on a branch; compare it.
    readme = (ROOT / "README.md").read_text()
    # The README writes the experiment's name as a placeholder, and names its own run.
    [branch] = re.findall(r"`(dvc exp branch <name> [^`]*)`", readme.replace("\n", " "))
    assert f"here\n`{README_EXPERIMENT}`; yours differs" in readme
    project.dvc(*shlex.split(branch.replace("<name>", name))[1:])
    assert "more-epochs" in project.run("git", "branch").stdout
    branched = yaml.safe_load(project.run("git", "show", "more-epochs:params.yaml").stdout)
    assert branched["train"]["epochs"] == 8
