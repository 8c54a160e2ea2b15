"""Verify cache: find the objects of DVC's local cache whose bytes no longer match their name.

    python -m stages.verify_cache            # list the damaged objects
    python -m stages.verify_cache --remove   # and remove them

DVC names each object in its cache by the md5 of its bytes, and trusts that
name: an object damaged on disk (a failing drive, a stray write) is checked
out again as if sound, `dvc status` still says "up to date", and even a
rebuilt output ends as the damaged copy, since its md5 names an object DVC
already has. DVC 3.67 has no command that rehashes its cache (`dvc cache`
offers `dir` and `migrate`; a remote's `verify` option covers downloads
only), so this one does. Once a damaged object is removed, `dvc pull`
fetches it again from a remote, or `dvc repro --force STAGE` rebuilds it;
`dvc checkout` then puts the sound copy back in the workspace.
"""

import argparse
from pathlib import Path

from stages.runner.command import run
from stages.runner.dvc_lock import file_md5
from stages.runner.process import StageError


def damaged_objects(cache: Path) -> list[Path]:
    """Every object under `cache` (`files/md5/ab/cdef…`, a folder's listing ending in `.dir`)
    whose md5 is not its name."""
    damaged = []
    for path in sorted(cache.glob("??/*")):
        name = path.parent.name + path.name.removesuffix(".dir")
        if path.is_file() and len(name) == 32 and file_md5(path) != name:
            damaged.append(path)
    return damaged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remove", action="store_true", help="remove the damaged objects")
    args = parser.parse_args()
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            cache = Path(repo.cache.local.path)
    except NotDvcRepoError:
        raise StageError("no DVC repository here: run it from the project's root")
    damaged = damaged_objects(cache)
    for path in damaged:
        if args.remove:
            path.unlink()
        print(f"{'removed' if args.remove else 'damaged'}: {path}")
    if damaged and not args.remove:
        raise StageError(f"{len(damaged)} damaged object(s) in {cache}: remove them with "
                         "`python -m stages.verify_cache --remove`, then `dvc pull` or "
                         "`dvc repro --force STAGE`, and `dvc checkout`")
    print(f"{cache}: " + (f"{len(damaged)} damaged object(s) removed; `dvc pull` or `dvc repro "
                          "--force STAGE` brings them back, `dvc checkout` restores the workspace"
                          if damaged else "every object matches its md5"))


if __name__ == "__main__":
    run(main)
