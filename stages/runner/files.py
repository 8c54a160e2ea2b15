"""Writing outputs so that DVC never takes a half-written file for a result, and the same
content always gives the same bytes (and so the same DVC hash).

Every output goes through `atomic_output`: written to a temporary name beside
it (`.NAME.tmpPID.SUFFIX`), renamed into place once complete. While a stage
runs (`written_together`, which stages.runner.command.run opens), the renames
wait until the stage has succeeded: a stage that fails, is stopped, or finds
the disk full replaces none of its earlier outputs, git-kept reports included.
The npz files are written by `save_arrays`, whose zip entries carry a fixed
date (np.savez stamps the current time), and `FixedZip` does the same for the
saved model.
"""

import errno
import json
import os
import re
import shutil
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np

from stages.runner.process import StageError, process_alive

# Errors of a write the user can fix: a full disk, a quota, a read-only or foreign folder.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
# (temporary, final) paths of the outputs written so far inside `written_together`.
pending: list[tuple[Path, Path]] | None = None


@contextmanager
def written_together():
    """Hold back the rename of every `atomic_output` of this block until it ends without an
    error, then rename them all: all of the block's outputs, or none of them."""
    global pending
    pending = []
    try:
        yield
        for tmp, path in pending:
            os.replace(tmp, path)
    finally:
        for tmp, _ in pending:
            discard(tmp)
        pending = None


@contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; rename it to `path` on success (inside
    `written_together`, when the whole block succeeds).

    The temporary name keeps the suffix (Keras insists on `.keras`), and is
    removed if the block raises or the process is interrupted; one that a killed
    process left is removed by the next write of the same output. A full disk or
    an unwritable folder is a StageError that names the file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(path)
        yield tmp
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((tmp, path))
    except OSError as error:
        if error.errno in WRITE_ERRORS or disk_full(path.parent):
            reason = error.strerror or "no space left on device"
            raise StageError(f"cannot write {path}: {reason}; no output was replaced")
        raise
    finally:
        if pending is None or (tmp, path) not in pending:
            discard(tmp)


def discard(tmp: Path) -> None:
    """Remove a temporary file if it is there (a read-only folder has none to remove)."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def disk_full(folder: Path) -> bool:
    """Less than a megabyte free: some libraries (h5py) report a full disk without errno."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def remove_abandoned(path: Path) -> None:
    """Remove the temporary files of `path` that a killed process left behind."""
    if sys.platform == "win32":  # os.kill(pid, 0) is no liveness check there
        return
    pattern = re.compile(re.escape(f".{path.stem}.tmp") + r"(\d+)" + re.escape(path.suffix))
    for leftover in path.parent.glob(f".{path.stem}.tmp*{path.suffix}"):
        match = pattern.fullmatch(leftover.name)
        if match and int(match[1]) != os.getpid() and not process_alive(int(match[1])):
            leftover.unlink(missing_ok=True)


class FixedZip:
    """A zip file whose bytes depend on its content only: every entry dated 1980-01-01,
    in the order written (zipfile would stamp the current time)."""

    def __init__(self, path: str | Path):
        self.archive = zipfile.ZipFile(path, "w")

    @staticmethod
    def entry(name: str, compress_type: int = zipfile.ZIP_STORED,
              mode: int | None = None) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = compress_type
        if mode is not None:
            info.external_attr = mode << 16
        return info

    def write(self, name: str, data: bytes, compress_type: int = zipfile.ZIP_STORED,
              mode: int | None = None) -> None:
        self.archive.writestr(self.entry(name, compress_type, mode), data)

    def open(self, name: str):
        """An entry to write in pieces, of any size."""
        return self.archive.open(self.entry(name), "w", force_zip64=True)

    def __enter__(self) -> "FixedZip":
        return self

    def __exit__(self, *exc) -> None:
        self.archive.close()


class Streamed(NamedTuple):
    """A byte array too large to hold at once: its length, and its bytes in chunks."""
    length: int
    chunks: Iterable[bytes]


def save_arrays(path: str | Path, **arrays: np.ndarray | Streamed) -> None:
    """Like np.savez, but byte-reproducible: fixed zip timestamps, no pickles.

    np.savez stamps each member with the current time, which would give the
    same arrays a new DVC hash on every run. A `Streamed` member is written
    chunk by chunk, as the uint8 array it would be.
    """
    with atomic_output(path) as tmp, FixedZip(tmp) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy") as file:
                if isinstance(array, Streamed):
                    np.lib.format.write_array_header_1_0(
                        file, {"descr": "|u1", "fortran_order": False, "shape": (array.length,)})
                    written = sum(file.write(chunk) for chunk in array.chunks)
                    assert written == array.length, (name, written, array.length)
                else:
                    np.lib.format.write_array(file, np.asarray(array), allow_pickle=False)


def load_arrays(path: str | Path, *names: str, optional=()) -> dict[str, np.ndarray]:
    """Load the named arrays of an npz (and those of `optional` it has), with a clear
    error if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in names if name not in npz.files]
            if missing:
                raise StageError(f"{path} lacks the arrays {missing}: it was written by "
                                 "another version of the pipeline; run `dvc repro --force`")
            return {name: npz[name] for name in (*names, *optional) if name in npz.files}
    except FileNotFoundError:
        raise StageError(f"{path} not found: run `dvc repro` to build it")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise StageError(f"{path} is corrupt or truncated ({error}); delete it and "
                         "run `dvc repro` again")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, data: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: str | Path, header: list[str], rows) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as file:
            file.write(",".join(header) + "\n")
            file.writelines(",".join(map(str, row)) + "\n" for row in rows)
