"""Compare DVC experiments: one row per configuration, mean ± spread over its training seeds.

Reads `dvc exp show --json` (the experiments of the current commit); a
configuration is what an experiment changed in params.yaml, train.seed aside.
Rows are sorted by validation accuracy, the only number to choose by: the
test set stays for the final report.

    python experiments/compare.py [--all]
"""

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict


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
    args = parser.parse_args()
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"],
                           capture_output=True, text=True, check=True)
    baseline = next(row for row in json.loads(shown.stdout) if row["rev"] != "workspace")
    defaults = flatten(baseline["data"]["params"]["params.yaml"]["data"])

    groups = defaultdict(list)
    for experiment in baseline.get("experiments") or []:
        run = experiment["revs"][0]
        if not run.get("data") or run["data"].get("status") not in (None, "Success"):
            continue
        params = flatten(run["data"]["params"]["params.yaml"]["data"])
        changed = [f"{k}={v}" for k, v in params.items()
                   if k != "train.seed" and defaults.get(k) != v]
        metrics = {name: m["data"] for name, m in run["data"]["metrics"].items()}
        groups[", ".join(changed) or "(params.yaml as committed)"].append(
            (run.get("name") or run["rev"][:7], params["train.seed"], metrics))

    rows = []
    for config, runs in groups.items():
        pick = lambda file, key: [m[file][key] for _, _, m in runs]
        rows.append((statistics.mean(pick("reports/train.json", "val_accuracy")), [
            config, str(len(runs)),
            summary(pick("reports/train.json", "val_accuracy")),
            summary(pick("reports/metrics.json", "accuracy")),
            summary(pick("reports/metrics.json", "loss")),
            "/".join(str(e) for e in sorted(set(pick("reports/train.json", "epochs"))))]))
    print("| configuration | seeds | val accuracy | test accuracy | test loss | epochs |")
    print("|---|---|---|---|---|---|")
    for _, row in sorted(rows, key=lambda r: -r[0]):
        print("| " + " | ".join(row) + " |")
    if args.all:
        for config, runs in groups.items():
            for name, seed, metrics in runs:
                print(f"{name}  seed {seed}  {config}: test accuracy "
                      f"{metrics['reports/metrics.json']['accuracy']}")


if __name__ == "__main__":
    main()
