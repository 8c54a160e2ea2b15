"""The README's first DVC session, command by command, on a tiny project: the text cannot rot."""

import hashlib
import re
import shlex
import shutil
import sys

import pytest

from conftest import ROOT, Project, reproduced_project


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


# Lines of DVC's own that must come out as the README shows them (the experiment's
# name aside); numbers, tables and training logs differ on the tiny data.
MESSAGE = re.compile(r"^(Stage '\w+' didn't change, skipping|Running stage '\w+':|"
                     r"Data and pipelines are up to date\.|Reproducing experiment '[\w-]+'|"
                     r"Ran experiment\(s\): [\w-]+|Experiment results have been applied.*|"
                     r"\s+modified:\s+\w+)$")


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
    assert commands[:2] == ["dvc dag", "dvc status"]
    assert "dvc exp run -S train.epochs=8" in commands and "git checkout HEAD~1" in commands
    assert "dvc push" in commands
    name, dvc_status_seen = None, 0
    for command, shown in steps:
        if name:
            command = command.replace("sural-upas", name)
        args = shlex.split(command)
        if args[0] == "dvc":
            args = [sys.executable, "-m", "dvc", *args[1:]]
        result = project.run("bash", "-c", command) if "&&" in command else project.run(*args)
        output = result.stdout + result.stderr
        if command == "dvc exp run -S train.epochs=8":
            name = re.search(r"Reproducing experiment '([\w-]+)'", output)[1]
        for line in shown:
            if MESSAGE.match(line):
                expected = line.replace("sural-upas", name or "sural-upas").strip()
                assert expected in output, f"{command}: no {expected!r} in\n{output}"
        if command == "dvc metrics diff":
            # Only metrics that changed are listed; which do depends on the data.
            readme_rows = {tuple(line.split()[:2]) for line in shown[1:] if line}
            actual_rows = {tuple(line.split()[:2]) for line in output.splitlines()[1:] if line}
            assert ("reports/train.json", "epochs") in actual_rows <= readme_rows
        if command == "dvc status":
            dvc_status_seen += 1
            if dvc_status_seen == 1:  # the prose: "set epochs: 6 under train:"
                project.set_param("train.epochs", 6)
    assert name, "the walkthrough never ran an experiment"
    # "Share it": the second clone pulled the model its commit names, and trained nothing.
    elsewhere = Project(project.path.parent / "imdb-elsewhere")
    model = hashlib.md5((elsewhere.path / "models/model.keras").read_bytes()).hexdigest()
    assert model == elsewhere.locked_md5("train", "models/model.keras")
    assert elsewhere.dvc("status").stdout.strip() == "Data and pipelines are up to date."

    # What the prose says next: keep the experiment, two ways; compare it.
    readme = (ROOT / "README.md").read_text()
    for keep in re.findall(r"`(dvc exp (?:apply|branch) sural-upas[^`]*)`", readme):
        project.dvc(*shlex.split(keep.replace("sural-upas", name))[1:])
    assert "more-epochs" in project.run("git", "branch").stdout
    assert project.params["train"]["epochs"] == 8
    table = project.run(sys.executable, str(ROOT / "experiments/compare.py")).stdout
    assert re.search(r"^\| train\.epochs=8 \| 1 \| 0\.\d{4} ± 0\.0000 \|", table, re.M), table
