"""A shared search on IMDB: the same number of trials run by one worker, then by two at
once, each against a study of its own in one PostgreSQL server (started here, as the tests
start theirs). Every worker is a fresh clone of this commit with its own DVC cache; the
clones share a bare git remote and a folder DVC remote, as machines would.

    python benchmarks/search_workers.py [--trials 8]

Prints each search's wall time and which worker ran which trials. Needs PostgreSQL's server
programs (Debian: postgresql) and this commit's outputs in this clone's DVC cache (`make
repro` once): the clones start from them, as a teammate's clone starts from `dvc pull`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import PostgresServer  # noqa: E402  (the tests' PostgreSQL, started the same way)

ENV = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    "DVC_NO_ANALYTICS": "1"}


def run(*args, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, env=ENV, check=True, text=True,
                          capture_output=True).stdout


def clone(origin: Path, path: Path, storage: Path, seed_from: Path | None = None) -> Path:
    """A fresh clone whose remote `storage` is the shared folder, its outputs pulled."""
    run("git", "clone", "-q", str(origin), str(path), cwd=origin.parent)
    run("git", "config", "user.email", "worker@example.com", cwd=path)
    run("git", "config", "user.name", path.name, cwd=path)
    run(sys.executable, "-m", "dvc", "remote", "modify", "--local", "storage", "url",
        str(storage), cwd=path)
    if seed_from:  # the first clone fills the shared remote from this clone's cache
        run(sys.executable, "-m", "dvc", "remote", "add", "--local", "seed", str(seed_from),
            cwd=path)
        run(sys.executable, "-m", "dvc", "pull", "-q", "-r", "seed", cwd=path)
        run(sys.executable, "-m", "dvc", "push", "-q", cwd=path)
    else:
        run(sys.executable, "-m", "dvc", "pull", "-q", cwd=path)
    return path


def search(workers: list[Path], study: str, storage: str, trials: int) -> float:
    """Start every worker at once; the wall time until the last one has applied the best."""
    start = time.monotonic()
    running = [subprocess.Popen(
        [sys.executable, "-m", "stages.search", "--trials", str(trials), "--study", study,
         "--storage", storage], cwd=path, env=ENV, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT) for path in workers]
    outputs = [process.communicate()[0] for process in running]
    wall = time.monotonic() - start
    for path, process, output in zip(workers, running, outputs):
        if process.returncode != 0:
            raise SystemExit(f"{path.name} failed:\n{output}")
        lines = [line for line in output.splitlines()
                 if line.lstrip()[:1].isdigit() or line.startswith(("best:", "pulled"))]
        print(f"  {path.name}:\n    " + "\n    ".join(lines))
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    if run("git", "status", "--porcelain", "--untracked-files=no", cwd=ROOT).strip():
        raise SystemExit("commit your changes first: the workers are clones of HEAD")
    with tempfile.TemporaryDirectory(prefix="search-workers-") as tmp:
        tmp = Path(tmp)
        origin, storage = tmp / "origin.git", tmp / "dvc-storage"
        run("git", "clone", "-q", "--bare", str(ROOT), str(origin), cwd=tmp)
        db = PostgresServer(tmp / "postgres").start()
        try:
            print(f"{args.trials} IMDB trials of search.yaml, on {os.cpu_count()} cores")
            walls = {}
            for count in (1, 2):
                workers = [clone(origin, tmp / f"{count}-worker-{n}", storage,
                                 ROOT / ".dvc/cache" if not storage.exists() else None)
                           for n in range(1, count + 1)]
                print(f"{count} worker(s):")
                walls[count] = search(workers, f"workers-{count}", db.url, args.trials)
                print(f"  wall time {walls[count]:.0f} s")
            print(f"two workers / one worker: {walls[2] / walls[1]:.2f}")
        finally:
            db.remove()


if __name__ == "__main__":
    main()
