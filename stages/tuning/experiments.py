"""Trials as DVC experiments: each runs the pipeline up to curves with `dvc exp run`, so it
is listed by `dvc exp show`, can be applied or pushed like any experiment, and reuses what
an earlier trial computed through DVC's run-cache. None runs evaluate."""

import json
import subprocess
import sys
from pathlib import Path

from stages.runner.process import StageError
from stages.tuning.space import override

VALIDATION = Path("reports/train.json")  # curves' validation metrics
LAST_STAGE = "curves"  # a trial's pipeline ends here: evaluate, and the test set, are left out


def dvc(*args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    """A DVC command from this environment; its output captured unless `quiet` is False.
    A Ctrl-C reaches it too (it is in our process group): wait for it to finish stopping."""
    process = subprocess.Popen([sys.executable, "-m", "dvc", *args], text=True,
                               stdout=subprocess.PIPE if quiet else None,
                               stderr=subprocess.STDOUT if quiet else None)
    try:
        output, _ = process.communicate()
    except KeyboardInterrupt:
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, output or "")


def last_line(result: subprocess.CompletedProcess) -> str:
    """What a failed DVC command said last: its error, as a rule."""
    return (result.stdout.strip().splitlines() or ["no output"])[-1]


LOGS = Path(".dvc/tmp/search")  # each failed trial's output, in full (DVC's own scratch folder)


def run_trial(name: str, values: dict) -> tuple[dict | None, str]:
    """Run one trial as the experiment `name`: (its validation metrics, "") or (None, why
    it failed, in a line, and where its whole output is)."""
    overrides = [arg for key, value in values.items() for arg in ("-S", override(key, value))]
    result = dvc("exp", "run", "--name", name, *overrides, LAST_STAGE)
    if result.returncode != 0:
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"{name}.log").write_text(result.stdout)
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("error:", "ERROR:"))]
        return None, f"{(errors or lines or ['dvc exp run failed'])[-1]} ({LOGS}/{name}.log)"
    return json.loads(VALIDATION.read_text()), ""


def apply_and_evaluate(name: str) -> None:
    """Put experiment `name`'s params and outputs in the workspace, then evaluate its model
    on the test set, once: `dvc repro` finds only evaluate out of date."""
    for args in (("exp", "apply", name), ("repro",)):
        result = dvc(*args)
        # A tracked file that no stage reads (the IMDB archive's .dvc file, for a user with
        # data of their own) may be absent from the cache: `dvc exp apply` then says files
        # are missing, once it has applied the experiment; `dvc repro` restores the rest.
        missing = args[0] == "exp" and "missing-files" in result.stdout
        if result.returncode != 0 and not missing:
            raise StageError(f"`dvc {' '.join(args)}` failed: "
                             + last_line(result))


def git_remote_exists(remote: str) -> bool:
    return subprocess.run(["git", "remote", "get-url", remote], capture_output=True).returncode == 0


def is_local(name: str) -> bool:
    """Whether experiment `name` is in this clone (DVC keeps it under refs/exps/)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"],
                          capture_output=True, text=True).stdout.split()
    return any(ref.endswith(f"/{name}") for ref in refs)


def push(name: str, remote: str) -> None:
    """Experiment `name` to the git remote, its outputs to the DVC remote."""
    result = dvc("exp", "push", remote, name)
    if result.returncode != 0:
        raise StageError(f"`dvc exp push {remote} {name}` failed: "
                         + last_line(result))


def pull(name: str, remote: str) -> None:
    """Experiment `name`, run by another worker: its commit from the git remote, its
    outputs from the DVC remote; nothing is trained again."""
    result = dvc("exp", "pull", remote, name)
    if result.returncode != 0 or not is_local(name):
        raise StageError(f"the best trial, {name}, ran on another worker and `dvc exp pull "
                         f"{remote} {name}` could not bring it: "
                         + last_line(result))
