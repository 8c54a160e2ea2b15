"""Search: try params on the validation reviews, and keep the best, evaluated once.

    make search TRIALS=20                  # python -m stages.search --trials 20

Each trial is a DVC experiment (`dvc exp run` up to the curves stage) with
values that Optuna's TPE sampler picks from search.yaml, seeded, knowing how
every earlier trial scored on the validation reviews (reports/train.json).
No trial reads the test set. At the end, the workspace holds the best trial's
params and outputs, and evaluate scores that one model on the test reviews:
commit it like any run. `dvc exp show` lists every trial.

The study lives in memory unless --storage names a database (a URL as
SQLAlchemy reads it: sqlite:///search.db, postgresql://user@host/db), where
a later search, or one on another machine, can go on with it.
"""

import argparse
import json
import time
from pathlib import Path

from stages.runner.command import run
from stages.runner.process import StageError
from stages.tuning.experiments import apply_and_evaluate, dvc, run_trial
from stages.tuning.space import Choices, Range, Space, load_space, override, suggest


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
    parser.add_argument("--trials", type=int, default=20, help="how many trials (default 20)")
    parser.add_argument("--space", type=Path, default=Path("search.yaml"))
    parser.add_argument("--study", default=time.strftime("search-%Y%m%d-%H%M%S"),
                        help="the study's name, also its experiments' (NAME-0, NAME-1, …)")
    parser.add_argument("--storage", help="a database URL for the study (default: memory)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    args = parser.parse_args()
    if args.trials < 1:
        raise StageError(f"--trials {args.trials}: run at least one trial")
    space = load_space(args.space)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=args.study, storage=args.storage,
                                    direction=space.direction, load_if_exists=True,
                                    sampler=optuna.samplers.TPESampler(seed=args.seed))
    except Exception as error:  # SQLAlchemy's and the drivers' many kinds
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StageError(f"cannot open the study in --storage {args.storage}: {reason}")
    before, start = snapshot(), time.monotonic()
    print(f"searching {len(space.params)} params of {args.space} for the best {space.metric} "
          f"on the validation reviews: {args.trials} trials of study {args.study}")
    try:
        for n in range(1, args.trials + 1):
            trial = study.ask()
            name = f"{args.study}-{trial.number}"
            trial.set_user_attr("experiment", name)
            values = suggest(trial, space)
            try:
                metrics, failure = run_trial(name, values)
            except KeyboardInterrupt:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
            if metrics is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                print(f"{n:>3}/{args.trials}  failed: {failure}  {elapsed}  "
                      f"{describe(values, space)}", flush=True)
                continue
            study.tell(trial, metrics[space.metric])
            best = study.best_trial
            print(f"{n:>3}/{args.trials}  {space.metric} {metrics[space.metric]:.4f}  best "
                  f"{best.value:.4f} ({best.user_attrs['experiment']})  {elapsed}  "
                  f"{describe(values, space)}", flush=True)
    except KeyboardInterrupt:
        if not finished(study):
            restore(before)
            raise StageError("stopped before any trial finished: the workspace is as it was")
        best = study.best_trial.user_attrs["experiment"]
        apply_and_evaluate(best)
        raise StageError(f"stopped: the workspace holds the best trial so far, {best}, "
                         "evaluated on the test set")
    if not finished(study):
        restore(before)
        raise StageError("every trial failed (each one's reason is above): the workspace is "
                         "as it was; check search.yaml's ranges against your data")
    best = study.best_trial
    apply_and_evaluate(best.user_attrs["experiment"])
    test = json.loads(Path("reports/metrics.json").read_text())
    print(f"best: {best.user_attrs['experiment']}, {space.metric} {best.value:.4f}; on the "
          f"test set: accuracy {test['accuracy']}, balanced accuracy "
          f"{test['balanced_accuracy']} (always guessing the larger class: "
          f"{test['majority_accuracy']})")
    print("the workspace holds its params.yaml and outputs: commit them to keep it "
          "(`dvc exp show --sort-by " + space.metric + "` lists every trial)")


def finished(study) -> bool:
    import optuna
    return any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


if __name__ == "__main__":
    run(main)
