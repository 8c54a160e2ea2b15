"""Whether a file is the one dvc.lock names: a model that a stray process, a hand edit or a
damaged copy changed would otherwise be used without a word.

DVC checks outputs only when asked (`dvc status`); predict and evaluate ask
here, at the cost of one md5 of the model file (benchmarks/README.md).
"""

import hashlib
import sys
from pathlib import Path

import yaml

LOCK_FILE = Path("dvc.lock")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where installed: faster


def locked_md5(path: Path, lock: Path = LOCK_FILE) -> str | None:
    """The md5 that dvc.lock records for the output `path`, or None if it records none."""
    try:
        stages = yaml.load(lock.read_text(), Loader=SAFE_LOADER)["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    for stage in stages.values():
        for out in stage.get("outs", []):
            if Path(out["path"]) == Path(path):
                return out.get("md5")
    return None


def file_md5(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()


def warn_if_not_locked(path: Path, lock: Path = LOCK_FILE) -> None:
    """One line on stderr when `path` differs from what dvc.lock names; the caller goes on
    (a model being compared, or trained by hand, is no error)."""
    expected = locked_md5(path, lock)
    if expected is not None and (actual := file_md5(path)) != expected:
        print(f"warning: {path} is not the one dvc.lock names (md5 {actual[:8]}…, dvc.lock "
              f"{expected[:8]}…): `dvc status` says what changed, `dvc checkout {path}` puts "
              "back the committed one", file=sys.stderr)
