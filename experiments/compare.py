"""Compare DVC experiments: one row per configuration, mean ± spread over its training seeds.

Reads the experiments of the current commit through DVC's Python API
(`dvc.api.exp_show`, then `params_show` and `metrics_show` for each); a
configuration is what an experiment changed in params.yaml, train.seed aside.
Rows are sorted by validation accuracy, the only number to choose by: the
test set stays for the final report.

    python experiments/compare.py [--all] [--seconds encodings-seconds.csv]

With --seconds, a CSV of (experiment, seconds) as encodings.sh writes it adds
the mean wall time of a configuration's runs.
"""

import argparse
import csv
import statistics
from collections import defaultdict

import dvc.api


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def summary(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every experiment too")
    parser.add_argument("--seconds", type=argparse.FileType(), help="CSV: experiment,seconds")
    args = parser.parse_args()
    seconds = {} if args.seconds is None else {
        row["experiment"]: float(row["seconds"]) for row in csv.DictReader(args.seconds)}
    rows = dvc.api.exp_show()
    baseline = next(row for row in rows if row["typ"] == "baseline" and row["rev"] != "workspace")
    defaults = flatten(dvc.api.params_show(rev=baseline["rev"]))

    groups = defaultdict(list)
    for row in rows:
        if row["typ"] == "baseline" or row["State"] not in (None, "Success"):
            continue  # the commit itself, or an experiment queued, running or failed
        name = row["Experiment"] or row["rev"]
        if seconds and name not in seconds:
            continue  # not one of the timed runs
        params = flatten(dvc.api.params_show(rev=row["rev"]))
        changed = tuple(f"{k}={v}" for k, v in params.items()
                        if k != "train.seed" and defaults.get(k) != v)
        groups[changed].append((name, params["train.seed"], dvc.api.metrics_show(rev=row["rev"])))
    # What every configuration changes is said once, above the table.
    shared = set.intersection(*map(set, groups)) if len(groups) > 1 else set()
    if shared:
        print("Every row also sets " + ", ".join(c for c in next(iter(groups)) if c in shared)
              + ":\n")
    groups = {", ".join(c for c in changed if c not in shared) or "(params.yaml as committed)":
              runs for changed, runs in groups.items()}

    def pick(runs, key):
        return [metrics[key] for _, _, metrics in runs]

    table = []
    for config, runs in groups.items():
        row = [config, str(len(runs)), summary(pick(runs, "val_accuracy")),
               summary(pick(runs, "accuracy")), summary(pick(runs, "loss")),
               "/".join(str(e) for e in sorted(set(pick(runs, "epochs"))))]
        if seconds:
            row.append(f"{statistics.mean(seconds[name] for name, _, _ in runs):.0f}")
        table.append((statistics.mean(pick(runs, "val_accuracy")), row))
    header = ["configuration", "seeds", "val accuracy", "test accuracy", "test loss", "epochs"]
    header += ["seconds per run"] if seconds else []
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for _, row in sorted(table, key=lambda r: -r[0]):
        print("| " + " | ".join(row) + " |")
    if args.all:
        for config, runs in groups.items():
            for name, seed, metrics in runs:
                print(f"{name}  seed {seed}  {config}: test accuracy {metrics['accuracy']}")


if __name__ == "__main__":
    main()
