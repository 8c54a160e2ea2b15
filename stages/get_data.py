"""Put the dataset where the load stage reads it (`load.path`), recorded by DVC.

    python -m stages.get_data [--url URL]

Not a stage: it gets the pipeline's input, in the first way that works (for a
`csv` or `folder` source of your own, only 1 and 3, for `load.path` and `load.test_path`):
1. The file is there already (copied by hand): `dvc add` records it and puts it in
   DVC's cache, so that `dvc push` shares it and experiments in temporary
   workspaces find it. The same archive as the committed `.dvc` file changes
   nothing; another one (the official archive where the commit has the
   train/test-only one, say) rewrites the `.dvc` file: commit it.
2. An IMDB archive lies beside it under its own name (`aclImdb_v1.tar.gz` or
   `aclImdb_train_test.tar.gz`, as they are downloaded):
   it is moved into place, then as 1.
3. A DVC remote has it: `dvc pull`.
4. Otherwise `dvc import-url` downloads the official archive (or `--url`, or
   `$IMDB_ARCHIVE_URL`, a mirror) and records its address in the `.dvc` file;
   `dvc update` checks the address again later.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from stages.load import SCHEMA
from stages.reviews.imdb import ARCHIVES
from stages.runner.command import run
from stages.runner.params import load_params
from stages.runner.process import StageError

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def dvc(*args: str, quiet: bool = False) -> bool:
    """Run a DVC command from this environment; True if it succeeded."""
    output = subprocess.DEVNULL if quiet else None
    return subprocess.run([sys.executable, "-m", "dvc", *args], stdout=output,
                          stderr=output).returncode == 0


def record(path: Path) -> None:
    if not dvc("add", "--quiet", str(path)):
        raise StageError(f"`dvc add {path}` failed (its error is above)")
    changed = subprocess.run(["git", "status", "--porcelain", "--", f"{path}.dvc"],
                             capture_output=True, text=True).stdout.strip()
    print(f"{path} is in place and in DVC's cache"
          + (f"; {path}.dvc now records this copy: commit it" if changed else ""))


def get_own(path: Path) -> None:
    """Your own data (a csv or folder source): recorded if it is there, else pulled."""
    if path.exists():
        record(path)
    elif Path(f"{path}.dvc").is_file() and dvc("pull", "--quiet", f"{path}.dvc", quiet=True):
        print(f"{path} pulled from the DVC remote")
    else:
        raise StageError(f"{path} not found: put your data there (README: \"Your own data\") "
                         "or set load.path and load.test_path to where it is")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("IMDB_ARCHIVE_URL", OFFICIAL_URL),
                        help="where to download the archive from (default: the official one)")
    args = parser.parse_args()
    params = load_params("load", SCHEMA)
    if params["source"] == "keras":
        print("load.source is keras: Keras downloads its own copy, nothing to get")
        return
    path = Path(params["path"])
    if params["source"] != "aclimdb":
        for own in dict.fromkeys((path, Path(params["test_path"]))):
            get_own(own)
        return

    if not path.exists() and params["source"] == "aclimdb":
        for name in ARCHIVES:
            if (path.parent / name).is_file() and path.suffixes[-2:] == [".tar", ".gz"]:
                print(f"moving {path.parent / name} to {path}")
                os.replace(path.parent / name, path)
                break
    if path.exists():
        record(path)
        return
    if Path(f"{path}.dvc").is_file() and dvc("pull", "--quiet", f"{path}.dvc", quiet=True):
        print(f"{path} pulled from the DVC remote")
        return

    print(f"downloading {args.url}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not dvc("import-url", "--force", args.url, str(path)):
        raise StageError(
            f"could not download {args.url} (DVC's message is above). Offline? Put "
            f"aclImdb_v1.tar.gz or aclImdb_train_test.tar.gz at {path} and run "
            "`python -m stages.get_data` again, or `dvc pull` from a remote that has it")
    print(f"{path} downloaded; {path}.dvc records its address: commit it")


if __name__ == "__main__":
    run(main)
