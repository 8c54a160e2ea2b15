"""Benchmark: each stage's time and peak memory as the corpus grows to K times IMDB.

Builds, in a temporary folder, an aclImdb-layout corpus of the IMDB reviews
repeated K times (each copy under new review ids, as hard links: no review is
written twice), and runs every stage of dvc.yaml on it, alone, through the
project's `folder` source, with the default params otherwise. Prints a
Markdown table: wall seconds and peak MB per stage, for each K.

    python benchmarks/scale.py [--scales 1 4 8]      # `make benchmark-scale`
"""

import argparse
import os
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml
from run import ROOT, SHARED, measure, table

REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")


def extract(archive: Path, folder: Path) -> Path:
    """The labelled reviews of the archive, as an aclImdb/ folder."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar if m.isfile() and REVIEW.fullmatch(m.name)]
        tar.extractall(folder, members=members, filter="data")
    return folder / "aclImdb"


def repeat(source: Path, folder: Path, copies: int) -> Path:
    """`source` (an aclImdb/) `copies` times over, in `folder`: copy c of review id i is
    review id i + c × 1,000,000, a hard link to the same file."""
    for path in source.glob("*/*/*.txt"):
        review_id, rating = path.stem.split("_")
        target = folder / path.parent.relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for copy in range(copies):
            os.link(path, target / f"{int(review_id) + copy * 1_000_000}_{rating}.txt")
    return folder


def pipeline(corpus: Path) -> Path:
    """A folder with the stages and params.yaml reading `corpus` through the folder source."""
    repo = Path(tempfile.mkdtemp(prefix="imdb-scale-"))
    shutil.copytree(ROOT / "stages", repo / "stages")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["load"] |= {"source": "folder", "path": str(corpus), "test_path": str(corpus)}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def commands(repo: Path) -> dict[str, list[str]]:
    """Each stage's command from dvc.yaml, its `${…}` filled in from params.yaml."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def fill(match: re.Match) -> str:
        return str(params[match[1]][match[2]])

    return {name: re.sub(r"\$\{(\w+)\.(\w+)\}", fill, stage["cmd"]).split()
            for name, stage in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--archive", type=Path, default=SHARED / "aclImdb_train_test.tar.gz")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="imdb-corpus-") as tmp:
        source = extract(args.archive, Path(tmp) / "source")
        for k in args.scales:
            corpus = repeat(source, Path(tmp) / f"x{k}" / "aclImdb", k)
            repo = pipeline(corpus)
            results[k] = {}
            for stage, command in commands(repo).items():
                wall, peak, _ = measure([sys.executable if c == "python" else c for c in command],
                                        repo)
                results[k][stage] = (wall, peak)
            print(f"K={k} ({50_000 * k:,} reviews): " + ", ".join(
                f"{s} {w:.1f} s {p:,.0f} MB" for s, (w, p) in results[k].items()), flush=True)
            shutil.rmtree(repo)
            shutil.rmtree(corpus.parent)

    stages = list(next(iter(results.values())))
    print("\n" + table(["K (reviews)"] + stages,
                       [[f"{k} ({50_000 * k:,})"] + [f"{w:.1f} s, {p:,.0f} MB"
                                                     for w, p in results[k].values()]
                        for k in results]))
    if 1 in results and len(results) > 1:
        top = max(results)
        print("\n" + table(["stage", f"time ×{top} ÷ time ×1", f"peak ×{top} − peak ×1 MB"],
                           [[s, f"{results[top][s][0] / results[1][s][0]:.1f}",
                             f"{results[top][s][1] - results[1][s][1]:,.0f}"] for s in stages]))


if __name__ == "__main__":
    main()
