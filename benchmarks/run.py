"""Benchmark: the notebook as one script against a cold `dvc repro`, side by side.

Alternates, round after round, the seed-faithful baseline (baseline.py), a
cold `dvc repro` of the pipeline at the same params (fresh repository, empty
DVC cache, the archive in place and recorded with `dvc add`), and a cold `dvc repro`
with the n-gram encoding (`vectorize.ngrams: 2, num_words: 100000`). Then,
on the last pipelines: every stage on its own, a no-op `dvc repro`, the
rerun after a `train.epochs` change, and the artifacts' sizes. Prints
Markdown tables.

    python benchmarks/run.py [--rounds 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ENV = dict(os.environ, DVC_NO_ANALYTICS="1",
           PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def measure(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB of the largest process in the tree, and output.

    os.wait4 reports the child's usage including every descendant it waited
    for, and ru_maxrss of that is the largest single process's peak.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{output}")
    return wall, usage.ru_maxrss / 1024, output


NGRAMS = {"ngrams": 2, "num_words": 100_000}  # vectorize's params for the n-gram runs


def fresh_pipeline(archive: Path, vectorize: dict) -> Path:
    """A new repository holding the pipeline, with an empty DVC cache."""
    repo = Path(tempfile.mkdtemp(prefix="imdb-bench-"))
    for name in ("stages", "dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, repo / name)
    if vectorize:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["vectorize"] |= vectorize
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dataset = yaml.safe_load((repo / "params.yaml").read_text())["load"]["path"]
    (repo / dataset).parent.mkdir(parents=True)
    shutil.copy(archive, repo / dataset)
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                 [sys.executable, "-m", "dvc", "add", "-q", dataset]):
        subprocess.run(args, cwd=repo, env=ENV, check=True)
    return repo


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--archive", type=Path, default=SHARED / "aclImdb_train_test.tar.gz")
    parser.add_argument("--word-index", type=Path, default=SHARED / "imdb_word_index.json")
    args = parser.parse_args()
    dvc = [sys.executable, "-m", "dvc"]

    rounds, repos = [], {}
    for i in range(args.rounds):
        wall, peak, out = measure([sys.executable, "benchmarks/baseline.py", str(args.archive),
                                   str(args.word_index), "--json"], ROOT)
        runs = [{"wall": wall, "peak": peak,
                 "accuracy": json.loads(out.splitlines()[-1])["accuracy"]}]
        for name, vectorize in (("defaults", {}), ("n-grams", NGRAMS)):
            if name in repos:
                shutil.rmtree(repos[name])
            repo = repos[name] = fresh_pipeline(args.archive, vectorize)
            wall, peak, _ = measure(dvc + ["repro"], repo)
            accuracy = json.loads((repo / "reports/metrics.json").read_text())["accuracy"]
            runs.append({"wall": wall, "peak": peak, "accuracy": accuracy})
        rounds.append(runs)
        print(f"round {i + 1}: baseline {runs[0]['wall']:.1f} s, pipeline {runs[1]['wall']:.1f} s, "
              f"n-gram pipeline {runs[2]['wall']:.1f} s", flush=True)

    def row(label, runs):
        b, p, n = runs
        return [label, f"{b['wall']:.1f}", f"{p['wall']:.1f}", f"{p['wall'] / b['wall']:.2f}",
                f"{n['wall']:.1f}", f"{n['wall'] / p['wall']:.2f}",
                f"{b['peak']:,.0f}", f"{p['peak']:,.0f}", f"{n['peak']:,.0f}",
                f"{b['accuracy']:.4f}", f"{p['accuracy']:.4f}", f"{n['accuracy']:.4f}"]

    median = [{key: statistics.median(r[side][key] for r in rounds) for key in rounds[0][side]}
              for side in range(3)]
    def ratio(a, b):
        return statistics.median(r[a]["wall"] / r[b]["wall"] for r in rounds)
    last = row("median", median)
    last[3], last[5] = f"{ratio(1, 0):.2f}", f"{ratio(2, 1):.2f}"  # medians of the ratios
    print("\n" + table(["round", "baseline s", "dvc repro s", "÷ baseline", "n-gram dvc repro s",
                        "÷ dvc repro", "baseline peak MB", "pipeline peak MB", "n-gram peak MB",
                        "baseline accuracy", "pipeline accuracy", "n-gram accuracy"],
                       [row(i + 1, r) for i, r in enumerate(rounds)] + [last]))

    repo = repos["defaults"]
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]

    def command(repo: Path, stage: str) -> list[str]:  # as run: dvc.lock has `${…}` filled in
        return yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["cmd"].split()

    own = {name: [measure(command(repos[kind], name), repos[kind])[:2] for kind in repos]
           for name in stages}
    print("\n" + table(["stage", "wall s", "peak MB", "n-gram wall s", "n-gram peak MB"],
                       [[n, f"{d[0]:.2f}", f"{d[1]:,.0f}", f"{g[0]:.2f}", f"{g[1]:,.0f}"]
                        for n, (d, g) in own.items()]))

    noop = statistics.median(measure(dvc + ["repro"], repo)[0] for _ in range(3))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["epochs"] += 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = measure(dvc + ["repro"], repo)[0]
    direct = sum(measure(command(repo, s), repo)[0] for s in ("train", "curves", "evaluate"))
    print("\n" + table(["dvc repro", "wall s"], [
        ["no-op (median of 3)", f"{noop:.2f}"],
        [f"after train.epochs → {params['train']['epochs']}", f"{rerun:.2f}"],
        ["  train, curves and evaluate run directly at that setting", f"{direct:.2f}"],
        ["  DVC's overhead", f"{rerun - direct:.2f}"]]))

    outs = [next(iter(o)) if isinstance(o, dict) else o for s in stages.values()
            for kind in ("outs", "plots", "metrics") for o in s.get(kind, [])]
    print("\n" + table(["artifact", "bytes", "n-gram bytes"],
                       [[o, f"{(repo / o).stat().st_size:,}",
                         f"{(repos['n-grams'] / o).stat().st_size:,}"] for o in outs]))
    for repo in repos.values():
        shutil.rmtree(repo)


if __name__ == "__main__":
    main()
