"""Search: try params on the validation reviews, and keep the best, evaluated once.

    make search TRIALS=20                  # python -m stages.search --trials 20

Each trial is a DVC experiment (`dvc exp run` up to the curves stage) with
values that Optuna's TPE sampler picks from search.yaml, seeded, knowing how
every earlier trial scored on the validation reviews (reports/train.json).
No trial reads the test set. At the end, the workspace holds the best trial's
params and outputs, and evaluate scores that one model on the test reviews:
commit it like any run. `dvc exp show` lists every trial.

The study lives in memory unless --storage names a database (a URL as
SQLAlchemy reads it: sqlite:///search.db, postgresql://user@host/db). Then
several workers, in clones of one commit on any machines, share it:

    make search TRIALS=40 STUDY=wide STORAGE=postgresql://me@db.lan/optuna   # on each

Optuna hands each worker its next values knowing every finished trial; each
worker pushes its finished trials (`dvc exp push origin`), and at the end every
worker pulls the study's best trial, wherever it ran, and evaluates it.
"""

import argparse
import json
import time
from pathlib import Path

from stages.runner.command import run
from stages.runner.process import StageError
from stages.tuning.experiments import (
    apply_and_evaluate,
    dvc,
    git_remote_exists,
    is_local,
    pull,
    push,
    run_trial,
)
from stages.tuning.space import Choices, Range, Space, load_space, override, suggest
from stages.tuning.study import (
    DatabaseLost,
    Heartbeat,
    baseline,
    database_errors,
    join,
    next_step,
    open_study,
    reason,
    running_elsewhere,
    sampler_for,
    shown,
    slot,
    wait,
    worker,
)


def describe(values: dict, space: Space) -> str:
    """The values a trial tried, of the params the space lets vary, as `-S` takes them."""
    return " ".join(override(key, value) for key, value in values.items()
                    if not fixed(space.params[key]))


def fixed(spec) -> bool:
    return not isinstance(spec, (Choices, Range))


def snapshot() -> dict[Path, bytes]:
    """What a stopped search puts back when no trial has finished: the git-kept files a
    trial changes (DVC's own outputs come back with `dvc checkout`)."""
    files = [Path("params.yaml"), Path("dvc.lock"), *Path("reports").rglob("*")]
    return {path: path.read_bytes() for path in files if path.is_file()}


