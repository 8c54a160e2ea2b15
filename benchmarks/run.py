"""Benchmark: the notebook as one script against a cold `dvc repro`, side by side.

Alternates, round after round, the seed-faithful baseline (baseline.py) and a
cold `dvc repro` of the pipeline at the same params (fresh repository, empty
DVC cache, the archive already in data/external/). Then, on the last
pipeline: every stage on its own, a no-op `dvc repro`, the rerun after a
`train.epochs` change, and the artifacts' sizes. Prints Markdown tables.

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


def fresh_pipeline(archive: Path) -> Path:
    """A new repository holding the pipeline, with an empty DVC cache."""
    repo = Path(tempfile.mkdtemp(prefix="imdb-bench-"))
    for name in ("stages", "dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, repo / name)
    (repo / "data" / "external").mkdir(parents=True)
    shutil.copy(archive, repo / "data" / "external" / archive.name)
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
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

    rounds, repo = [], None
    for i in range(args.rounds):
        wall, peak, out = measure([sys.executable, "benchmarks/baseline.py", str(args.archive),
                                   str(args.word_index), "--json"], ROOT)
        base = {"wall": wall, "peak": peak, "accuracy": json.loads(out.splitlines()[-1])["accuracy"]}
        if repo:
            shutil.rmtree(repo)
        repo = fresh_pipeline(args.archive)
        wall, peak, _ = measure(dvc + ["repro"], repo)
        accuracy = json.loads((repo / "reports/metrics.json").read_text())["accuracy"]
        rounds.append((base, {"wall": wall, "peak": peak, "accuracy": accuracy}))
        print(f"round {i + 1}: baseline {base['wall']:.1f} s, pipeline {wall:.1f} s", flush=True)

    rows = [[i + 1, f"{b['wall']:.1f}", f"{p['wall']:.1f}", f"{p['wall'] / b['wall']:.2f}",
             f"{b['peak']:,.0f}", f"{p['peak']:,.0f}", f"{b['accuracy']:.4f}", f"{p['accuracy']:.4f}"]
            for i, (b, p) in enumerate(rounds)]
    median = lambda key, side: statistics.median(r[side][key] for r in rounds)
    rows.append(["median", f"{median('wall', 0):.1f}", f"{median('wall', 1):.1f}",
                 f"{statistics.median(p['wall'] / b['wall'] for b, p in rounds):.2f}",
                 f"{median('peak', 0):,.0f}", f"{median('peak', 1):,.0f}",
                 f"{median('accuracy', 0):.4f}", f"{median('accuracy', 1):.4f}"])
    print("\n" + table(["round", "baseline s", "dvc repro s", "ratio", "baseline peak MB",
                        "pipeline peak MB", "baseline accuracy", "pipeline accuracy"], rows))

    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    own = {}
    for name, stage in stages.items():
        own[name] = measure(stage["cmd"].split(), repo)[:2]
    print("\n" + table(["stage", "wall s", "peak MB"],
                       [[n, f"{w:.2f}", f"{m:,.0f}"] for n, (w, m) in own.items()]))

    noop = statistics.median(measure(dvc + ["repro"], repo)[0] for _ in range(3))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["epochs"] += 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = measure(dvc + ["repro"], repo)[0]
    direct = sum(measure(stages[s]["cmd"].split(), repo)[0] for s in ("train", "evaluate"))
    print("\n" + table(["dvc repro", "wall s"], [
        ["no-op (median of 3)", f"{noop:.2f}"],
        [f"after train.epochs → {params['train']['epochs']}", f"{rerun:.2f}"],
        ["  train + evaluate run directly at that setting", f"{direct:.2f}"],
        ["  DVC's overhead", f"{rerun - direct:.2f}"]]))

    outs = [next(iter(o)) if isinstance(o, dict) else o for s in stages.values()
            for kind in ("outs", "plots", "metrics") for o in s.get(kind, [])]
    print("\n" + table(["artifact", "bytes"], [[o, f"{(repo / o).stat().st_size:,}"] for o in outs]))
    shutil.rmtree(repo)


if __name__ == "__main__":
    main()