def restore(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        path.write_bytes(data)
    dvc("checkout", "--force")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20,
                        help="how many trials the study holds at the end (default 20)")
    parser.add_argument("--space", type=Path, default=Path("search.yaml"))
    parser.add_argument("--study", default=time.strftime("search-%Y%m%d-%H%M%S"),
                        help="the study's name, also its experiments' (NAME-0, NAME-1, …)")
    parser.add_argument("--storage", help="a database URL for the study (default: memory)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    parser.add_argument("--git-remote", default="origin",
                        help="where a shared study's trials are pushed (default origin)")
    parser.add_argument("--heartbeat", type=int, default=60, help="seconds between a shared "
                        "trial's heartbeats; a trial silent for two is failed (default 60)")
    args = parser.parse_args()
    if args.trials < 1:
        raise StageError(f"--trials {args.trials}: run at least one trial")
    space = load_space(args.space)
    shared = args.storage is not None
    study = open_study(args.study, args.storage, space.direction, args.seed, args.heartbeat)
    remote = args.git_remote if shared and git_remote_exists(args.git_remote) else None
    before, start, pushed = snapshot(), time.monotonic(), []
    print(f"searching {len(space.params)} params of {args.space} for the best {space.metric} "
          f"on the validation reviews: {args.trials} trials of study {args.study}, kept in "
          f"{shown(args.storage)}")
    if shared:
        print(f"each finished trial is pushed to {remote} (dvc exp push)" if remote else
              f"no git remote {args.git_remote!r}: the trials stay in this clone")
    try:
        join(study, baseline(args.space))
        waiting_for = None
        while (step := next_step(study, args.trials)) != "done":
            if step == "wait":
                if waiting_for != (running := running_elsewhere(study)):
                    print(f"waiting for trial(s) {running} of other workers", flush=True)
                    waiting_for = running
                wait(args.heartbeat)
                continue
            run_one(study, space, args, remote, start, pushed)
    except KeyboardInterrupt:
        if not finished(study):
            restore(before)
            raise StageError("stopped before any trial finished: the workspace is as it was")
        best = study.best_trial.user_attrs["experiment"]
        apply_best(best, remote)
        raise StageError(f"stopped: the workspace holds the best trial so far, {best}, "
                         "evaluated on the test set")
    except database_errors() + (DatabaseLost,) as error:
        restore(before)
        raise StageError(f"lost the study's database, {shown(args.storage)}: {reason(error)}. "
                         f"The workspace is as it was; this worker's finished trials are on "
                         f"{remote or 'this clone'}: {', '.join(pushed) or 'none'}. The same "
                         "command goes on with the study once the database answers")
    if not finished(study):
        restore(before)
        raise StageError("every trial failed (each one's reason is above): the workspace is "
                         "as it was; check search.yaml's ranges against your data")
    best = study.best_trial
    apply_best(best.user_attrs["experiment"], remote)
    test = json.loads(Path("reports/metrics.json").read_text())
    print(f"best: {best.user_attrs['experiment']}, {space.metric} {best.value:.4f}; on the "
          f"test set: accuracy {test['accuracy']}, balanced accuracy "
          f"{test['balanced_accuracy']} (always guessing the larger class: "
          f"{test['majority_accuracy']})")
    print("the workspace holds its params.yaml and outputs: commit them to keep it "
          "(`dvc exp show --sort-by " + space.metric + "` lists every trial)")


def run_one(study, space: Space, args, remote: str | None, start: float,
            pushed: list[str]) -> None:
    """Ask the study for values, run them as an experiment, push it (when the study is
    shared; its name then joins `pushed`) and tell the study its score."""
    import optuna

    trial = study.ask()
    if args.storage:
        study.sampler = sampler_for(trial, args.seed)
    name = f"{args.study}-{trial.number}"
    trial.set_user_attr("experiment", name)
    trial.set_user_attr("worker", worker())
    values = suggest(trial, space)
    try:
        with Heartbeat(study, trial, args.heartbeat if args.storage else None) as heartbeat:
            metrics, failure = run_trial(name, values)
        if heartbeat.error is not None:  # the study cannot hear of this trial
            raise DatabaseLost(reason(heartbeat.error))
        if metrics is not None and remote:
            push(name, remote)  # before the study hears of it: others may pull it at once
            pushed.append(name)
    except (KeyboardInterrupt, StageError):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
    place, again = slot(study, trial)
    line = f"{place:>3}/{args.trials}  " + ("again, its first worker gone: " if again else "")
    try:
        if metrics is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            line += f"failed: {failure}"
        else:
            study.tell(trial, metrics[space.metric])
            best = study.best_trial
            line += (f"{space.metric} {metrics[space.metric]:.4f}  best {best.value:.4f} "
                     f"({best.user_attrs['experiment']})")
    except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale by another worker
        line += ("not counted: its heartbeat came late, and another worker gave it up "
                 "and runs its values again")
    print(f"{line}  {elapsed}  {describe(values, space)}", flush=True)


def apply_best(name: str, remote: str | None) -> None:
    """The best trial in the workspace, evaluated: pulled first if another worker ran it."""
    if not is_local(name):
        if remote is None:
            raise StageError(f"the best trial, {name}, ran on another worker, and this clone "
                             "has no git remote to pull it from (--git-remote)")
        pull(name, remote)
        print(f"pulled {name} from {remote}: another worker ran it")
    apply_and_evaluate(name)


def finished(study) -> bool:
    import optuna
    return any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


if __name__ == "__main__":
    run(main)
